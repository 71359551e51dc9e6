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
    /// Built-in reference data is broken.
    #[error("built-in data: {0}")]
    Data(String),
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

/// Everything a command needs: content, store and runtime.
pub async fn runtime(config: &Config, entry_override: Option<&str>) -> Result<Runtime, StartError> {
    let (i18n, flows) = load_content(&config.flows_dir, &config.locales_dir, &config.default_lang)?;
    let store = Store::open(&config.effective_database_url()).await?;
    let directory = directory(&store).await?;
    let engine = engine(i18n, flows, directory, entry_override.unwrap_or(&config.entry_flow))?;
    Ok(Runtime::new(engine, store, Arc::new(SystemClock)).with_flood_limit(config.flood_per_minute))
}
