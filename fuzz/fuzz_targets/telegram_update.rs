//! Any bytes as a Telegram webhook body: parsed or refused, never a panic; what is accepted is
//! a private-chat message with a sender.
#![no_main]

use libfuzzer_sys::fuzz_target;
use teduh::channel::telegram::{CHANNEL, parse_update};

fuzz_target!(|body: &[u8]| {
    if let Ok(handled) = parse_update(body)
        && let Some(inbound) = handled.inbound
    {
        assert_eq!(inbound.channel, CHANNEL);
        assert!(!inbound.contact.is_empty());
        assert!(inbound.provider_id.is_some_and(|id| !id.is_empty()));
    }
});
