//! Rosters in the database: table `roster_shifts` (migration 0004), one row per shift with the
//! shift as JSON in `data`. An import replaces the shifts of the providers it names.

use sqlx::Row;

use super::Shift;
use crate::store::{Store, StoreError, on_pool};

impl Store {
    /// Replaces, in one transaction, the stored shifts of every provider in `provider_ids` and of
    /// every provider a shift names, with `shifts` (kept in their order). Other providers' shifts
    /// are kept. A provider listed in `provider_ids` with no shift ends up with an empty roster.
    pub async fn replace_roster(&self, provider_ids: &[String], shifts: &[Shift]) -> Result<(), StoreError> {
        let mut replaced: Vec<&str> = Vec::new();
        for id in provider_ids.iter().chain(shifts.iter().map(|s| &s.provider)) {
            if !replaced.contains(&id.as_str()) {
                replaced.push(id);
            }
        }
        // Serialise before the transaction, so a failure leaves nothing half-done.
        let rows = shifts
            .iter()
            .map(|s| {
                serde_json::to_string(s)
                    .map(|data| (s, data))
                    .map_err(|e| StoreError::CorruptState { id: s.provider.clone(), message: e.to_string() })
            })
            .collect::<Result<Vec<_>, _>>()?;
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            for id in &replaced {
                sqlx::query("DELETE FROM roster_shifts WHERE provider_id = $1").bind(*id).execute(&mut *tx).await?;
            }
            for (s, data) in &rows {
                sqlx::query("INSERT INTO roster_shifts (provider_id, counselor_id, role, data) VALUES ($1, $2, $3, $4)")
                    .bind(&s.provider)
                    .bind(&s.counselor)
                    .bind(s.role.as_str())
                    .bind(data)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// Every stored shift, in the order they were imported.
    pub async fn roster(&self) -> Result<Vec<Shift>, StoreError> {
        let rows: Vec<(i64, String)> = on_pool!(self, pool => {
            sqlx::query("SELECT id, data FROM roster_shifts ORDER BY id")
                .fetch_all(pool)
                .await?
                .into_iter()
                .map(|r| -> Result<(i64, String), sqlx::Error> { Ok((r.try_get("id")?, r.try_get("data")?)) })
                .collect::<Result<Vec<_>, _>>()?
        });
        decode(rows)
    }

    /// The stored shifts of one provider, in the order they were imported.
    pub async fn roster_of(&self, provider_id: &str) -> Result<Vec<Shift>, StoreError> {
        let rows: Vec<(i64, String)> = on_pool!(self, pool => {
            sqlx::query("SELECT id, data FROM roster_shifts WHERE provider_id = $1 ORDER BY id")
                .bind(provider_id)
                .fetch_all(pool)
                .await?
                .into_iter()
                .map(|r| -> Result<(i64, String), sqlx::Error> { Ok((r.try_get("id")?, r.try_get("data")?)) })
                .collect::<Result<Vec<_>, _>>()?
        });
        decode(rows)
    }
}

fn decode(rows: Vec<(i64, String)>) -> Result<Vec<Shift>, StoreError> {
    rows.into_iter()
        .map(|(id, data)| {
            serde_json::from_str(&data).map_err(|e| StoreError::CorruptState {
                id: format!("roster_shifts.{id}"),
                message: e.to_string(),
            })
        })
        .collect()
}
