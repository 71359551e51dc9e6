//! `teduh keys rotate`: re-seals every sealed value under the current key, in batches, so it
//! can be stopped and run again at any point.

use super::{Store, StoreError, on_pool};

/// Rows re-sealed per batch.
const BATCH: i64 = 500;

/// The sealed columns: table, id column, whether the id is an integer, column, extra filter.
const SEALED: &[(&str, &str, bool, &str, &str)] = &[
    ("inbound", "id", true, "payload", ""),
    ("outbox", "id", true, "payload", ""),
    ("conversations", "id", false, "state", ""),
    ("cases", "id", false, "fields", ""),
    ("case_events", "id", true, "detail", "AND kind = 'note'"),
    ("survey_responses", "id", false, "comment", ""),
    ("conversations", "id", false, "contact_sealed", ""),
    ("inbound", "id", true, "contact_sealed", ""),
    ("outbox", "id", true, "contact_sealed", ""),
];

impl Store {
    /// Re-seals every value not sealed under the current key (older keys, or plain values
    /// written before encryption). Returns how many values were re-sealed per table.
    pub async fn rotate_keys(&self) -> Result<Vec<(&'static str, u64)>, StoreError> {
        let current = format!("enc:v1:{}:%", self.vault().current_id());
        let mut done = Vec::new();
        for (table, id_col, int_id, col, filter) in SEALED {
            let mut count = 0u64;
            // Ids already seen this run: a value that fails to re-seal is not retried forever.
            let mut after_int = i64::MIN;
            let mut after_text = String::new();
            loop {
                let select = format!(
                    "SELECT {id_col} AS id, {col} AS value FROM {table} WHERE {col} IS NOT NULL AND {col} NOT LIKE $1 {filter} \
                     AND {id_col} > $2 ORDER BY {id_col} LIMIT {BATCH}"
                );
                let rows: Vec<(String, String)> = if *int_id {
                    let rows: Vec<(i64, String)> = on_pool!(self, pool => {
                        sqlx::query_as(&select).bind(&current).bind(after_int).fetch_all(pool).await?
                    });
                    if let Some((last, _)) = rows.last() {
                        after_int = *last;
                    }
                    rows.into_iter().map(|(id, v)| (id.to_string(), v)).collect()
                } else {
                    let rows: Vec<(String, String)> = on_pool!(self, pool => {
                        sqlx::query_as(&select).bind(&current).bind(&after_text).fetch_all(pool).await?
                    });
                    if let Some((last, _)) = rows.last() {
                        after_text = last.clone();
                    }
                    rows
                };
                if rows.is_empty() {
                    break;
                }
                for (id, old) in rows {
                    let sealed = self.seal(&self.unseal(&old)?);
                    let update = format!("UPDATE {table} SET {col} = $1 WHERE {id_col} = $2 AND {col} = $3");
                    let changed = on_pool!(self, pool => {
                        let q = sqlx::query(&update).bind(&sealed);
                        let q = if *int_id { q.bind(id.parse::<i64>().unwrap_or_default()) } else { q.bind(&id) };
                        q.bind(&old).execute(pool).await?.rows_affected()
                    });
                    count += changed;
                }
            }
            done.push((*table, count));
        }
        Ok(done)
    }
}
