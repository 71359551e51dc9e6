//! Configuration from an optional TOML file, overridden by environment variables. Every bad
//! value is an error naming the key and the variable it came from.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use thiserror::Error;

/// Why configuration could not be loaded.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// The TOML file cannot be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// File path.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The TOML file is malformed or has an unknown key.
    #[error("config file {path}: {message}")]
    File {
        /// File path.
        path: PathBuf,
        /// What the TOML parser said, including the key.
        message: String,
    },
    /// A value is not valid for its key.
    #[error("invalid value for `{key}` (from {origin}): {message}")]
    Value {
        /// Key name as in the TOML file.
        key: &'static str,
        /// Where the value came from: the file or an environment variable.
        origin: String,
        /// What is wrong.
        message: String,
    },
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// Teduh's settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address the HTTP server listens on.
    pub bind: SocketAddr,
    /// Directory for the embedded database and other local state.
    pub data_dir: PathBuf,
    /// Database URL; `None` means SQLite at `data_dir/teduh.db`.
    pub database_url: Option<String>,
    /// Directory of flow files.
    pub flows_dir: PathBuf,
    /// Directory of Fluent translations, one sub-directory per language.
    pub locales_dir: PathBuf,
    /// Language of new conversations.
    pub default_lang: String,
    /// Flow new conversations start in.
    pub entry_flow: String,
    /// Log format.
    pub log_format: LogFormat,
    /// Messages per minute one sender may send before the flood limit answers (0: off).
    pub flood_per_minute: u32,
    /// Days conversation messages are kept.
    pub retention_days: u32,
    /// Days a closed case keeps its free text.
    pub case_text_days: u32,
    /// Encryption key file; `None` means `data_dir/teduh.key` (created in embedded mode).
    pub key_file: Option<PathBuf>,
    /// Redis for coordinating several instances (`redis://...`); unset: in-process.
    pub redis_url: Option<String>,
    /// Prefix of every Redis key and channel, so deployments can share a Redis.
    pub redis_prefix: String,
    /// Telegram, when `TELEGRAM_BOT_TOKEN` is set.
    pub telegram: Option<std::sync::Arc<crate::channel::telegram::TelegramConfig>>,
    /// SMS (Twilio or a generic gateway), when configured.
    pub sms: Option<std::sync::Arc<crate::channel::sms::SmsConfig>>,
    /// WhatsApp Cloud API, when `WHATSAPP_ACCESS_TOKEN` is set.
    pub whatsapp: Option<std::sync::Arc<crate::channel::whatsapp::WhatsAppConfig>>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("var"),
            database_url: None,
            flows_dir: PathBuf::from("flows"),
            locales_dir: PathBuf::from("locales"),
            default_lang: crate::i18n::DEFAULT_LANG.to_string(),
            entry_flow: "helpline".to_string(),
            log_format: LogFormat::Text,
            flood_per_minute: crate::limits::DEFAULT_FLOOD_PER_MINUTE,
            retention_days: 90,
            case_text_days: 365,
            key_file: None,
            redis_url: None,
            redis_prefix: "teduh".to_string(),
            telegram: None,
            sms: None,
            whatsapp: None,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    bind: Option<String>,
    data_dir: Option<String>,
    database_url: Option<String>,
    flows_dir: Option<String>,
    locales_dir: Option<String>,
    default_lang: Option<String>,
    entry_flow: Option<String>,
    log_format: Option<String>,
    flood_per_minute: Option<u32>,
    retention_days: Option<u32>,
    case_text_days: Option<u32>,
    key_file: Option<String>,
    redis_url: Option<String>,
    redis_prefix: Option<String>,
}

/// Keys with their environment variables, in the order they are documented.
pub const KEYS: &[(&str, &str)] = &[
    ("bind", "TEDUH_BIND"),
    ("data_dir", "TEDUH_DATA_DIR"),
    ("database_url", "DATABASE_URL"),
    ("flows_dir", "TEDUH_FLOWS_DIR"),
    ("locales_dir", "TEDUH_LOCALES_DIR"),
    ("default_lang", "TEDUH_DEFAULT_LANG"),
    ("entry_flow", "TEDUH_ENTRY_FLOW"),
    ("log_format", "LOG_FORMAT"),
    ("flood_per_minute", "TEDUH_FLOOD_PER_MINUTE"),
    ("retention_days", "TEDUH_RETENTION_DAYS"),
    ("case_text_days", "TEDUH_CASE_TEXT_DAYS"),
    ("key_file", "TEDUH_KEY_FILE"),
    ("redis_url", "REDIS_URL"),
    ("redis_prefix", "TEDUH_REDIS_PREFIX"),
];

fn env_name(key: &str) -> &'static str {
    KEYS.iter().find(|(k, _)| *k == key).map_or("", |(_, e)| e)
}

impl Config {
    /// Loads the optional file, then applies environment variables read through `env`.
    pub fn load(file: Option<&Path>, env: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let (from_file, file_label) = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
                let parsed: FileConfig = toml::from_str(&text).map_err(|e| ConfigError::File {
                    path: path.to_path_buf(),
                    message: e.message().to_string(),
                })?;
                (parsed, path.display().to_string())
            }
            None => (FileConfig::default(), String::new()),
        };
        let pick = |key: &'static str, file_value: Option<String>| -> Option<(String, String)> {
            let var = env_name(key);
            match env(var).filter(|v| !v.is_empty()) {
                Some(v) => Some((v, format!("environment variable {var}"))),
                None => file_value.map(|v| (v, format!("config file {file_label}"))),
            }
        };
        let invalid =
            |key: &'static str, origin: String, message: String| ConfigError::Value { key, origin, message };
        let mut config = Config::default();
        if let Some((v, origin)) = pick("bind", from_file.bind) {
            config.bind = v.parse().map_err(|e| {
                invalid("bind", origin, format!("`{v}` is not an address like 127.0.0.1:8080 ({e})"))
            })?;
        }
        if let Some((v, _)) = pick("data_dir", from_file.data_dir) {
            config.data_dir = PathBuf::from(v);
        }
        if let Some((v, origin)) = pick("database_url", from_file.database_url) {
            if !(v.starts_with("postgres://") || v.starts_with("postgresql://") || v.starts_with("sqlite:")) {
                return Err(invalid(
                    "database_url",
                    origin,
                    "must start with postgres://, postgresql:// or sqlite:".to_string(),
                ));
            }
            config.database_url = Some(v);
        }
        if let Some((v, _)) = pick("flows_dir", from_file.flows_dir) {
            config.flows_dir = PathBuf::from(v);
        }
        if let Some((v, _)) = pick("locales_dir", from_file.locales_dir) {
            config.locales_dir = PathBuf::from(v);
        }
        if let Some((v, origin)) = pick("default_lang", from_file.default_lang) {
            if v.is_empty() || !v.chars().all(|c| c.is_ascii_alphabetic() || c == '-') {
                return Err(invalid(
                    "default_lang",
                    origin,
                    format!("`{v}` is not a language code such as id or en"),
                ));
            }
            config.default_lang = v;
        }
        if let Some((v, _)) = pick("entry_flow", from_file.entry_flow) {
            config.entry_flow = v;
        }
        if let Some((v, origin)) = pick("log_format", from_file.log_format) {
            config.log_format = match v.as_str() {
                "text" => LogFormat::Text,
                "json" => LogFormat::Json,
                _ => {
                    return Err(invalid("log_format", origin, format!("`{v}` must be `text` or `json`")));
                }
            };
        }
        if let Some((v, origin)) = pick("flood_per_minute", from_file.flood_per_minute.map(|n| n.to_string()))
        {
            config.flood_per_minute = v.parse().map_err(|_| {
                invalid(
                    "flood_per_minute",
                    origin,
                    format!("`{v}` is not a whole number of messages (0 turns it off)"),
                )
            })?;
        }
        if let Some((v, _)) = pick("key_file", from_file.key_file) {
            config.key_file = Some(PathBuf::from(v));
        }
        if let Some((v, origin)) = pick("redis_url", from_file.redis_url) {
            if !(v.starts_with("redis://") || v.starts_with("rediss://") || v.starts_with("unix://")) {
                return Err(invalid(
                    "redis_url",
                    origin,
                    format!("`{v}` is not a redis:// or rediss:// URL"),
                ));
            }
            config.redis_url = Some(v);
        }
        if let Some((v, origin)) = pick("redis_prefix", from_file.redis_prefix) {
            if v.is_empty() || !v.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')) {
                return Err(invalid(
                    "redis_prefix",
                    origin,
                    format!("`{v}` must be letters, digits, `-`, `_` or `.`"),
                ));
            }
            config.redis_prefix = v;
        }
        for (key, file_value, target) in [
            ("retention_days", from_file.retention_days, &mut config.retention_days),
            ("case_text_days", from_file.case_text_days, &mut config.case_text_days),
        ] {
            if let Some((v, origin)) = pick(key, file_value.map(|n| n.to_string())) {
                *target = v.parse().ok().filter(|d: &u32| *d >= 1).ok_or_else(|| {
                    invalid(key, origin, format!("`{v}` is not a number of days (at least 1)"))
                })?;
            }
        }
        // Channels are configured by environment variables only: they hold secrets.
        config.telegram =
            crate::channel::telegram::TelegramConfig::from_lookup(&env)?.map(std::sync::Arc::new);
        config.sms = crate::channel::sms::SmsConfig::from_lookup(&env)?.map(std::sync::Arc::new);
        config.whatsapp =
            crate::channel::whatsapp::WhatsAppConfig::from_lookup(&env)?.map(std::sync::Arc::new);
        Ok(config)
    }

    /// The key file: the configured one, else `teduh.key` in the data directory.
    pub fn effective_key_file(&self) -> PathBuf {
        self.key_file.clone().unwrap_or_else(|| self.data_dir.join("teduh.key"))
    }

    /// Names of the channels that are configured.
    pub fn channels(&self) -> Vec<&'static str> {
        let mut names = Vec::new();
        if self.telegram.is_some() {
            names.push("telegram");
        }
        if self.whatsapp.is_some() {
            names.push("whatsapp");
        }
        if self.sms.is_some() {
            names.push("sms");
        }
        names
    }

    /// Loads from the process environment.
    pub fn from_env(file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load(file, |k| std::env::var(k).ok())
    }

    /// The database URL in use: the configured one, or the embedded SQLite file.
    pub fn effective_database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!("sqlite://{}", self.data_dir.join("teduh.db").display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> =
            pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn defaults_need_no_configuration() {
        let c = Config::load(None, env(&[])).unwrap();
        assert_eq!(c.bind.to_string(), "127.0.0.1:8080");
        assert_eq!(c.effective_database_url(), "sqlite://var/teduh.db");
        assert_eq!(c.default_lang, "id");
    }

    #[test]
    fn environment_overrides_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("teduh.toml");
        std::fs::write(&path, "bind = \"0.0.0.0:9000\"\nentry_flow = \"a\"\nflood_per_minute = 12\n")
            .unwrap();
        let c = Config::load(Some(&path), env(&[("TEDUH_ENTRY_FLOW", "b")])).unwrap();
        assert_eq!(c.bind.port(), 9000);
        assert_eq!(c.entry_flow, "b");
        assert_eq!(c.flood_per_minute, 12);
        let c = Config::load(Some(&path), env(&[("TEDUH_FLOOD_PER_MINUTE", "0")])).unwrap();
        assert_eq!(c.flood_per_minute, 0);
    }

    #[test]
    fn bad_values_name_the_key_and_origin() {
        let err = Config::load(None, env(&[("TEDUH_BIND", "nowhere")])).unwrap_err().to_string();
        assert!(err.contains("`bind`") && err.contains("TEDUH_BIND"), "{err}");
        let err = Config::load(None, env(&[("DATABASE_URL", "mysql://x")])).unwrap_err().to_string();
        assert!(err.contains("`database_url`") && err.contains("DATABASE_URL"), "{err}");
        let err = Config::load(None, env(&[("LOG_FORMAT", "xml")])).unwrap_err().to_string();
        assert!(err.contains("`log_format`"), "{err}");
        let err = Config::load(None, env(&[("TEDUH_RETENTION_DAYS", "0")])).unwrap_err().to_string();
        assert!(err.contains("`retention_days`"), "{err}");
        let err = Config::load(None, env(&[("TEDUH_FLOOD_PER_MINUTE", "many")])).unwrap_err().to_string();
        assert!(err.contains("`flood_per_minute`") && err.contains("TEDUH_FLOOD_PER_MINUTE"), "{err}");
    }

    #[test]
    fn unknown_file_keys_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("teduh.toml");
        std::fs::write(&path, "bindd = \"x\"\n").unwrap();
        let err = Config::load(Some(&path), env(&[])).unwrap_err().to_string();
        assert!(err.contains("bindd"), "{err}");
        std::fs::write(&path, "bind = \"x\"\n").unwrap();
        let err = Config::load(Some(&path), env(&[])).unwrap_err().to_string();
        assert!(err.contains("`bind`") && err.contains("config file"), "{err}");
    }
}
