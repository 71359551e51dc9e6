//! Fluent localisation: one bundle per language directory under `locales/`, falling back to the
//! default language (Indonesian) for a message a translation lacks.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource, FluentValue};
use thiserror::Error;
use unic_langid::LanguageIdentifier;

use crate::flow::state::Value;

/// The language every conversation starts in unless configured otherwise.
pub const DEFAULT_LANG: &str = "id";

/// A problem in the locale files, with its position.
#[derive(Debug, Error, Clone, PartialEq)]
#[error("{}:{line}: {message}", file.display())]
pub struct LocaleError {
    /// File the problem is in.
    pub file: PathBuf,
    /// 1-based line.
    pub line: u64,
    /// What is wrong.
    pub message: String,
}

/// Loaded translations for every language.
pub struct I18n {
    dir: PathBuf,
    default: String,
    bundles: BTreeMap<String, FluentBundle<FluentResource>>,
    /// Message ids per language, in file order (bundles cannot list their messages).
    ids: BTreeMap<String, Vec<String>>,
}

impl std::fmt::Debug for I18n {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("I18n")
            .field("default", &self.default)
            .field("languages", &self.bundles.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// The line where a broken entry begins: the parser notices some errors (an unclosed `{`) only
/// on a later line, but the error's slice starts at the end of the last good entry.
fn error_line(source: &str, pos: usize, slice: Option<std::ops::Range<usize>>) -> u64 {
    let start = slice.map_or(pos, |r| {
        let skipped = source.get(r.start..).map_or(0, |rest| rest.len() - rest.trim_start().len());
        (r.start + skipped).min(pos)
    });
    line_of(source, start)
}

fn line_of(source: &str, byte: usize) -> u64 {
    let end = byte.min(source.len());
    source.as_bytes()[..end].iter().filter(|&&b| b == b'\n').count() as u64 + 1
}

impl I18n {
    /// Loads `DIR/<lang>/*.ftl` for every language directory; reports every syntax error found.
    pub fn load(dir: &Path, default: &str) -> Result<Self, Vec<LocaleError>> {
        match Self::load_lenient(dir, default) {
            (Some(i18n), errors) if errors.is_empty() => Ok(i18n),
            (_, errors) => Err(errors),
        }
    }

    /// Loads what can be loaded and returns it with every problem found, so `flows check` can
    /// go on to check the flows against the translations that did parse.
    pub fn load_lenient(dir: &Path, default: &str) -> (Option<Self>, Vec<LocaleError>) {
        let mut errors = Vec::new();
        let mut bundles = BTreeMap::new();
        let mut ids: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let entries = match fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) => {
                let error = LocaleError {
                    file: dir.to_path_buf(),
                    line: 0,
                    message: format!("cannot read locales directory: {e}"),
                };
                return (None, vec![error]);
            }
        };
        let mut lang_dirs: Vec<PathBuf> =
            entries.filter_map(Result::ok).map(|e| e.path()).filter(|p| p.is_dir()).collect();
        lang_dirs.sort();
        for lang_dir in lang_dirs {
            let Some(code) = lang_dir.file_name().and_then(|n| n.to_str()).map(str::to_string) else {
                continue;
            };
            let langid: LanguageIdentifier = match code.parse() {
                Ok(l) => l,
                Err(_) => {
                    errors.push(LocaleError {
                        file: lang_dir.clone(),
                        line: 0,
                        message: format!("`{code}` is not a language code"),
                    });
                    continue;
                }
            };
            let mut bundle = FluentBundle::new_concurrent(vec![langid]);
            // Isolation marks would show up as stray characters on SMS and in terminals.
            bundle.set_use_isolating(false);
            let mut files: Vec<PathBuf> = fs::read_dir(&lang_dir)
                .map(|rd| rd.filter_map(Result::ok).map(|e| e.path()).collect())
                .unwrap_or_default();
            files.retain(|p| p.extension().is_some_and(|e| e == "ftl"));
            files.sort();
            for file in files {
                let source = match fs::read_to_string(&file) {
                    Ok(s) => s,
                    Err(e) => {
                        errors.push(LocaleError {
                            file: file.clone(),
                            line: 0,
                            message: format!("cannot read: {e}"),
                        });
                        continue;
                    }
                };
                let resource = match FluentResource::try_new(source.clone()) {
                    Ok(r) => r,
                    Err((r, parse_errors)) => {
                        for pe in parse_errors {
                            errors.push(LocaleError {
                                file: file.clone(),
                                line: error_line(&source, pe.pos.start, pe.slice.clone()),
                                message: format!("Fluent syntax error: {pe}"),
                            });
                        }
                        r
                    }
                };
                let names = resource.entries().filter_map(|e| match e {
                    fluent_syntax::ast::Entry::Message(m) => Some(m.id.name.to_string()),
                    _ => None,
                });
                ids.entry(code.clone()).or_default().extend(names);
                if let Err(dups) = bundle.add_resource(resource) {
                    for d in dups {
                        errors.push(LocaleError {
                            file: file.clone(),
                            line: 0,
                            message: format!("duplicate message: {d}"),
                        });
                    }
                }
            }
            bundles.insert(code, bundle);
        }
        if !bundles.contains_key(default) {
            errors.push(LocaleError {
                file: dir.join(default),
                line: 0,
                message: format!("the default language `{default}` has no directory"),
            });
            return (None, errors);
        }
        let i18n = Self { dir: dir.to_path_buf(), default: default.to_string(), bundles, ids };
        (Some(i18n), errors)
    }

    /// Directory the translations were loaded from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The default language code.
    pub fn default_lang(&self) -> &str {
        &self.default
    }

    /// Language codes with translations, sorted.
    pub fn languages(&self) -> impl Iterator<Item = &str> {
        self.bundles.keys().map(String::as_str)
    }

    /// Whether a language has translations.
    pub fn has_lang(&self, lang: &str) -> bool {
        self.bundles.contains_key(lang)
    }

    /// Whether `lang` itself (not its fallback) defines message `id`.
    /// Every message whose id starts with `prefix`, rendered in `lang` (the default language's
    /// where `lang` lacks one), keyed by the id without the prefix; variables stay as
    /// `{$name}` for the caller to fill in.
    pub fn catalog(&self, lang: &str, prefix: &str) -> BTreeMap<String, String> {
        let ids = self.ids.get(&self.default).into_iter().flatten();
        ids.filter_map(|id| {
            let key = id.strip_prefix(prefix)?;
            Some((key.to_string(), self.render_args(lang, id, &FluentArgs::new())))
        })
        .collect()
    }

    pub fn has_message(&self, lang: &str, id: &str) -> bool {
        self.bundles.get(lang).is_some_and(|b| b.has_message(id))
    }

    /// Renders message `id` in `lang`, falling back to the default language; variables become
    /// Fluent arguments. A message missing everywhere renders as its id so nothing is silently
    /// dropped (and `flows check` reports it before deployment).
    pub fn render(&self, lang: &str, id: &str, vars: &BTreeMap<String, Value>) -> String {
        let mut args = FluentArgs::new();
        for (name, value) in vars {
            let v: FluentValue = match value {
                Value::Number(n) => FluentValue::from(*n),
                other => FluentValue::from(other.to_string()),
            };
            args.set(name.as_str(), v);
        }
        self.render_args(lang, id, &args)
    }

    /// Renders message `id` with explicit Fluent arguments.
    pub fn render_args(&self, lang: &str, id: &str, args: &FluentArgs) -> String {
        for code in [lang, self.default.as_str()] {
            let Some(bundle) = self.bundles.get(code) else {
                continue;
            };
            let Some(pattern) = bundle.get_message(id).and_then(|m| m.value()) else {
                continue;
            };
            let mut errors = Vec::new();
            let text = bundle.format_pattern(pattern, Some(args), &mut errors);
            return text.into_owned();
        }
        id.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, rel: &str, text: &str) {
        let path = dir.join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }

    #[test]
    fn renders_with_arguments_and_falls_back_to_default_language() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "id/a.ftl", "hello = Halo, { $name }!\nonly-id = Hanya di sini\n");
        write(dir.path(), "en/a.ftl", "hello = Hello, { $name }!\n");
        let i18n = I18n::load(dir.path(), "id").unwrap();
        let mut vars = BTreeMap::new();
        vars.insert("name".to_string(), Value::Text("Sari".into()));
        assert_eq!(i18n.render("id", "hello", &vars), "Halo, Sari!");
        assert_eq!(i18n.render("en", "hello", &vars), "Hello, Sari!");
        assert_eq!(i18n.render("en", "only-id", &vars), "Hanya di sini");
        assert_eq!(i18n.render("en", "nowhere", &vars), "nowhere");
        assert!(!i18n.has_message("en", "only-id"));
    }

    #[test]
    fn reports_syntax_errors_with_line() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "id/a.ftl", "ok = Baik\n\nbroken = { $x\n");
        let errors = I18n::load(dir.path(), "id").unwrap_err();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].line, 3);
    }

    #[test]
    fn requires_the_default_language() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "en/a.ftl", "a = A\n");
        let errors = I18n::load(dir.path(), "id").unwrap_err();
        assert!(errors[0].message.contains("default language"));
    }
}
