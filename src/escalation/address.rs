//! Where counselors are reached, and who is writing: counselors' channel addresses.

use crate::directory::provider::Counselor;
use crate::directory::{Directory, Provider};

/// Digits of a phone number in international form: `+62 812-0000-0101` and `0812 0000 0101`
/// are both `6281200000101`.
pub fn phone_digits(number: &str) -> String {
    let digits: String = number.chars().filter(char::is_ascii_digit).collect();
    match digits.strip_prefix('0') {
        Some(rest) => format!("62{rest}"),
        None => digits,
    }
}

/// Where a counselor is notified: Telegram first, then WhatsApp, then SMS.
pub fn address(counselor: &Counselor) -> Option<(&'static str, String)> {
    let c = &counselor.channels;
    if let Some(chat) = &c.telegram {
        return Some(("telegram", chat.clone()));
    }
    if let Some(n) = &c.whatsapp {
        return Some(("whatsapp", phone_digits(n)));
    }
    c.sms.as_ref().map(|n| ("sms", format!("+{}", phone_digits(n))))
}

/// The counselor (and her provider) a channel address belongs to, if any.
pub fn counselor_at<'d>(
    directory: &'d Directory,
    channel: &str,
    contact: &str,
) -> Option<(&'d Counselor, &'d Provider)> {
    let wanted = if channel == "telegram" { contact.to_string() } else { phone_digits(contact) };
    directory.providers.iter().find_map(|p| {
        p.counselors
            .iter()
            .find(|c| {
                address(c).is_some_and(|(ch, addr)| ch == channel && addr.trim_start_matches('+') == wanted)
            })
            .map(|c| (c, p))
    })
}

/// A counselor by id, with her provider.
pub fn counselor_by_id<'d>(directory: &'d Directory, id: &str) -> Option<(&'d Counselor, &'d Provider)> {
    directory.providers.iter().find_map(|p| p.counselors.iter().find(|c| c.id == id).map(|c| (c, p)))
}
