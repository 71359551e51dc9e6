//! API users and their token hashes.

use sqlx::Row;

use super::{Store, StoreError, on_pool};
use crate::access::{Role, User};

/// A user to create.
#[derive(Debug, Clone)]
pub struct NewUser<'a> {
    /// Login name.
    pub name: &'a str,
    /// Role.
    pub role: Role,
    /// Provider, for counselors and supervisors.
    pub provider_id: Option<&'a str>,
    /// Roster counselor id, when she is on call too.
    pub counselor_id: Option<&'a str>,
}

pub(super) const COLUMNS: &str = "id, name, role, provider_id, counselor_id, created_at, revoked_at";

pub(super) fn user_row<R: Row>(row: R) -> Result<User, sqlx::Error>
where
    for<'r> &'r str: sqlx::ColumnIndex<R>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<i64>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let role: String = row.try_get("role")?;
    Ok(User {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        // Only valid roles are ever written; an unknown one (a newer version's) grants least.
        role: Role::parse(&role).unwrap_or(Role::Counselor),
        provider_id: row.try_get("provider_id")?,
        counselor_id: row.try_get("counselor_id")?,
        created_at: row.try_get("created_at")?,
        revoked_at: row.try_get("revoked_at")?,
    })
}

impl Store {
    /// Creates a user with a token (its id and hash); `false` when the name is taken.
    pub async fn add_user(
        &self,
        user: &NewUser<'_>,
        token_id: &str,
        token_hash: &str,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let id = uuid::Uuid::new_v4().to_string();
        let done = on_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO users (id, name, role, provider_id, counselor_id, token_id, token_hash, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (name) DO NOTHING",
            )
            .bind(&id)
            .bind(user.name)
            .bind(user.role.as_str())
            .bind(user.provider_id)
            .bind(user.counselor_id)
            .bind(token_id)
            .bind(token_hash)
            .bind(now_ms)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(done == 1)
    }

    /// The active user a token id belongs to, with the stored token hash.
    pub async fn user_by_token_id(&self, token_id: &str) -> Result<Option<(User, String)>, StoreError> {
        let sql =
            format!("SELECT {COLUMNS}, token_hash FROM users WHERE token_id = $1 AND revoked_at IS NULL");
        Ok(on_pool!(self, pool => {
            match sqlx::query(&sql).bind(token_id).fetch_optional(pool).await? {
                Some(row) => {
                    let hash: String = row.try_get("token_hash")?;
                    Some((user_row(row)?, hash))
                }
                None => None,
            }
        }))
    }

    /// Every user, by name.
    pub async fn users(&self) -> Result<Vec<User>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM users ORDER BY name");
        Ok(on_pool!(self, pool => {
            sqlx::query(&sql).fetch_all(pool).await?.into_iter().map(user_row).collect::<Result<Vec<_>, _>>()?
        }))
    }

    /// Revokes a user's access at once; `false` when there is no such active user.
    pub async fn revoke_user(&self, name: &str, now_ms: i64) -> Result<bool, StoreError> {
        let done = on_pool!(self, pool => {
            sqlx::query("UPDATE users SET revoked_at = $1 WHERE name = $2 AND revoked_at IS NULL")
                .bind(now_ms)
                .bind(name)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(done == 1)
    }

    /// Gives a user a new token (the old one stops working) and restores revoked access;
    /// `false` when there is no such user.
    pub async fn replace_token(
        &self,
        name: &str,
        token_id: &str,
        token_hash: &str,
    ) -> Result<bool, StoreError> {
        let done = on_pool!(self, pool => {
            sqlx::query("UPDATE users SET token_id = $1, token_hash = $2, revoked_at = NULL WHERE name = $3")
                .bind(token_id)
                .bind(token_hash)
                .bind(name)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(done == 1)
    }
}
