//! The provider directory in the database: replaced whole by an import, read at start-up.

use sqlx::Row;

use super::{Store, StoreError, on_pool};
use crate::directory::Provider;

impl Store {
    /// Replaces the directory with `providers` in one transaction: providers and counselors not
    /// in the list are removed, the others inserted or updated.
    pub async fn replace_providers(&self, providers: &[Provider]) -> Result<(), StoreError> {
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query("DELETE FROM counselors").execute(&mut *tx).await?;
            sqlx::query("DELETE FROM providers").execute(&mut *tx).await?;
            for p in providers {
                let data = serde_json::to_string(p).map_err(|e| StoreError::CorruptState { id: p.id.clone(), message: e.to_string() })?;
                sqlx::query("INSERT INTO providers (id, kind, region_code, name, data) VALUES ($1, $2, $3, $4, $5)")
                    .bind(&p.id)
                    .bind(p.kind.as_str())
                    .bind(&p.region)
                    .bind(&p.name)
                    .bind(&data)
                    .execute(&mut *tx)
                    .await?;
                for c in &p.counselors {
                    let channels = serde_json::to_string(&c.channels).map_err(|e| StoreError::CorruptState { id: c.id.clone(), message: e.to_string() })?;
                    sqlx::query("INSERT INTO counselors (id, provider_id, name, channels) VALUES ($1, $2, $3, $4)")
                        .bind(&c.id)
                        .bind(&p.id)
                        .bind(&c.name)
                        .bind(&channels)
                        .execute(&mut *tx)
                        .await?;
                }
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// Every provider, by id.
    pub async fn providers(&self) -> Result<Vec<Provider>, StoreError> {
        let rows: Vec<(String, String)> = on_pool!(self, pool => {
            sqlx::query("SELECT id, data FROM providers ORDER BY id")
                .fetch_all(pool)
                .await?
                .into_iter()
                .map(|r| -> Result<(String, String), sqlx::Error> { Ok((r.try_get("id")?, r.try_get("data")?)) })
                .collect::<Result<Vec<_>, _>>()?
        });
        rows.into_iter()
            .map(|(id, data)| {
                serde_json::from_str(&data)
                    .map_err(|e| StoreError::CorruptState { id, message: e.to_string() })
            })
            .collect()
    }
}
