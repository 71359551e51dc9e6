//! Any text split into SMS messages: every word kept in order, and every part within its
//! segments (a single character that cannot be smaller excepted).
#![no_main]

use libfuzzer_sys::fuzz_target;
use teduh::channel::sms::{segments, split};

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else { return };
    let max = usize::from(first % 4) + 1;
    let text = String::from_utf8_lossy(rest);
    let parts = split(&text, max);
    let squeeze = |s: &str| s.split_whitespace().collect::<String>();
    assert_eq!(squeeze(&parts.concat()), squeeze(&text));
    for part in &parts {
        assert!(segments(part) <= max || part.chars().count() <= 1);
    }
});
