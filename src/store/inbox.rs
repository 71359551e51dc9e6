//! The inbox (every inbound message, stored before the webhook answers), per-contact channel
//! state, and attachment references.

use sqlx::Row;

use super::{Conversation, Store, StoreError, on_pool};
use crate::channel::{Inbound, InboundEvent};
use crate::flow::State;

/// An inbound message waiting to be processed.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingInbound {
    /// Inbox id; processing order within a conversation.
    pub id: i64,
    /// The message.
    pub inbound: Inbound,
    /// What its step needs to know about the sender, read with the claim (`None` when the
    /// message was only listed).
    pub context: Option<SenderContext>,
}

/// A claimed message's sender as the claim found her: each of these was a statement of
/// its own per message, and a statement is a round trip worth more than the step itself.
#[derive(Debug, Clone, PartialEq)]
pub struct SenderContext {
    /// Her conversation.
    pub conversation: StoredConversation,
    /// Messages she sent since the claim's `recent_since_ms`, up to and including this one.
    pub recent: i64,
    /// Whether the newest message queued for her came from outside her flow.
    pub counselor_spoke_last: bool,
    /// Whether a counselor holds one of her cases, so her words may be relayed.
    pub in_relay: bool,
}

/// A conversation as a claim read it.
#[derive(Debug, Clone, PartialEq)]
pub enum StoredConversation {
    /// She has none yet.
    Absent,
    /// Read and opened.
    Found(Box<Conversation>),
    /// Stored but unreadable: the step reads it again and decides.
    Unreadable,
}

type Row6 = (i64, String, Option<String>, Option<String>, Option<String>, String);

/// A sender's context as its columns came.
struct RawContext {
    conversation: Option<(String, String, i64)>,
    recent: i64,
    counselor_last: bool,
    in_relay: bool,
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

// In PostgreSQL, SKIP LOCKED lets instances claim side by side; a message whose conversation
// has an earlier unprocessed message is never taken, even one another instance is claiming right
// now, so no two instances step one conversation. Both parts walk indexes of waiting rows only
// (migration 0017), whatever the inbox has seen before.
macro_rules! claim {
    ($lock:literal) => {
        concat!(
            "UPDATE inbound SET claimed_until = $1 WHERE id IN (SELECT i.id FROM inbound i \
             WHERE i.processed_at IS NULL AND (i.claimed_until IS NULL OR i.claimed_until <= $2) \
             AND NOT EXISTS (SELECT 1 FROM inbound e WHERE e.channel = i.channel AND e.contact_key = i.contact_key \
             AND e.id < i.id AND e.processed_at IS NULL) ORDER BY i.id LIMIT $3",
            $lock,
            ") RETURNING id"
        )
    };
}
const CLAIM_PG: &str = claim!(" FOR UPDATE OF i SKIP LOCKED");
const CLAIM_SQLITE: &str = claim!("");

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
        self.inbound_rows(&ids, None).await
    }

    /// Leases up to `limit` messages for `lease_ms`: the oldest unprocessed message of each
    /// conversation whose earlier messages are all done and that nobody else holds. A crashed
    /// instance's lease runs out and another takes the message over. Each comes with its
    /// sender's context, counting her messages since `recent_since_ms`.
    pub async fn claim_inbound(
        &self,
        now_ms: i64,
        limit: i64,
        lease_ms: i64,
        recent_since_ms: i64,
    ) -> Result<Vec<PendingInbound>, StoreError> {
        let sql = match self.db() {
            super::Db::Postgres(_) => CLAIM_PG,
            super::Db::Sqlite(_) => CLAIM_SQLITE,
        };
        let ids: Vec<i64> = {
            let _writing = self.writing().await;
            on_pool!(self, pool => {
                sqlx::query_scalar(sql).bind(now_ms + lease_ms).bind(now_ms).bind(limit).fetch_all(pool).await?
            })
        };
        self.inbound_rows(&ids, Some(recent_since_ms)).await
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

    /// The rows `ids`, oldest first; with `recent_since_ms`, each with its sender's context,
    /// all in one statement.
    async fn inbound_rows(
        &self,
        ids: &[i64],
        recent_since_ms: Option<i64>,
    ) -> Result<Vec<PendingInbound>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let context = match recent_since_ms {
            // Every part goes by an index on (channel, contact_key, ...), one lookup per row.
            Some(_) => {
                ", c.id AS conversation_id, c.state, c.version, \
                 (SELECT COUNT(*) FROM inbound e WHERE e.channel = i.channel AND e.contact_key = i.contact_key \
                 AND e.received_at >= $1 AND e.id <= i.id) AS recent, \
                 CAST(COALESCE((SELECT CASE WHEN o.conversation_id IS NULL THEN 1 ELSE 0 END FROM outbox o \
                 WHERE o.channel = i.channel AND o.contact_key = i.contact_key ORDER BY o.id DESC LIMIT 1), 0) AS BIGINT) \
                 AS counselor_last, \
                 CAST(CASE WHEN EXISTS (SELECT 1 FROM cases k WHERE k.conversation_id = c.id AND k.accepted_by IS NOT NULL \
                 AND k.status IN ('accepted', 'in_progress')) THEN 1 ELSE 0 END AS BIGINT) AS in_relay \
                 FROM inbound i LEFT JOIN conversations c ON c.channel = i.channel AND c.contact_key = i.contact_key"
            }
            None => " FROM inbound i",
        };
        let first = if recent_since_ms.is_some() { 2 } else { 1 };
        let sql = format!(
            "SELECT i.id, i.channel, i.provider_id, i.contact_sealed, i.lang_hint, i.payload{context} \
             WHERE i.id IN ({}) ORDER BY i.id",
            super::placeholders(first, ids.len())
        );
        let rows: Vec<(Row6, Option<RawContext>)> = on_pool!(self, pool => {
            let mut query = sqlx::query(&sql);
            if let Some(since) = recent_since_ms {
                query = query.bind(since);
            }
            for id in ids {
                query = query.bind(id);
            }
            query
                .fetch_all(pool)
                .await?
                .into_iter()
                .map(|r| -> Result<_, sqlx::Error> {
                    let row: Row6 = (
                        r.try_get("id")?,
                        r.try_get("channel")?,
                        r.try_get("provider_id")?,
                        r.try_get("contact_sealed")?,
                        r.try_get("lang_hint")?,
                        r.try_get("payload")?,
                    );
                    let context = match recent_since_ms {
                        Some(_) => Some(RawContext {
                            conversation: match r.try_get::<Option<String>, _>("conversation_id")? {
                                Some(id) => Some((id, r.try_get("state")?, r.try_get("version")?)),
                                None => None,
                            },
                            recent: r.try_get("recent")?,
                            counselor_last: r.try_get::<i64, _>("counselor_last")? == 1,
                            in_relay: r.try_get::<i64, _>("in_relay")? == 1,
                        }),
                        None => None,
                    };
                    Ok((row, context))
                })
                .collect::<Result<Vec<_>, _>>()?
        });
        rows.into_iter()
            .map(|((id, channel, provider_id, contact, lang_hint, payload), raw)| {
                let payload = self.unseal(&payload)?;
                let contact = self.unseal(&contact.unwrap_or_default())?;
                let event: InboundEvent = serde_json::from_str(&payload).map_err(|e| {
                    StoreError::CorruptState { id: format!("inbound {id}"), message: e.to_string() }
                })?;
                let context = raw.map(|raw| self.sender_context(raw, &channel, &contact));
                Ok(PendingInbound {
                    id,
                    inbound: Inbound { channel, provider_id, contact, event, lang_hint },
                    context,
                })
            })
            .collect()
    }

    fn sender_context(&self, raw: RawContext, channel: &str, contact: &str) -> SenderContext {
        let conversation = match raw.conversation {
            None => StoredConversation::Absent,
            Some((id, sealed, version)) => {
                let state = self.unseal(&sealed).ok().and_then(|s| serde_json::from_str::<State>(&s).ok());
                match state {
                    Some(state) => StoredConversation::Found(Box::new(Conversation {
                        id,
                        channel: channel.to_string(),
                        contact_key: contact.to_string(),
                        state,
                        version,
                    })),
                    None => StoredConversation::Unreadable,
                }
            }
        };
        SenderContext {
            conversation,
            recent: raw.recent,
            counselor_spoke_last: raw.counselor_last,
            in_relay: raw.in_relay,
        }
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

    #[tokio::test]
    async fn a_claim_brings_what_the_step_needs_to_know_about_her() {
        use crate::channel::OutgoingPayload;
        use crate::flow::{Effect, Reply, State};
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&format!("sqlite:{}", dir.path().join("t.db").display())).await.unwrap();
        let reply = |text: &str| Reply { text: text.into(), choices: Vec::new(), expect: None };

        store.accept_inbound_many(&[message(Some("a"))], 1_000).await.unwrap();
        let first = store.claim_inbound(1_000, 10, 5_000, 0).await.unwrap();
        let context = first[0].context.clone().unwrap();
        assert_eq!(context.conversation, StoredConversation::Absent);
        assert_eq!((context.recent, context.counselor_spoke_last, context.in_relay), (1, false, false));

        // Her step answers her (a flow's words), then a counselor's words are queued.
        let conversation = Conversation::new("sms", "+620000", State::new("id"));
        let write = super::super::StepWrite { inbound_id: Some(first[0].id), outbox: true, attachment: None };
        let effects = [Effect::Send(reply("halo"))];
        store.commit_with(&conversation, &State::new("id"), &effects, 1_100, &write).await.unwrap();
        store.accept_inbound_many(&[message(Some("b"))], 2_000).await.unwrap();
        let second = store.claim_inbound(2_000, 10, 5_000, 0).await.unwrap();
        let context = second[0].context.clone().unwrap();
        let StoredConversation::Found(found) = &context.conversation else {
            panic!("{:?}", context.conversation);
        };
        assert_eq!(
            (found.id.as_str(), found.version, found.contact_key.as_str()),
            (conversation.id.as_str(), 1, "+620000")
        );
        assert_eq!((context.recent, context.counselor_spoke_last), (2, false));
        store.release_inbound(second[0].id).await.unwrap();

        store
            .queue_messages(
                &[("sms".into(), "+620000".into(), OutgoingPayload::Reply(reply("konselor")))],
                2_100,
            )
            .await
            .unwrap();
        // Only messages since the window's start count.
        let again = store.claim_inbound(2_200, 10, 5_000, 1_500).await.unwrap();
        let context = again[0].context.clone().unwrap();
        assert_eq!((context.recent, context.counselor_spoke_last), (1, true));
        store.release_inbound(again[0].id).await.unwrap();

        // A state that no longer opens is left to the step, not a failed claim.
        on_pool!(store, pool => {
            sqlx::query("UPDATE conversations SET state = 'not sealed'").execute(pool).await.unwrap();
        });
        let broken = store.claim_inbound(2_300, 10, 5_000, 0).await.unwrap();
        assert_eq!(broken[0].context.as_ref().unwrap().conversation, StoredConversation::Unreadable);
        // Listing, not claiming, reads no context.
        assert_eq!(store.pending_inbound(10).await.unwrap()[0].context, None);
    }

    #[tokio::test]
    async fn a_claim_walks_only_the_messages_still_waiting() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&format!("sqlite:{}", dir.path().join("t.db").display())).await.unwrap();
        let on_sqlite = |sql: String| {
            let store = store.clone();
            async move {
                on_pool!(store, pool => {
                    let rows: Vec<(i64, i64, i64, String)> =
                        sqlx::query_as(&format!("EXPLAIN QUERY PLAN {sql}")).fetch_all(pool).await.unwrap();
                    rows.into_iter().map(|r| r.3).collect::<Vec<_>>().join("\n")
                })
            }
        };
        let plan = on_sqlite(CLAIM_SQLITE.into()).await;
        assert!(plan.contains("USING INDEX inbound_waiting"), "{plan}");
        assert!(
            plan.contains("USING INDEX inbound_waiting_sender (channel=? AND contact_key=? AND id<?)"),
            "{plan}"
        );
        assert!(!plan.lines().any(|l| l.contains("SCAN") && !l.contains("inbound_waiting")), "{plan}");

        // A processed message leaves both indexes; the next of hers is claimable at once.
        store.accept_inbound_many(&[message(Some("a")), message(Some("b"))], 1).await.unwrap();
        let first = store.claim_inbound(10, 10, 5_000, 0).await.unwrap();
        assert_eq!(first.len(), 1, "only her oldest message");
        let conversation = Conversation::new("sms", "+620000", State::new("id"));
        let write =
            super::super::StepWrite { inbound_id: Some(first[0].id), outbox: false, attachment: None };
        store.commit_with(&conversation, &State::new("id"), &[], 20, &write).await.unwrap();
        let next = store.claim_inbound(30, 10, 5_000, 0).await.unwrap();
        assert_eq!((next.len(), next[0].id > first[0].id), (1, true));
    }
}
