//! Durable storage with sqlx: SQLite for the embedded default, PostgreSQL in production. Both
//! run the same SQL (numbered parameters, `ON CONFLICT` upserts); only the migrations differ.

mod cases;
mod conversation;
mod directory;
mod escalation;
mod inbox;
pub mod outbox;
mod retention;
mod transfer;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool};
use thiserror::Error;

pub use cases::{Acceptance, CaseRecord};
pub use conversation::{
    CaseEvent, CaseRow, Committed, Conversation, DueTimer, OpenedCase, StepWrite, SurveyRow,
};
pub use escalation::{DueEscalation, EscalationWrite, Notification};
pub use inbox::{Accepted, PendingInbound};
pub use outbox::OutboxRow;
pub use retention::Purged;
pub use transfer::{Transfer, TransferTo};

/// Why a storage operation failed.
#[derive(Debug, Error)]
pub enum StoreError {
    /// The database refused or could not be reached.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Migrations could not be applied.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// Another writer changed the conversation first; the step must be retried.
    #[error("conversation {0} was changed concurrently")]
    Conflict(String),
    /// A stored state no longer deserialises (e.g. written by an incompatible version).
    #[error("conversation {id} has an unreadable state: {message}")]
    CorruptState {
        /// Conversation id.
        id: String,
        /// Parser message.
        message: String,
    },
    /// The data directory cannot be created.
    #[error("cannot create data directory {path}: {source}")]
    DataDir {
        /// Directory.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// The URL names no supported database.
    #[error("unsupported database URL (use sqlite: or postgres://)")]
    UnsupportedUrl,
}

/// A connection pool to one of the supported databases.
#[derive(Debug, Clone)]
pub enum Store {
    /// Embedded SQLite file.
    Sqlite(SqlitePool),
    /// PostgreSQL server.
    Postgres(PgPool),
}

/// Runs `$body` with `$pool` bound to whichever pool the store holds; the body is compiled once
/// per backend, so the same query text serves both.
macro_rules! on_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match $store {
            $crate::store::Store::Sqlite($pool) => $body,
            $crate::store::Store::Postgres($pool) => $body,
        }
    };
}
pub(crate) use on_pool;

impl Store {
    /// Opens the database named by `url`, creating an SQLite file (and its directory) on first
    /// use, and applies pending migrations.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let options = PgConnectOptions::from_str(url)?;
            Self::open_postgres(options).await
        } else if let Some(rest) = url.strip_prefix("sqlite:") {
            let path = rest.trim_start_matches("//");
            Self::open_sqlite(Path::new(path)).await
        } else {
            Err(StoreError::UnsupportedUrl)
        }
    }

    /// Opens (creating if needed) an SQLite database file in WAL mode.
    pub async fn open_sqlite(path: &Path) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|source| StoreError::DataDir { path: dir.display().to_string(), source })?;
        }
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new().max_connections(4).connect_with(options).await?;
        sqlx::migrate!("migrations/sqlite").run(&pool).await?;
        Ok(Store::Sqlite(pool))
    }

    /// Opens a PostgreSQL database and applies migrations.
    pub async fn open_postgres(options: PgConnectOptions) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options)
            .await?;
        sqlx::migrate!("migrations/postgres").run(&pool).await?;
        Ok(Store::Postgres(pool))
    }

    /// Opens PostgreSQL with every table inside `schema` (created if missing), so several
    /// deployments or test runs can share one database without seeing each other.
    pub async fn open_postgres_in_schema(url: &str, schema: &str) -> Result<Self, StoreError> {
        let base = PgConnectOptions::from_str(url)?;
        let pool = PgPoolOptions::new().max_connections(1).connect_with(base.clone()).await?;
        sqlx::query(&format!("CREATE SCHEMA IF NOT EXISTS \"{}\"", schema.replace('"', "")))
            .execute(&pool)
            .await?;
        pool.close().await;
        Self::open_postgres(base.options([("search_path", schema)])).await
    }

    /// `sqlite` or `postgres`.
    pub fn backend(&self) -> &'static str {
        match self {
            Store::Sqlite(_) => "sqlite",
            Store::Postgres(_) => "postgres",
        }
    }

    /// Checks that the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        on_pool!(self, pool => {
            sqlx::query("SELECT 1").execute(pool).await?;
        });
        Ok(())
    }

    /// Closes every connection.
    pub async fn close(&self) {
        on_pool!(self, pool => pool.close().await)
    }
}
