//! Limits that keep one request, one message or one sender from overwhelming the service (what
//! they did is counted in [`crate::metrics`]).

/// Largest webhook body accepted; providers' real payloads are a few kilobytes.
pub const MAX_WEBHOOK_BODY: usize = 256 * 1024;

/// Longest inbound text kept, in characters: Telegram's and WhatsApp's own limit.
pub const MAX_TEXT_CHARS: usize = 4096;

/// The window of the per-sender flood limit.
pub const FLOOD_WINDOW_MS: i64 = 60_000;

/// Messages one sender may send per window before the flood limit answers.
pub const DEFAULT_FLOOD_PER_MINUTE: u32 = 30;

/// Cuts `text` to [`MAX_TEXT_CHARS`] characters; returns whether it was longer.
pub fn clamp_text(text: &mut String) -> bool {
    match text.char_indices().nth(MAX_TEXT_CHARS) {
        Some((cut, _)) => {
            text.truncate(cut);
            true
        }
        None => false,
    }
}

/// What the flood limit does with a sender's message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flood {
    /// Within the limit: step it.
    Pass,
    /// The first message over the limit: one polite notice, no step.
    Notice,
    /// Further messages over the limit: kept, not stepped, not answered.
    Silence,
}

/// The verdict for a message that is the `count`-th from its sender in the window; a `limit`
/// of 0 turns the limit off.
pub fn flood(count: i64, limit: u32) -> Flood {
    let limit = i64::from(limit);
    if limit == 0 || count <= limit {
        Flood::Pass
    } else if count == limit + 1 {
        Flood::Notice
    } else {
        Flood::Silence
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_are_cut_on_a_character_boundary() {
        let mut short = "halo".to_string();
        assert!(!clamp_text(&mut short));
        let mut long = "é".repeat(MAX_TEXT_CHARS + 10);
        assert!(clamp_text(&mut long));
        assert_eq!(long.chars().count(), MAX_TEXT_CHARS);
    }

    #[test]
    fn one_notice_then_silence_and_zero_turns_it_off() {
        assert_eq!(flood(30, 30), Flood::Pass);
        assert_eq!(flood(31, 30), Flood::Notice);
        assert_eq!(flood(32, 30), Flood::Silence);
        assert_eq!(flood(1_000, 0), Flood::Pass);
    }
}
