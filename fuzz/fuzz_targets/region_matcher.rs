//! Any text as a typed place name: the region matcher answers, never panics.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use teduh::directory::Regions;

static REGIONS: LazyLock<Regions> =
    LazyLock::new(|| Regions::embedded().unwrap_or_else(|e| panic!("embedded regions do not load: {e}")));

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = REGIONS.find(&text);
});
