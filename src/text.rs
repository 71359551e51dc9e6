//! Text normalisation shared by keyword, choice and yes/no matching.

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// Folds text for tolerant matching: lower case, accents removed, punctuation dropped,
/// whitespace collapsed.
///
/// ```
/// assert_eq!(teduh::text::fold("  DARURAT!! "), "darurat");
/// assert_eq!(teduh::text::fold("Kafé  Teduh"), "kafe teduh");
/// ```
pub fn fold(input: &str) -> String {
    let mut out = String::with_capacity(input.len());
    let mut pending_space = false;
    for c in input.nfkd().filter(|c| !is_combining_mark(*c)) {
        if c.is_alphanumeric() {
            if pending_space && !out.is_empty() {
                out.push(' ');
            }
            pending_space = false;
            out.extend(c.to_lowercase());
        } else if c.is_whitespace() || matches!(c, '-' | '_' | '/' | '.' | ',') {
            pending_space = true;
        }
    }
    out
}

/// Counts user-visible characters, which is what length bounds in flows mean.
pub fn char_len(input: &str) -> usize {
    input.chars().count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fold_ignores_case_accents_and_punctuation() {
        assert_eq!(fold("  DARURAT!! "), "darurat");
        assert_eq!(fold("Informasí"), "informasi");
        assert_eq!(fold("Layanan   terdekat."), "layanan terdekat");
        assert_eq!(fold("Ça-va"), "ca va");
        assert_eq!(fold("?!"), "");
    }

    #[test]
    fn char_len_counts_characters_not_bytes() {
        assert_eq!(char_len("é"), 1);
        assert_eq!(char_len("abc"), 3);
    }
}
