//! Start-up wiring: configuration to a running runtime, shared by every command.

use std::path::Path;
use std::sync::Arc;

use thiserror::Error;

use crate::clock::SystemClock;
use crate::config::Config;
use crate::directory::{Directory, Regions};
use crate::flow::{Engine, FlowSet, Problems, check_all};
use crate::i18n::I18n;
use crate::runtime::Runtime;
use crate::store::{Store, StoreError};
use crate::vault::Keyring;

/// Why Teduh could not start.
#[derive(Debug, Error)]
pub enum StartError {
    /// Flow or locale files are broken, or the entry flow is missing.
    #[error("flow or locale files have problems (run `teduh flows check`):\n{0}")]
    Flows(Problems),
    /// The entry flow does not exist.
    #[error("entry flow `{flow}` is not among the loaded flows ({available})")]
    EntryFlow {
        /// Configured entry flow.
        flow: String,
        /// Flows that exist.
        available: String,
    },
    /// The database could not be opened.
    #[error("database: {0}")]
    Store(#[from] StoreError),
    /// The encryption keys are missing or unreadable.
    #[error("encryption keys: {0}")]
    Keys(String),
    /// Built-in reference data is broken.
    #[error("built-in data: {0}")]
    Data(String),
    /// The coordinator (Redis) cannot be set up.
    #[error("coordination: {0}")]
    Coordination(String),
}

/// Loads translations and flows, reporting every problem at once.
pub fn load_content(
    flows_dir: &Path,
    locales_dir: &Path,
    default_lang: &str,
) -> Result<(I18n, FlowSet), StartError> {
    check_all(flows_dir, locales_dir, default_lang, None).map_err(StartError::Flows)
}

/// Builds an engine for `entry` from loaded content.
pub fn engine(i18n: I18n, flows: FlowSet, directory: Directory, entry: &str) -> Result<Engine, StartError> {
    let available = flows.flow_ids().join(", ");
    Engine::new(Arc::new(flows), Arc::new(i18n), Arc::new(directory), entry)
        .map_err(|_| StartError::EntryFlow { flow: entry.to_string(), available })
}

/// The embedded regions with the providers stored in the database.
pub async fn directory(store: &Store) -> Result<Directory, StartError> {
    let regions = Regions::embedded().map_err(|e| StartError::Data(e.to_string()))?;
    let providers = store.providers().await?;
    if providers.is_empty() {
        tracing::warn!("the provider directory is empty: import one with `teduh providers import FILE`");
    }
    Ok(Directory { regions, providers })
}

/// The keyring: `TEDUH_KEYS`, else the key file; in embedded mode (SQLite) a missing key file
/// is created, owner-only, and the log says so. PostgreSQL never starts without a key.
pub fn keyring(config: &Config) -> Result<Keyring, StartError> {
    if let Some(text) = std::env::var("TEDUH_KEYS").ok().filter(|t| !t.trim().is_empty()) {
        return Keyring::parse(&text).map_err(|e| StartError::Keys(format!("TEDUH_KEYS: {e}")));
    }
    let path = config.effective_key_file();
    if path.exists() {
        return Keyring::read_file(&path).map_err(|e| StartError::Keys(format!("{}: {e}", path.display())));
    }
    if config.effective_database_url().starts_with("sqlite:") {
        let (ring, _) = Keyring::beside(&path).map_err(|e| StartError::Keys(e.to_string()))?;
        tracing::info!(key_file = %path.display(), "created a new encryption key file (owner-only); back it up with the database");
        return Ok(ring);
    }
    Err(StartError::Keys(format!(
        "no encryption key: set TEDUH_KEYS or TEDUH_KEY_FILE ({} does not exist); with PostgreSQL, Teduh never creates one",
        path.display()
    )))
}

/// Opens the configured database with the configured keys.
pub async fn open_store(config: &Config) -> Result<Store, StartError> {
    let vault = keyring(config)?;
    Ok(Store::open_with(&config.effective_database_url(), vault).await?)
}

/// The runtime coordinating with other instances as `config` says (Redis with `REDIS_URL`).
pub async fn coordinated(config: &Config, runtime: Runtime) -> Result<Runtime, StartError> {
    let wakers = runtime.wakers().clone();
    let coord = crate::coord::connect(config.redis_url.as_deref(), &config.redis_prefix, wakers.clone())
        .await
        .map_err(|e| StartError::Coordination(e.to_string()))?;
    tracing::info!(coordination = coord.kind(), "coordination ready");
    Ok(runtime.with_coordination(coord, wakers))
}

/// Everything a command needs: content, store and runtime.
pub async fn runtime(config: &Config, entry_override: Option<&str>) -> Result<Runtime, StartError> {
    let (i18n, flows) = load_content(&config.flows_dir, &config.locales_dir, &config.default_lang)?;
    let store = open_store(config).await?;
    let directory = directory(&store).await?;
    let engine = engine(i18n, flows, directory, entry_override.unwrap_or(&config.entry_flow))?;
    Ok(Runtime::new(engine, store, Arc::new(SystemClock)).with_flood_limit(config.flood_per_minute))
}
