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

/// Every channel a counselor can be reached on, in order of preference: Telegram, WhatsApp, SMS.
pub fn addresses(counselor: &Counselor) -> Vec<(&'static str, String)> {
    let c = &counselor.channels;
    let mut out = Vec::with_capacity(3);
    if let Some(chat) = &c.telegram {
        out.push(("telegram", chat.clone()));
    }
    if let Some(n) = &c.whatsapp {
        out.push(("whatsapp", phone_digits(n)));
    }
    if let Some(n) = &c.sms {
        out.push(("sms", format!("+{}", phone_digits(n))));
    }
    out
}

/// Where a counselor is notified: the first of her channels that this deployment runs
/// (`enabled`), so a notice never waits in the outbox of a channel nobody sends on.
pub fn address(counselor: &Counselor, enabled: &[String]) -> Option<(&'static str, String)> {
    addresses(counselor).into_iter().find(|(channel, _)| enabled.iter().any(|e| e == channel))
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
                addresses(c).iter().any(|(ch, addr)| *ch == channel && addr.trim_start_matches('+') == wanted)
            })
            .map(|c| (c, p))
    })
}

/// A counselor by id, with her provider.
pub fn counselor_by_id<'d>(directory: &'d Directory, id: &str) -> Option<(&'d Counselor, &'d Provider)> {
    directory.providers.iter().find_map(|p| p.counselors.iter().find(|c| c.id == id).map(|c| (c, p)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::provider::CounselorChannels;

    fn counselor() -> Counselor {
        Counselor {
            id: "k1".into(),
            name: "K".into(),
            channels: CounselorChannels {
                telegram: Some("100000021".into()),
                whatsapp: None,
                sms: Some("+62 812-0000-0201".into()),
            },
        }
    }

    #[test]
    fn a_counselor_is_reached_on_the_first_of_her_channels_the_deployment_runs() {
        let all = ["telegram", "whatsapp", "sms"].map(String::from);
        assert_eq!(address(&counselor(), &all), Some(("telegram", "100000021".into())));
        // An SMS-only deployment must not queue her notice for Telegram, where nobody sends.
        assert_eq!(address(&counselor(), &["sms".into()]), Some(("sms", "+6281200000201".into())));
        assert_eq!(address(&counselor(), &["whatsapp".into()]), None);
    }

    #[test]
    fn she_is_recognised_on_any_of_her_channels() {
        let regions = crate::directory::Regions::embedded().unwrap();
        let mut directory = Directory::with_regions(regions);
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("providers/example.yaml");
        let mut providers = crate::directory::provider::read_directory(&path, &directory.regions).unwrap();
        providers.truncate(1);
        providers[0].counselors = vec![counselor()];
        directory.providers = providers;
        assert_eq!(counselor_at(&directory, "sms", "+6281200000201").map(|(c, _)| c.id.as_str()), Some("k1"));
        assert_eq!(counselor_at(&directory, "telegram", "100000021").map(|(c, _)| c.id.as_str()), Some("k1"));
        assert!(counselor_at(&directory, "sms", "+6281299999999").is_none());
    }
}
