//! The inbox (every inbound message, stored before the webhook answers), per-contact channel
//! state, and attachment references.

use sqlx::Row;

use super::{Store, StoreError, on_pool};
use crate::channel::{Inbound, InboundEvent};

/// An inbound message waiting to be processed.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingInbound {
    /// Inbox id; processing order within a conversation.
    pub id: i64,
    /// The message.
    pub inbound: Inbound,
}

/// Whether an inbound message was new.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accepted {
    /// Stored under this inbox id.
    New(i64),
    /// The provider delivered it before: nothing stored, nothing to do.
    Duplicate,
}

/// Which of `batch` were stored, given the rows one multi-row insert returned: ids follow
/// the order of the rows inserted, and a row is skipped only when its delivery id was stored
/// before (or earlier in the same batch).
fn match_inserted(batch: &[Inbound], inserted: &mut [(i64, String, Option<String>)]) -> Vec<Accepted> {
    inserted.sort_unstable_by_key(|(id, _, _)| *id);
    let mut next = inserted.iter().peekable();
    batch
        .iter()
        .map(|inbound| match next.peek() {
            Some((id, channel, provider_id))
                if *channel == inbound.channel && *provider_id == inbound.provider_id =>
            {
                let id = *id;
                next.next();
                Accepted::New(id)
            }
            _ => Accepted::Duplicate,
        })
        .collect()
}

impl Store {
    /// Stores an inbound message durably, unless the same provider message id was stored
    /// before, and notes when the person last wrote (for WhatsApp's service window).
    pub async fn accept_inbound(&self, inbound: &Inbound, now_ms: i64) -> Result<Accepted, StoreError> {
        let mut accepted = self.accept_inbound_many(std::slice::from_ref(inbound), now_ms).await?;
        accepted.pop().ok_or_else(|| StoreError::Grouped("nothing stored".into()))
    }

    /// Stores several inbound messages in one transaction (`accept_inbound` for each).
    pub async fn accept_inbound_many(
        &self,
        batch: &[Inbound],
        now_ms: i64,
    ) -> Result<Vec<Accepted>, StoreError> {
        let mut payloads = Vec::with_capacity(batch.len());
        for inbound in batch {
            payloads.push(serde_json::to_string(&inbound.event).map_err(|e| StoreError::CorruptState {
                id: inbound.channel.clone(),
                message: e.to_string(),
            })?);
        }
        let _writing = self.writing().await;
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        // One statement for the messages and one for when their senders last wrote: a
        // statement per message was most of a webhook's database time.
        let rows = (0..batch.len())
            .map(|i| format!("({})", super::placeholders(i * 7 + 1, 7)))
            .collect::<Vec<_>>()
            .join(", ");
        let insert = format!(
            "INSERT INTO inbound (channel, provider_id, contact_key, lang_hint, payload, received_at, contact_sealed) \
             VALUES {rows} ON CONFLICT (channel, provider_id) DO NOTHING RETURNING id, channel, provider_id"
        );
        let keys: Vec<String> = batch.iter().map(|inbound| self.key(&inbound.contact)).collect();
        let stored = on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let mut query = sqlx::query(&insert);
            for ((inbound, payload), key) in batch.iter().zip(&payloads).zip(&keys) {
                query = query
                    .bind(&inbound.channel)
                    .bind(&inbound.provider_id)
                    .bind(key)
                    .bind(&inbound.lang_hint)
                    .bind(self.seal(payload))
                    .bind(now_ms)
                    .bind(self.seal(&inbound.contact));
            }
            let mut new: Vec<(i64, String, Option<String>)> = query
                .fetch_all(&mut *tx)
                .await?
                .into_iter()
                .map(|r| -> Result<_, sqlx::Error> { Ok((r.try_get("id")?, r.try_get("channel")?, r.try_get("provider_id")?)) })
                .collect::<Result<_, _>>()?;
            let stored = match_inserted(batch, &mut new);
            // Her last sign of life, once per sender (a redelivery is none).
            let mut senders: Vec<(&str, &str)> = Vec::new();
            for ((inbound, accepted), key) in batch.iter().zip(&stored).zip(&keys) {
                if matches!(accepted, Accepted::New(_)) && !senders.contains(&(inbound.channel.as_str(), key.as_str())) {
                    senders.push((&inbound.channel, key));
                }
            }
            if !senders.is_empty() {
                let rows = (0..senders.len())
                    .map(|i| format!("(${}, ${}, $1)", 2 * i + 2, 2 * i + 3))
                    .collect::<Vec<_>>()
                    .join(", ");
                let sql = format!(
                    "INSERT INTO channel_contacts (channel, contact_key, last_inbound_at) VALUES {rows} \
                     ON CONFLICT (channel, contact_key) DO UPDATE SET last_inbound_at = excluded.last_inbound_at"
                );
                let mut query = sqlx::query(&sql).bind(now_ms);
                for (channel, key) in senders {
                    query = query.bind(channel).bind(key);
                }
                query.execute(&mut *tx).await?;
            }
            tx.commit().await?;
            stored
        });
        Ok(stored)
    }

    /// Unprocessed inbound messages, oldest first (for inspection; workers use
    /// [`Store::claim_inbound`]).
    pub async fn pending_inbound(&self, limit: i64) -> Result<Vec<PendingInbound>, StoreError> {
        let ids: Vec<i64> = on_pool!(self, pool => {
            sqlx::query_scalar("SELECT id FROM inbound WHERE processed_at IS NULL ORDER BY id LIMIT $1")
                .bind(limit)
                .fetch_all(pool)
                .await?
        });
        self.inbound_rows(&ids).await
    }

    /// Leases up to `limit` messages for `lease_ms`: the oldest unprocessed message of each
    /// conversation whose earlier messages are all done and that nobody else holds. A crashed
    /// instance's lease runs out and another takes the message over.
    pub async fn claim_inbound(
        &self,
        now_ms: i64,
        limit: i64,
        lease_ms: i64,
    ) -> Result<Vec<PendingInbound>, StoreError> {
        // In PostgreSQL, SKIP LOCKED lets instances claim side by side; a message whose
        // conversation has an earlier unprocessed message is never taken, even one another
        // instance is claiming right now, so no two instances step one conversation.
        const PG: &str = "UPDATE inbound SET claimed_until = $1 WHERE id IN (SELECT i.id FROM inbound i \
            WHERE i.processed_at IS NULL AND (i.claimed_until IS NULL OR i.claimed_until <= $2) \
            AND NOT EXISTS (SELECT 1 FROM inbound e WHERE e.channel = i.channel AND e.contact_key = i.contact_key \
            AND e.id < i.id AND e.processed_at IS NULL) ORDER BY i.id LIMIT $3 FOR UPDATE OF i SKIP LOCKED) RETURNING id";
        const SQLITE: &str = "UPDATE inbound SET claimed_until = $1 WHERE id IN (SELECT i.id FROM inbound i \
            WHERE i.processed_at IS NULL AND (i.claimed_until IS NULL OR i.claimed_until <= $2) \
            AND NOT EXISTS (SELECT 1 FROM inbound e WHERE e.channel = i.channel AND e.contact_key = i.contact_key \
            AND e.id < i.id AND e.processed_at IS NULL) ORDER BY i.id LIMIT $3) RETURNING id";
        let sql = match self.db() {
            super::Db::Postgres(_) => PG,
            super::Db::Sqlite(_) => SQLITE,
        };
        let ids: Vec<i64> = {
            let _writing = self.writing().await;
            on_pool!(self, pool => {
                sqlx::query_scalar(sql).bind(now_ms + lease_ms).bind(now_ms).bind(limit).fetch_all(pool).await?
            })
        };
        self.inbound_rows(&ids).await
    }

    /// Gives a claimed message back (its step failed and should be tried again soon).
    pub async fn release_inbound(&self, id: i64) -> Result<(), StoreError> {
        on_pool!(self, pool => {
            sqlx::query("UPDATE inbound SET claimed_until = NULL WHERE id = $1 AND processed_at IS NULL")
                .bind(id)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    async fn inbound_rows(&self, ids: &[i64]) -> Result<Vec<PendingInbound>, StoreError> {
        type Row6 = (i64, String, Option<String>, Option<String>, Option<String>, String);
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT id, channel, provider_id, contact_sealed, lang_hint, payload FROM inbound \
             WHERE id IN ({}) ORDER BY id",
            super::placeholders(1, ids.len())
        );
        let rows: Vec<Row6> = on_pool!(self, pool => {
            let mut query = sqlx::query(&sql);
            for id in ids {
                query = query.bind(id);
            }
            query
                .fetch_all(pool)
                .await?
                .into_iter()
                .map(|r| -> Result<Row6, sqlx::Error> {
                    Ok((
                        r.try_get("id")?,
                        r.try_get("channel")?,
                        r.try_get("provider_id")?,
                        r.try_get("contact_sealed")?,
                        r.try_get("lang_hint")?,
                        r.try_get("payload")?,
                    ))
                })
                .collect::<Result<Vec<_>, _>>()?
        });
        rows.into_iter()
            .map(|(id, channel, provider_id, contact, lang_hint, payload)| {
                let payload = self.unseal(&payload)?;
                let contact = self.unseal(&contact.unwrap_or_default())?;
                let event: InboundEvent = serde_json::from_str(&payload).map_err(|e| {
                    StoreError::CorruptState { id: format!("inbound {id}"), message: e.to_string() }
                })?;
                Ok(PendingInbound {
                    id,
                    inbound: Inbound { channel, provider_id, contact, event, lang_hint },
                })
            })
            .collect()
    }

    /// Marks an inbox row processed without a step (e.g. a carrier opt-out word).
    /// Returns `false` when it was processed already (by another instance that took over).
    pub async fn mark_inbound_processed(&self, id: i64, now_ms: i64) -> Result<bool, StoreError> {
        let _writing = self.writing().await;
        let done = on_pool!(self, pool => {
            sqlx::query("UPDATE inbound SET processed_at = $1 WHERE id = $2 AND processed_at IS NULL")
                .bind(now_ms)
                .bind(id)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(done == 1)
    }

    /// How many messages a sender sent since `since_ms`, up to and including inbound row `id`
    /// (so the count a message sees does not depend on what arrives after it).
    pub async fn sender_recent_count(
        &self,
        channel: &str,
        contact: &str,
        since_ms: i64,
        id: i64,
    ) -> Result<i64, StoreError> {
        let count: i64 = on_pool!(self, pool => {
            sqlx::query_scalar(
                "SELECT COUNT(*) FROM inbound WHERE channel = $1 AND contact_key = $2 AND received_at >= $3 AND id <= $4",
            )
            .bind(channel)
            .bind(self.key(contact))
            .bind(since_ms)
            .bind(id)
            .fetch_one(pool)
            .await?
        });
        Ok(count)
    }

    /// Marks an inbound message as handled without a step: its sender was over the flood limit.
    pub async fn mark_inbound_limited(&self, id: i64, now_ms: i64) -> Result<(), StoreError> {
        on_pool!(self, pool => {
            sqlx::query("UPDATE inbound SET processed_at = $1, limited = TRUE WHERE id = $2")
                .bind(now_ms)
                .bind(id)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// When the person last wrote on a channel, and whether she opted out.
    pub async fn channel_contact(
        &self,
        channel: &str,
        contact: &str,
    ) -> Result<(Option<i64>, bool), StoreError> {
        let row: Option<(Option<i64>, Option<i64>)> = on_pool!(self, pool => {
            sqlx::query(
                "SELECT last_inbound_at, opted_out_at FROM channel_contacts WHERE channel = $1 AND contact_key = $2",
            )
            .bind(channel)
            .bind(self.key(contact))
            .fetch_optional(pool)
            .await?
            .map(|r| -> Result<_, sqlx::Error> { Ok((r.try_get("last_inbound_at")?, r.try_get("opted_out_at")?)) })
            .transpose()?
        });
        Ok(row.map_or((None, false), |(last, out)| (last, out.is_some())))
    }

    /// Records (`Some(now)`) or clears (`None`) a carrier opt-out such as SMS "STOP".
    pub async fn set_opted_out(
        &self,
        channel: &str,
        contact: &str,
        at: Option<i64>,
    ) -> Result<(), StoreError> {
        on_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO channel_contacts (channel, contact_key, opted_out_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (channel, contact_key) DO UPDATE SET opted_out_at = excluded.opted_out_at",
            )
            .bind(channel)
            .bind(self.key(contact))
            .bind(at)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Attachment references of a conversation: (kind, reference), oldest first.
    pub async fn attachments_of(&self, conversation_id: &str) -> Result<Vec<(String, String)>, StoreError> {
        let rows = on_pool!(self, pool => {
            sqlx::query("SELECT kind, reference FROM attachments WHERE conversation_id = $1 ORDER BY id")
                .bind(conversation_id)
                .fetch_all(pool)
                .await?
                .into_iter()
                .map(|r| -> Result<(String, String), sqlx::Error> { Ok((r.try_get("kind")?, r.try_get("reference")?)) })
                .collect::<Result<Vec<_>, _>>()?
        });
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(provider_id: Option<&str>) -> Inbound {
        Inbound {
            channel: "sms".into(),
            provider_id: provider_id.map(str::to_string),
            contact: "+620000".into(),
            event: InboundEvent::Text { text: "halo".into() },
            lang_hint: None,
        }
    }

    #[tokio::test]
    async fn one_insert_tells_new_messages_from_redeliveries() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&format!("sqlite:{}", dir.path().join("t.db").display())).await.unwrap();
        let first = store.accept_inbound_many(&[message(Some("a")), message(None)], 1).await.unwrap();
        assert!(matches!(first[..], [Accepted::New(_), Accepted::New(_)]), "{first:?}");
        // Stored before, twice in one batch, none, new: only the first of each id is stored.
        let batch =
            [message(Some("a")), message(Some("b")), message(Some("b")), message(None), message(Some("c"))];
        let stored = store.accept_inbound_many(&batch, 2).await.unwrap();
        assert!(
            matches!(
                stored[..],
                [Accepted::Duplicate, Accepted::New(b), Accepted::Duplicate, Accepted::New(n), Accepted::New(c)]
                    if b < n && n < c
            ),
            "{stored:?}"
        );
        assert_eq!(store.channel_contact("sms", "+620000").await.unwrap(), (Some(2), false));
        let pending = store.pending_inbound(10).await.unwrap();
        let ids: Vec<Option<&str>> = pending.iter().map(|p| p.inbound.provider_id.as_deref()).collect();
        assert_eq!(ids, [Some("a"), None, Some("b"), None, Some("c")]);
    }
}
