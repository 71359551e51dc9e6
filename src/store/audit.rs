//! The audit log: appended, never changed.

use sqlx::Row;

use super::{Store, StoreError, on_pool};
use crate::access::AuditEntry;

/// Which audit rows to read.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    /// Only rows at or after this time (ms).
    pub since: Option<i64>,
    /// Only this actor's rows.
    pub actor: Option<String>,
    /// Only rows about this subject (a case code).
    pub subject: Option<String>,
    /// At most this many, newest first.
    pub limit: i64,
}

impl Store {
    /// Appends one row.
    pub async fn audit(&self, entry: &AuditEntry) -> Result<(), StoreError> {
        on_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO audit_log (at, actor, role, action, subject, outcome, detail) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(entry.at)
            .bind(&entry.actor)
            .bind(&entry.role)
            .bind(&entry.action)
            .bind(&entry.subject)
            .bind(&entry.outcome)
            .bind(&entry.detail)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Audit rows matching `query`, newest first.
    pub async fn audit_log(&self, query: &AuditQuery) -> Result<Vec<AuditEntry>, StoreError> {
        Ok(on_pool!(self, pool => {
            sqlx::query(
                "SELECT at, actor, role, action, subject, outcome, detail FROM audit_log \
                 WHERE ($1 IS NULL OR at >= $1) AND ($2 IS NULL OR actor = $2) AND ($3 IS NULL OR subject = $3) \
                 ORDER BY id DESC LIMIT $4",
            )
            .bind(query.since)
            .bind(&query.actor)
            .bind(&query.subject)
            .bind(query.limit)
            .fetch_all(pool)
            .await?
            .into_iter()
            .map(|r| -> Result<AuditEntry, sqlx::Error> {
                Ok(AuditEntry {
                    at: r.try_get("at")?,
                    actor: r.try_get("actor")?,
                    role: r.try_get("role")?,
                    action: r.try_get("action")?,
                    subject: r.try_get("subject")?,
                    outcome: r.try_get("outcome")?,
                    detail: r.try_get("detail")?,
                })
            })
            .collect::<Result<Vec<_>, _>>()?
        }))
    }
}
