//! Case records for providers: the SIMFONI PPA-ready export and the response-time report.
//!
//! Timeline events are written by the flows (`opened`, `escalation_requested`,
//! `handoff_requested`, `contact_withdrawn`) and by escalation (`notified`, `passed`, `accepted`,
//! `note`, `transferred`, `field_set`, `closed`). Escalation details are `key=value` pairs separated by `;`,
//! e.g. `level=2;provider=uptd-ppa-palu;role=backup;counselor=uptd-ppa-palu-k2`.

pub mod export;
pub mod fields;
pub mod monthly;
pub mod report;
pub mod time;

/// The value of `key` in an event detail such as `level=2;provider=x`.
pub fn detail<'a>(detail: Option<&'a str>, key: &str) -> Option<&'a str> {
    detail?
        .split(';')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| k.trim() == key)
        .map(|(_, v)| v.trim())
}

#[cfg(test)]
mod tests {
    #[test]
    fn details_are_key_value_pairs() {
        let d = Some("level=2;provider=uptd-ppa-palu; role=backup");
        assert_eq!(super::detail(d, "level"), Some("2"));
        assert_eq!(super::detail(d, "role"), Some("backup"));
        assert_eq!(super::detail(d, "missing"), None);
        assert_eq!(super::detail(None, "level"), None);
    }
}
