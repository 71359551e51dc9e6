//! Console logins: users' password hashes and their expiring sessions.

use sqlx::Row;

use super::users::{COLUMNS, user_row};
use super::{Store, StoreError, on_pool};
use crate::access::User;

impl Store {
    /// Sets (or, with `None`, removes) a user's password hash; `false` when there is no such user.
    pub async fn set_password(&self, name: &str, hash: Option<&str>) -> Result<bool, StoreError> {
        let done = on_pool!(self, pool => {
            sqlx::query("UPDATE users SET password_hash = $1 WHERE name = $2")
                .bind(hash)
                .bind(name)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(done == 1)
    }

    /// The active user called `name`, with her password hash if she has one.
    pub async fn user_for_login(&self, name: &str) -> Result<Option<(User, Option<String>)>, StoreError> {
        let sql =
            format!("SELECT {COLUMNS}, password_hash FROM users WHERE name = $1 AND revoked_at IS NULL");
        Ok(on_pool!(self, pool => {
            match sqlx::query(&sql).bind(name).fetch_optional(pool).await? {
                Some(row) => {
                    let hash: Option<String> = row.try_get("password_hash")?;
                    Some((user_row(row)?, hash))
                }
                None => None,
            }
        }))
    }

    /// Stores a new session (its id and the SHA-256 of its token) and forgets expired ones.
    pub async fn add_session(
        &self,
        id: &str,
        user_id: &str,
        secret_hash: &str,
        now_ms: i64,
        expires_ms: i64,
    ) -> Result<(), StoreError> {
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query("DELETE FROM sessions WHERE expires_at <= $1").bind(now_ms).execute(&mut *tx).await?;
            sqlx::query(
                "INSERT INTO sessions (id, user_id, secret_hash, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(id)
            .bind(user_id)
            .bind(secret_hash)
            .bind(now_ms)
            .bind(expires_ms)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// The active user of an unexpired session, with the session's stored hash and expiry.
    pub async fn user_by_session(
        &self,
        id: &str,
        now_ms: i64,
    ) -> Result<Option<(User, String, i64)>, StoreError> {
        let columns = COLUMNS.split(", ").map(|c| format!("u.{c}")).collect::<Vec<_>>().join(", ");
        let sql = format!(
            "SELECT {columns}, s.secret_hash, s.expires_at FROM sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.id = $1 AND s.expires_at > $2 AND u.revoked_at IS NULL"
        );
        Ok(on_pool!(self, pool => {
            match sqlx::query(&sql).bind(id).bind(now_ms).fetch_optional(pool).await? {
                Some(row) => {
                    let hash: String = row.try_get("secret_hash")?;
                    let expires: i64 = row.try_get("expires_at")?;
                    Some((user_row(row)?, hash, expires))
                }
                None => None,
            }
        }))
    }

    /// Ends a session (signing out).
    pub async fn end_session(&self, id: &str) -> Result<(), StoreError> {
        on_pool!(self, pool => {
            sqlx::query("DELETE FROM sessions WHERE id = $1").bind(id).execute(pool).await?;
        });
        Ok(())
    }
}
