//! Any bytes as a WhatsApp Cloud API webhook body: parsed or refused, never a panic; every
//! message kept has a sender and an id, every location is on Earth, every status is known.
#![no_main]

use libfuzzer_sys::fuzz_target;
use teduh::channel::InboundEvent;
use teduh::channel::whatsapp::parse_notification;

fuzz_target!(|body: &[u8]| {
    let Ok(batch) = parse_notification(body, "106540352242922") else { return };
    for message in &batch.messages {
        assert!(!message.contact.trim().is_empty());
        assert!(message.provider_id.as_deref().is_some_and(|id| !id.is_empty()));
        if let InboundEvent::Location { lat, lon } = message.event {
            assert!((-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon));
        }
    }
    for status in &batch.statuses {
        assert!(matches!(status.status.as_str(), "sent" | "delivered" | "read" | "failed"));
    }
});
