//! Any bytes as Twilio's "a message comes in" form: decoded or refused, never a panic; what is
//! accepted comes from a plausible sender, as one message or an attachment and its caption.
#![no_main]

use libfuzzer_sys::fuzz_target;
use teduh::channel::sms::parse_twilio_inbound;

fuzz_target!(|body: &[u8]| {
    let Ok(messages) = parse_twilio_inbound(body) else { return };
    assert!(matches!(messages.len(), 1 | 2));
    for message in &messages {
        assert!(!message.contact.is_empty() && message.contact.chars().count() <= 64);
        assert!(!message.contact.chars().any(char::is_control));
        assert!(message.provider_id.as_deref().is_some_and(|id| !id.is_empty()));
    }
});
