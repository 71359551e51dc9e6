//! Durable storage with sqlx: SQLite for the embedded default, PostgreSQL in production. Both
//! run the same SQL (numbered parameters, `ON CONFLICT` upserts); only the migrations differ.

mod audit;
pub(crate) mod batch;
mod cases;
mod conversation;
mod directory;
mod escalation;
pub mod group;
mod inbox;
pub mod outbox;
mod rekey;
mod retention;
mod sessions;
mod transfer;
mod users;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool};
use thiserror::Error;

use crate::vault::{Keyring, VaultError};

pub use audit::AuditQuery;
pub use cases::{Acceptance, CaseFilter, CaseMessage, CaseRecord};
pub use conversation::{
    CaseEvent, CaseRow, Committed, Conversation, DueTimer, OpenedCase, StepRef, StepWrite, SurveyRow,
};
pub use escalation::{DueEscalation, EscalationWrite, Notification, RelayLine};
pub use inbox::{Accepted, PendingInbound, SenderContext, StoredConversation};
pub use outbox::OutboxRow;
pub use retention::Purged;
pub use transfer::{Transfer, TransferTo};
pub use users::NewUser;

/// Why a storage operation failed.
#[derive(Debug, Error)]
pub enum StoreError {
    /// The database refused or could not be reached.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Migrations could not be applied.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A write committed with others (see `store::group`) failed, for this reason.
    #[error("{0}")]
    Grouped(String),
    /// Another writer changed the conversation first; the step must be retried.
    #[error("conversation {0} was changed concurrently")]
    Conflict(String),
    /// The inbound message was processed already (by another instance); nothing was written.
    #[error("inbound message {0} was already processed")]
    AlreadyProcessed(i64),
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
    /// The keys are missing or a sealed value cannot be opened.
    #[error("encryption: {0}")]
    Vault(#[from] VaultError),
}

/// A connection pool to one of the supported databases.
#[derive(Debug, Clone)]
pub enum Db {
    /// Embedded SQLite file.
    Sqlite(SqlitePool),
    /// PostgreSQL server.
    Postgres(PgPool),
}

/// The database, with the keyring that seals what survivors wrote before it is stored.
#[derive(Debug, Clone)]
pub struct Store {
    db: Db,
    vault: std::sync::Arc<Keyring>,
    /// SQLite's one write lock, taken in the process first (see [`Store::writing`]).
    writer: Option<std::sync::Arc<tokio::sync::Mutex<()>>>,
}

/// Runs `$body` with `$pool` bound to whichever pool the store holds; the body is compiled once
/// per backend, so the same query text serves both.
macro_rules! on_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match $store.db() {
            $crate::store::Db::Sqlite($pool) => $body,
            $crate::store::Db::Postgres($pool) => $body,
        }
    };
}
pub(crate) use on_pool;

/// The file path of an `sqlite:` URL.
fn sqlite_path(url: &str) -> Option<&str> {
    url.strip_prefix("sqlite:").map(|rest| rest.trim_start_matches("//"))
}

impl Store {
    /// Opens the database named by `url` with `vault`, creating an SQLite file (and its
    /// directory) on first use, and applies pending migrations.
    pub async fn open_with(url: &str, vault: Keyring) -> Result<Self, StoreError> {
        let db = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Self::connect_postgres(PgConnectOptions::from_str(url)?).await?
        } else if let Some(path) = sqlite_path(url) {
            Self::connect_sqlite(Path::new(path)).await?
        } else {
            return Err(StoreError::UnsupportedUrl);
        };
        Ok(Self::assemble(db, vault))
    }

    /// Opens an SQLite database (`sqlite:PATH`) with the key file beside it, created on first
    /// use as in the embedded default. PostgreSQL needs [`Store::open_with`] and its keys.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        match sqlite_path(url) {
            Some(path) => Self::open_sqlite(Path::new(path)).await,
            None if url.starts_with("postgres") => Err(StoreError::Vault(VaultError::NoKey)),
            None => Err(StoreError::UnsupportedUrl),
        }
    }

    /// Opens (creating if needed) an SQLite database file in WAL mode, with the key file beside
    /// it (`teduh.db` → `teduh.key`, created on first use).
    pub async fn open_sqlite(path: &Path) -> Result<Self, StoreError> {
        let db = Self::connect_sqlite(path).await?;
        let (vault, created) = Keyring::beside(&path.with_extension("key"))?;
        if created {
            tracing::info!(key_file = %path.with_extension("key").display(), "created a new encryption key file (owner-only); back it up");
        }
        Ok(Self::assemble(db, vault))
    }

    async fn connect_sqlite(path: &Path) -> Result<Db, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|source| StoreError::DataDir { path: dir.display().to_string(), source })?;
        }
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            // Pages read through a memory map and a larger cache, rather than a read() per page
            // (the dispatcher's claims under a backlog spent a fifth of their time there).
            .pragma("mmap_size", "268435456")
            .pragma("cache_size", "-16384")
            // The log is copied back into the database by `checkpoint_wal`, beside the writers;
            // SQLite's own checkpoint (every 1,000 pages by default) ran inside a commit, while
            // every other writer waited. This one is the backstop, and little is left for it
            // to copy; the log file is cut back to 64 MiB when it starts over.
            .pragma("wal_autocheckpoint", "10000")
            .pragma("journal_size_limit", "67108864")
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new().max_connections(4).connect_with(options).await?;
        sqlx::migrate!("migrations/sqlite").run(&pool).await?;
        Ok(Db::Sqlite(pool))
    }

    async fn connect_postgres(options: PgConnectOptions) -> Result<Db, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options)
            .await?;
        sqlx::migrate!("migrations/postgres").run(&pool).await?;
        Ok(Db::Postgres(pool))
    }

    /// Opens PostgreSQL with every table inside `schema` (created if missing), so several
    /// deployments or test runs can share one database without seeing each other.
    pub async fn open_postgres_in_schema(
        url: &str,
        schema: &str,
        vault: Keyring,
    ) -> Result<Self, StoreError> {
        let base = PgConnectOptions::from_str(url)?;
        let pool = PgPoolOptions::new().max_connections(1).connect_with(base.clone()).await?;
        sqlx::query(&format!("CREATE SCHEMA IF NOT EXISTS \"{}\"", schema.replace('"', "")))
            .execute(&pool)
            .await?;
        pool.close().await;
        let db = Self::connect_postgres(base.options([("search_path", schema)])).await?;
        Ok(Self::assemble(db, vault))
    }

    fn assemble(db: Db, vault: Keyring) -> Self {
        let writer = matches!(db, Db::Sqlite(_)).then(std::sync::Arc::default);
        if let (Db::Sqlite(pool), Some(writer)) = (&db, &writer) {
            tokio::spawn(checkpoint_wal(pool.clone(), std::sync::Arc::downgrade(writer)));
        }
        Self { db, vault: std::sync::Arc::new(vault), writer }
    }

    /// Waits for this process's turn to write. SQLite takes one writer at a time, and a writer
    /// that finds the lock taken sleeps in SQLite's busy handler (1 ms, then 2, 5, 10 ms and
    /// more) however soon the lock is free again; the busy writers of the hot path (inbox,
    /// steps, claims, sent records) queue here instead and start the moment it is their turn.
    /// PostgreSQL has row locks: nothing to wait for.
    pub(crate) async fn writing(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        match &self.writer {
            Some(lock) => Some(lock.lock().await),
            None => None,
        }
    }

    /// The connection pool.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// The keyring values are sealed with.
    pub fn vault(&self) -> &Keyring {
        &self.vault
    }

    /// Seals a value for storage.
    pub(crate) fn seal(&self, plain: &str) -> String {
        self.vault.seal(plain)
    }

    /// The keyed hash that stands for one provider delivery (shared between instances without
    /// naming anyone: Telegram's ids contain the chat id).
    pub fn delivery_key(&self, channel: &str, provider_id: &str) -> String {
        self.vault.index(&format!("delivery\u{1f}{channel}\u{1f}{provider_id}"))
    }

    /// The keyed hash that stands for an address in lookups.
    pub(crate) fn key(&self, contact: &str) -> String {
        self.vault.index(contact)
    }

    /// Opens a stored value.
    pub(crate) fn unseal(&self, stored: &str) -> Result<String, StoreError> {
        Ok(self.vault.open(stored)?)
    }

    /// `sqlite` or `postgres`.
    pub fn backend(&self) -> &'static str {
        match self.db {
            Db::Sqlite(_) => "sqlite",
            Db::Postgres(_) => "postgres",
        }
    }

    /// Checks that the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        on_pool!(self, pool => {
            sqlx::query("SELECT 1").execute(pool).await?;
        });
        Ok(())
    }

    /// Whether every migration this build knows has been applied.
    pub async fn migrations_current(&self) -> Result<bool, StoreError> {
        let (known, applied): (usize, i64) = match self.db() {
            Db::Sqlite(pool) => (
                sqlx::migrate!("migrations/sqlite").iter().count(),
                sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations WHERE success")
                    .fetch_one(pool)
                    .await?,
            ),
            Db::Postgres(pool) => (
                sqlx::migrate!("migrations/postgres").iter().count(),
                sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations WHERE success")
                    .fetch_one(pool)
                    .await?,
            ),
        };
        Ok(usize::try_from(applied).is_ok_and(|a| a >= known))
    }

    /// Closes every connection.
    pub async fn close(&self) {
        on_pool!(self, pool => pool.close().await)
    }
}

/// How often SQLite's write-ahead log is copied back into the database file. A checkpoint
/// flushes to disk everything the log gathered since the last one, and a writer appending
/// meanwhile can wait for that flush (its frame shares a page with the one being written back):
/// small flushes often keep that wait short (on a two-core VM, 500 ms between checkpoints put
/// a p99 of 63-347 ms at 1,000 messages/s; 100 ms, 42-84 ms).
const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);

/// Copies SQLite's write-ahead log into the database now and then, on a connection of its own
/// and without the writer's turn (a passive checkpoint never blocks a writer), until the store
/// is dropped or closed.
async fn checkpoint_wal(pool: sqlx::SqlitePool, store: std::sync::Weak<tokio::sync::Mutex<()>>) {
    let mut tick = tokio::time::interval(CHECKPOINT_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if store.strong_count() == 0 || pool.is_closed() {
            break;
        }
        if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)").execute(&pool).await
            && !pool.is_closed()
        {
            tracing::warn!(error = %e, "WAL checkpoint failed; SQLite's own checkpoint will catch up");
        }
    }
}

/// `$start, $start+1, ...` for `count` bound values (both databases number their parameters).
pub(crate) fn placeholders(start: usize, count: usize) -> String {
    (start..start + count).map(|n| format!("${n}")).collect::<Vec<_>>().join(", ")
}
