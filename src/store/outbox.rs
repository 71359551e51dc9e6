//! The outbox: every send is a row, claimed by the dispatcher, retried until it is delivered or
//! known to be impossible.

use sqlx::Row;

use super::{Store, StoreError, on_pool};
use crate::channel::{Outgoing, OutgoingPayload};

/// Lanes, most urgent first: counselor notifications and emergencies never wait behind replies.
pub mod lane {
    /// Escalations and emergency traffic.
    pub const URGENT: i64 = 0;
    /// Replies in a conversation.
    pub const REPLY: i64 = 1;
    /// Broadcasts and reminders.
    pub const BULK: i64 = 2;
}

/// Queues `(channel, address, payload)` messages on the urgent lane inside an open
/// transaction, so they are sent if and only if the step that made them commits.
macro_rules! queue_urgent {
    ($store:expr, $tx:expr, $messages:expr, $now:expr) => {
        for (channel, contact, payload) in $messages {
            let json = $store.seal(&serde_json::to_string(payload).unwrap_or_default());
            sqlx::query(
                "INSERT INTO outbox (channel, contact_key, conversation_id, lane, payload, status, attempts, \
                 next_attempt_at, created_at, updated_at, contact_sealed) \
                 VALUES ($1, $2, NULL, $3, $4, 'queued', 0, $5, $5, $5, $6)",
            )
            .bind(channel)
            .bind($store.key(contact))
            .bind($crate::store::outbox::lane::URGENT)
            .bind(&json)
            .bind($now)
            .bind($store.seal(contact))
            .execute(&mut *$tx)
            .await?;
        }
    };
}
pub(crate) use queue_urgent;

/// An outbox row as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxRow {
    /// Id (idempotency key).
    pub id: i64,
    /// Channel.
    pub channel: String,
    /// Address.
    pub contact: String,
    /// `queued`, `sending`, `sent`, `delivered`, `read`, `failed` or `refused`.
    pub status: String,
    /// Attempts made.
    pub attempts: i64,
    /// Provider ids, comma-separated, once sent.
    pub provider_message_id: Option<String>,
    /// Why it failed or was refused, or the last temporary error.
    pub error: Option<String>,
    /// What to send.
    pub payload: OutgoingPayload,
}

const COLUMNS: &str = "id, channel, contact_sealed, status, attempts, provider_message_id, error, payload";

/// A claimed row with when she last wrote and whether she opted out.
type Claimed = ((OutboxRow, String), Option<i64>, bool);

fn claimed<R: Row>(r: R) -> Result<Claimed, sqlx::Error>
where
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<String>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<i64>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    let last: Option<i64> = r.try_get("last_inbound_at")?;
    let out: Option<i64> = r.try_get("opted_out_at")?;
    Ok((row(r)?, last, out.is_some()))
}

/// One lane's due heads: a chat's oldest unfinished row, if it is due.
fn heads(lane: i64, sqlite: bool) -> String {
    let (by_due, by_chat, lock) = if sqlite {
        (" INDEXED BY outbox_lane_due", " INDEXED BY outbox_chat_waiting", "")
    } else {
        ("", "", " FOR UPDATE SKIP LOCKED")
    };
    format!(
        "SELECT o.id, o.next_attempt_at FROM outbox o{by_due} WHERE o.status IN ('queued', 'sending') \
         AND o.lane = {lane} AND o.next_attempt_at <= $2 \
         AND NOT EXISTS (SELECT 1 FROM outbox e{by_chat} WHERE e.channel = o.channel AND e.contact_key = o.contact_key \
         AND e.id < o.id AND e.status IN ('queued', 'sending')) \
         ORDER BY o.next_attempt_at, o.id LIMIT $3{lock}"
    )
}

/// The next later due time, lane by lane: each a seek in `outbox_lane_due`.
static NEXT_DUE: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let lane = |lane: i64| {
        format!(
            "SELECT MIN(next_attempt_at) AS due FROM outbox WHERE status IN ('queued', 'sending') \
             AND lane = {lane} AND next_attempt_at > $1"
        )
    };
    format!(
        "SELECT MIN(due) FROM ({} UNION ALL {} UNION ALL {}) d",
        lane(lane::URGENT),
        lane(lane::REPLY),
        lane(lane::BULK)
    )
});

/// The claim on PostgreSQL: locked heads per lane (a set operation may not lock, a `WITH`
/// part may), the urgent first, leased in the same statement.
static CLAIM_PG: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "WITH u AS ({}), r AS ({}), b AS ({}), \
         picked AS (SELECT id FROM (SELECT 0 AS rank, id, next_attempt_at FROM u \
         UNION ALL SELECT 1, id, next_attempt_at FROM r UNION ALL SELECT 2, id, next_attempt_at FROM b) h \
         ORDER BY rank, next_attempt_at, id LIMIT $3), \
         claimed AS (UPDATE outbox SET status = 'sending', next_attempt_at = $1, updated_at = $2 \
         WHERE id IN (SELECT id FROM picked) RETURNING outbox.{}, outbox.contact_key) \
         SELECT k.*, c.last_inbound_at, c.opted_out_at FROM claimed k LEFT JOIN channel_contacts c \
         ON c.channel = k.channel AND c.contact_key = k.contact_key",
        heads(lane::URGENT, false),
        heads(lane::REPLY, false),
        heads(lane::BULK, false),
        COLUMNS.replace(", ", ", outbox."),
    )
});

/// The claim on SQLite (one writer: nothing to lock).
static CLAIM_SQLITE: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "UPDATE outbox SET status = 'sending', next_attempt_at = $1, updated_at = $2 WHERE id IN \
         (SELECT id FROM (SELECT 0 AS rank, id, next_attempt_at FROM ({}) \
         UNION ALL SELECT 1, id, next_attempt_at FROM ({}) UNION ALL SELECT 2, id, next_attempt_at FROM ({})) \
         ORDER BY rank, next_attempt_at, id LIMIT $3) RETURNING id",
        heads(lane::URGENT, true),
        heads(lane::REPLY, true),
        heads(lane::BULK, true),
    )
});

fn row<R: Row>(r: R) -> Result<(OutboxRow, String), sqlx::Error>
where
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<String>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    // The payload is sealed: the caller opens and parses it (`Store::opened`).
    let payload: String = r.try_get("payload")?;
    let parsed = OutgoingPayload::ClearChat { message_ids: Vec::new(), pending: Vec::new() };
    Ok((
        OutboxRow {
            id: r.try_get("id")?,
            channel: r.try_get("channel")?,
            contact: r.try_get::<Option<String>, _>("contact_sealed")?.unwrap_or_default(),
            status: r.try_get("status")?,
            attempts: r.try_get("attempts")?,
            provider_message_id: r.try_get("provider_message_id")?,
            error: r.try_get("error")?,
            payload: parsed,
        },
        payload,
    ))
}

impl Store {
    /// Claims up to `limit` rows due now, most urgent lane first, leasing them for `lease_ms`
    /// so a crashed sender's rows come back by themselves. Only a chat's oldest unfinished row
    /// is taken (the urgent lane orders chats, never the messages within one), so a chat's
    /// messages arrive in order even across instances.
    pub async fn claim_outbox(
        &self,
        now_ms: i64,
        limit: i64,
        lease_ms: i64,
    ) -> Result<Vec<Outgoing>, StoreError> {
        // Each lane's due heads (a range of `outbox_lane_due`, so rows in flight or waiting
        // to retry are never visited), the most urgent first, leased in one statement: seven
        // round trips a claim were most of a busy dispatcher's database time.
        let mut found = match self.db() {
            super::Db::Postgres(pool) => sqlx::query(&CLAIM_PG)
                .bind(now_ms + lease_ms)
                .bind(now_ms)
                .bind(limit)
                .fetch_all(pool)
                .await?
                .into_iter()
                .map(claimed)
                .collect::<Result<Vec<_>, _>>()?,
            super::Db::Sqlite(pool) => {
                let ids: Vec<i64> = {
                    let _writing = self.writing().await;
                    sqlx::query_scalar(&CLAIM_SQLITE)
                        .bind(now_ms + lease_ms)
                        .bind(now_ms)
                        .bind(limit)
                        .fetch_all(pool)
                        .await?
                };
                // Read after the write, outside the writer's turn: SQLite's `RETURNING` cannot
                // look the contact up by index.
                if ids.is_empty() {
                    return Ok(Vec::new());
                }
                let sql = format!(
                    "SELECT o.{}, o.lane, c.last_inbound_at, c.opted_out_at FROM outbox o LEFT JOIN channel_contacts c \
                     ON c.channel = o.channel AND c.contact_key = o.contact_key WHERE o.id IN ({})",
                    COLUMNS.replace(", ", ", o."),
                    super::placeholders(1, ids.len())
                );
                let mut query = sqlx::query(&sql);
                for id in &ids {
                    query = query.bind(id);
                }
                query.fetch_all(pool).await?.into_iter().map(claimed).collect::<Result<Vec<_>, _>>()?
            }
        };
        // A chat's rows are claimed one at a time, so id order is the order they were queued.
        found.sort_unstable_by_key(|((row, _), _, _)| row.id);
        let mut out = Vec::with_capacity(found.len());
        for (raw, last_inbound_at, opted_out) in found {
            let mut row = self.opened(raw)?;
            if let OutgoingPayload::ClearChat { message_ids, pending } = &mut row.payload
                && !pending.is_empty()
            {
                let mut ids = self.provider_ids_of(pending).await?;
                ids.retain(|id| !message_ids.contains(id));
                ids.append(message_ids);
                *message_ids = ids;
                pending.clear();
            }
            out.push(Outgoing {
                id: row.id,
                channel: row.channel,
                contact: row.contact,
                payload: row.payload,
                last_inbound_at,
                opted_out: Some(opted_out),
                now_ms,
                attempts: row.attempts,
            });
        }
        Ok(out)
    }

    /// The provider ids of the rows `ids` that were sent, newest first.
    async fn provider_ids_of(&self, ids: &[i64]) -> Result<Vec<String>, StoreError> {
        let sql = format!(
            "SELECT provider_message_id FROM outbox WHERE id IN ({}) \
             AND status IN ('sent', 'delivered', 'read') ORDER BY id DESC",
            super::placeholders(1, ids.len())
        );
        let found: Vec<Option<String>> = on_pool!(self, pool => {
            let mut query = sqlx::query_scalar(&sql);
            for id in ids {
                query = query.bind(id);
            }
            query.fetch_all(pool).await?
        });
        Ok(found
            .into_iter()
            .flatten()
            .flat_map(|ids| ids.split(',').map(str::to_string).collect::<Vec<_>>())
            .collect())
    }

    /// Records a delivered send.
    pub async fn outbox_sent(&self, id: i64, provider_ids: &[String], now_ms: i64) -> Result<(), StoreError> {
        self.outbox_sent_many(&[(id, provider_ids.to_vec())], now_ms).await
    }

    /// Records several delivered sends in one transaction (one commit for a busy second's
    /// sends instead of one each).
    pub async fn outbox_sent_many(&self, sent: &[(i64, Vec<String>)], now_ms: i64) -> Result<(), StoreError> {
        if sent.is_empty() {
            return Ok(());
        }
        // One statement for the lot (each statement costs a round trip, and on PostgreSQL
        // most of a send's database time).
        let rows = (0..sent.len())
            .map(|i| format!("(CAST(${} AS BIGINT), CAST(${} AS TEXT))", 2 * i + 2, 2 * i + 3))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "UPDATE outbox SET status = 'sent', attempts = attempts + 1, provider_message_id = v.column2, \
             error = NULL, updated_at = $1 FROM (VALUES {rows}) AS v WHERE outbox.id = v.column1"
        );
        let _writing = self.writing().await;
        on_pool!(self, pool => {
            let mut query = sqlx::query(&sql).bind(now_ms);
            for (id, provider_ids) in sent {
                query = query.bind(*id).bind((!provider_ids.is_empty()).then(|| provider_ids.join(",")));
            }
            query.execute(pool).await?;
        });
        Ok(())
    }

    /// Puts a row back in the queue after a temporary failure.
    pub async fn outbox_retry(
        &self,
        id: i64,
        next_ms: i64,
        error: &str,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        on_pool!(self, pool => {
            sqlx::query(
                "UPDATE outbox SET status = 'queued', attempts = attempts + 1, next_attempt_at = $1, error = $2, \
                 updated_at = $3 WHERE id = $4",
            )
            .bind(next_ms)
            .bind(error)
            .bind(now_ms)
            .bind(id)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Hands claimed rows back unsent, due at `next_ms` (behind an earlier row being retried).
    pub async fn outbox_release(&self, ids: &[i64], next_ms: i64, now_ms: i64) -> Result<(), StoreError> {
        if ids.is_empty() {
            return Ok(());
        }
        let sql = format!(
            "UPDATE outbox SET status = 'queued', next_attempt_at = $1, updated_at = $2 WHERE id IN ({})",
            super::placeholders(3, ids.len())
        );
        on_pool!(self, pool => {
            let mut query = sqlx::query(&sql).bind(next_ms).bind(now_ms);
            for id in ids {
                query = query.bind(id);
            }
            query.execute(pool).await?;
        });
        Ok(())
    }

    /// Ends a row for good: `failed` (tried and impossible) or `refused` (not attempted).
    pub async fn outbox_give_up(
        &self,
        id: i64,
        status: &str,
        reason: &str,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        on_pool!(self, pool => {
            sqlx::query(
                "UPDATE outbox SET status = $1, attempts = attempts + 1, error = $2, updated_at = $3 WHERE id = $4",
            )
            .bind(status)
            .bind(reason)
            .bind(now_ms)
            .bind(id)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Applies a provider's delivery status (`delivered`, `read`, `failed`) to the row it sent;
    /// returns whether a row matched. A status never moves a row backwards.
    pub async fn outbox_status(
        &self,
        channel: &str,
        provider_id: &str,
        status: &str,
        error: Option<&str>,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let rank = |s: &str| match s {
            "sent" => 1,
            "delivered" => 2,
            "read" => 3,
            "failed" => 4,
            _ => 0,
        };
        let current: Option<(i64, String)> = on_pool!(self, pool => {
            sqlx::query(
                "SELECT id, status FROM outbox WHERE channel = $1 AND (provider_message_id = $2 \
                 OR provider_message_id LIKE $3 OR provider_message_id LIKE $4 OR provider_message_id LIKE $5)",
            )
            .bind(channel)
            .bind(provider_id)
            .bind(format!("{provider_id},%"))
            .bind(format!("%,{provider_id}"))
            .bind(format!("%,{provider_id},%"))
            .fetch_optional(pool)
            .await?
            .map(|r| -> Result<(i64, String), sqlx::Error> { Ok((r.try_get("id")?, r.try_get("status")?)) })
            .transpose()?
        });
        let Some((id, old)) = current else { return Ok(false) };
        if rank(status) > rank(&old) {
            on_pool!(self, pool => {
                sqlx::query("UPDATE outbox SET status = $1, error = COALESCE($2, error), updated_at = $3 WHERE id = $4")
                    .bind(status)
                    .bind(error)
                    .bind(now_ms)
                    .bind(id)
                    .execute(pool)
                    .await?;
            });
        }
        Ok(true)
    }

    /// Whether the newest message queued for an address came from outside her flow (a
    /// counselor's words or news of her case) rather than from a flow step.
    pub async fn counselor_spoke_last(&self, channel: &str, contact: &str) -> Result<bool, StoreError> {
        let newest: Option<Option<String>> = on_pool!(self, pool => {
            sqlx::query_scalar(
                "SELECT conversation_id FROM outbox WHERE channel = $1 AND contact_key = $2 ORDER BY id DESC LIMIT 1",
            )
            .bind(channel)
            .bind(self.key(contact))
            .fetch_optional(pool)
            .await?
        });
        Ok(matches!(newest, Some(None)))
    }

    /// Outbox rows for one address, oldest first (for operators and tests).
    pub async fn outbox_for(&self, channel: &str, contact: &str) -> Result<Vec<OutboxRow>, StoreError> {
        let rows = on_pool!(self, pool => {
            sqlx::query(&format!("SELECT {COLUMNS} FROM outbox WHERE channel = $1 AND contact_key = $2 ORDER BY id"))
                .bind(channel)
                .bind(self.key(contact))
                .fetch_all(pool)
                .await?
                .into_iter()
                .map(row)
                .collect::<Result<Vec<_>, _>>()?
        });
        rows.into_iter().map(|r| self.opened(r)).collect()
    }

    /// An outbox row with its sealed payload opened. A payload that no longer parses (written
    /// by an incompatible version) becomes an empty chat-clearing, which sends nothing.
    fn opened(&self, (mut row, raw): (OutboxRow, String)) -> Result<OutboxRow, StoreError> {
        let json = self.unseal(&raw)?;
        row.contact = self.unseal(&row.contact)?;
        row.payload = serde_json::from_str(&json)
            .unwrap_or(OutgoingPayload::ClearChat { message_ids: Vec::new(), pending: Vec::new() });
        Ok(row)
    }

    /// When the next row waiting for a later time (a retry, a lease) comes due, if any. Rows
    /// due already are not counted: they wait behind a message in flight, whose end wakes the
    /// dispatcher.
    pub async fn next_outbox_due(&self, now_ms: i64) -> Result<Option<i64>, StoreError> {
        Ok(on_pool!(self, pool => {
            sqlx::query_scalar(&NEXT_DUE)
            .bind(now_ms)
            .fetch_one(pool)
            .await?
        }))
    }

    /// Rows waiting to be sent, and the age in ms of the oldest.
    pub async fn outbox_depth(&self, now_ms: i64) -> Result<(i64, i64), StoreError> {
        let (count, oldest): (i64, Option<i64>) = on_pool!(self, pool => {
            let r = sqlx::query("SELECT COUNT(*) AS n, MIN(created_at) AS oldest FROM outbox WHERE status IN ('queued', 'sending')")
                .fetch_one(pool)
                .await?;
            (r.try_get("n")?, r.try_get("oldest")?)
        });
        Ok((count, oldest.map_or(0, |o| now_ms - o)))
    }
}
