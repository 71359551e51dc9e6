//! Any bytes as the generic SMS gateway's inbound JSON: parsed or refused, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use teduh::channel::sms::parse_gateway_inbound;

fuzz_target!(|body: &[u8]| {
    let Ok(message) = parse_gateway_inbound(body) else { return };
    assert!(!message.contact.is_empty() && message.contact.chars().count() <= 64);
    assert!(!message.contact.chars().any(char::is_control));
    assert!(message.provider_id.as_deref().is_some_and(|id| !id.is_empty()));
});
