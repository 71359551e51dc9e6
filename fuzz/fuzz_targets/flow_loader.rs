//! Any text as a flow file: loaded and checked against the shipped translations, with problems
//! reported at a line of the file, never a panic.
#![no_main]

use std::path::Path;
use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use teduh::flow::check::compile;
use teduh::flow::engine::BUILTIN_MESSAGES;
use teduh::flow::load::{Source, parse};
use teduh::i18n::I18n;

static I18N: LazyLock<I18n> = LazyLock::new(|| {
    let locales = Path::new(env!("CARGO_MANIFEST_DIR")).join("../locales");
    I18n::load(&locales, "id").unwrap_or_else(|e| panic!("shipped locales do not load: {e:?}"))
});

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let path = Path::new("fuzz.yaml");
    // YAML breaks lines at `\n`, `\r\n` and a lone `\r`, and so do the reported line numbers.
    let lines = (text.matches('\n').count() + text.replace("\r\n", "\n").matches('\r').count() + 1) as u64;
    match parse(path, text) {
        Err(problem) => assert!(problem.line <= lines + 1, "problem past the end of the file"),
        Ok(doc) => {
            let (_set, problems) = compile(&[Source { path: path.to_path_buf(), doc }], &I18N, BUILTIN_MESSAGES);
            for problem in problems {
                assert!(problem.line <= lines + 1, "problem past the end of the file");
            }
        }
    }
});
