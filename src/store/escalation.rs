//! Escalation chains and counselor notifications in the database.

use sqlx::Row;

use super::{Store, StoreError, on_pool};
use crate::channel::OutgoingPayload;
use crate::store::outbox::queue_urgent;

/// An escalation due for its next step.
#[derive(Debug, Clone, PartialEq)]
pub struct DueEscalation {
    /// Case id.
    pub case_id: String,
    /// Policy name.
    pub policy: String,
    /// The stored chain (JSON), `None` before it started.
    pub chain: Option<String>,
    /// The step sequence the wake-up belongs to.
    pub wake_seq: Option<i64>,
    /// When the next step is due.
    pub due_at: Option<i64>,
    /// `pending`, `running`, `accepted`, `exhausted` or `failed`.
    pub status: String,
    /// The row's version: a write commits only over the version it read.
    pub version: i64,
}

const ESCALATION_COLUMNS: &str = "case_id, policy, chain, wake_seq, due_at, status, version";

fn escalation_row<R: Row>(r: R) -> Result<DueEscalation, sqlx::Error>
where
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<String>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<i64>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    Ok(DueEscalation {
        case_id: r.try_get("case_id")?,
        policy: r.try_get("policy")?,
        chain: r.try_get("chain")?,
        wake_seq: r.try_get("wake_seq")?,
        due_at: r.try_get("due_at")?,
        status: r.try_get("status")?,
        version: r.try_get("version")?,
    })
}

/// A notification sent to a counselor, with the code she replies with.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    /// Case id.
    pub case_id: String,
    /// Counselor id.
    pub counselor_id: String,
    /// Chain step that sent it.
    pub step_seq: i64,
    /// Reply code, e.g. `4821`.
    pub code: String,
}

/// Everything one escalation step writes, in one transaction.
#[derive(Debug, Clone, Default)]
pub struct EscalationWrite {
    /// The version of the row this write was computed from.
    pub version: i64,
    /// Commit only while nobody has accepted the case (a timeout must not notify anyone
    /// after an acceptance it did not see).
    pub unless_accepted: bool,
    /// Leave the chain row alone: notes, relayed messages and closing only add to the case.
    pub keep_chain: bool,
    /// New chain JSON.
    pub chain: Option<String>,
    /// `running`, `accepted` or `exhausted`.
    pub status: String,
    /// Next wake-up and its step sequence; `None` when nothing more is scheduled.
    pub wake: Option<(i64, i64)>,
    /// Notifications sent.
    pub notifications: Vec<Notification>,
    /// Messages to queue: channel, address, payload.
    pub messages: Vec<(String, String, OutgoingPayload)>,
    /// Timeline events: kind and detail.
    pub events: Vec<(String, Option<String>)>,
    /// New case status, if it changes.
    pub case_status: Option<String>,
    /// The provider the case now goes to, if escalation re-routed it.
    pub provider: Option<String>,
    /// Words relayed between her and her counselor, kept (sealed) as the case's transcript.
    pub relay: Vec<RelayLine>,
}

/// One relayed message of a case's transcript.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayLine {
    /// `survivor` or `counselor`.
    pub sender: String,
    /// The counselor's id (or `user:<name>` from the console) when she wrote it.
    pub author: Option<String>,
    /// What was written.
    pub text: String,
}

impl Store {
    /// Escalations whose next step is due, oldest first.
    pub async fn due_escalations(&self, now_ms: i64, limit: i64) -> Result<Vec<DueEscalation>, StoreError> {
        let sql = format!(
            "SELECT {ESCALATION_COLUMNS} FROM escalations \
             WHERE due_at IS NOT NULL AND due_at <= $1 ORDER BY due_at, case_id LIMIT $2"
        );
        let rows = on_pool!(self, pool => {
            sqlx::query(&sql)
                .bind(now_ms)
                .bind(limit)
                .fetch_all(pool)
                .await?
                .into_iter()
                .map(escalation_row)
                .collect::<Result<Vec<_>, _>>()?
        });
        Ok(rows)
    }

    /// The stored chain of a case's escalation.
    pub async fn escalation_of(&self, case_id: &str) -> Result<Option<DueEscalation>, StoreError> {
        let sql = format!("SELECT {ESCALATION_COLUMNS} FROM escalations WHERE case_id = $1");
        let row = on_pool!(self, pool => {
            sqlx::query(&sql).bind(case_id).fetch_optional(pool).await?.map(escalation_row).transpose()?
        });
        Ok(row)
    }

    /// Writes an escalation step: chain, next wake-up, notifications, queued messages and
    /// timeline, all or nothing. Returns `false`, writing nothing, when the row moved on since
    /// `write.version` was read (another worker or an acceptance got there first).
    pub async fn save_escalation(
        &self,
        case_id: &str,
        write: &EscalationWrite,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let (due, seq) = match write.wake {
            Some((at, seq)) => (Some(at), Some(seq)),
            None => (None, None),
        };
        let _writing = self.writing().await;
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let moved = if write.keep_chain { 1 } else { sqlx::query(
                "UPDATE escalations SET chain = $1, status = $2, due_at = $3, wake_seq = $4, updated_at = $5, \
                 version = version + 1 WHERE case_id = $6 AND version = $7 \
                 AND ($8 = FALSE OR NOT EXISTS (SELECT 1 FROM cases WHERE id = $6 AND accepted_by IS NOT NULL))",
            )
            .bind(&write.chain)
            .bind(&write.status)
            .bind(due)
            .bind(seq)
            .bind(now_ms)
            .bind(case_id)
            .bind(write.version)
            .bind(write.unless_accepted)
            .execute(&mut *tx)
            .await?
            .rows_affected() };
            if moved == 0 {
                tx.rollback().await?;
                return Ok(false);
            }
            for n in &write.notifications {
                sqlx::query(
                    "INSERT INTO notifications (case_id, counselor_id, step_seq, code, created_at) VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(&n.case_id)
                .bind(&n.counselor_id)
                .bind(n.step_seq)
                .bind(&n.code)
                .bind(now_ms)
                .execute(&mut *tx)
                .await?;
            }
            queue_urgent!(self, tx, &write.messages, now_ms);
            for (kind, detail) in &write.events {
                // A note is a counselor's free text: sealed like everything she wrote.
                let detail = if kind == "note" { detail.as_deref().map(|d| self.seal(d)) } else { detail.clone() };
                sqlx::query("INSERT INTO case_events (case_id, at, kind, detail) VALUES ($1, $2, $3, $4)")
                    .bind(case_id)
                    .bind(now_ms)
                    .bind(kind)
                    .bind(detail)
                    .execute(&mut *tx)
                    .await?;
            }
            for line in &write.relay {
                sqlx::query("INSERT INTO case_messages (case_id, at, sender, author, body) VALUES ($1, $2, $3, $4, $5)")
                    .bind(case_id)
                    .bind(now_ms)
                    .bind(&line.sender)
                    .bind(&line.author)
                    .bind(self.seal(&line.text))
                    .execute(&mut *tx)
                    .await?;
            }
            if let Some(provider) = &write.provider {
                sqlx::query("UPDATE cases SET provider_id = $1 WHERE id = $2")
                    .bind(provider)
                    .bind(case_id)
                    .execute(&mut *tx)
                    .await?;
            }
            if let Some(status) = &write.case_status {
                sqlx::query("UPDATE cases SET status = $1 WHERE id = $2 AND status <> 'closed'")
                    .bind(status)
                    .bind(case_id)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
        });
        Ok(true)
    }

    /// Queues messages outside any escalation step (replies to counselors).
    pub async fn queue_messages(
        &self,
        messages: &[(String, String, OutgoingPayload)],
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let _writing = self.writing().await;
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            queue_urgent!(self, tx, messages, now_ms);
            tx.commit().await?;
        });
        Ok(())
    }

    /// The notification a reply code refers to (the newest, should a code repeat).
    pub async fn notification_by_code(
        &self,
        counselor_id: &str,
        code: &str,
    ) -> Result<Option<Notification>, StoreError> {
        self.notification_where("counselor_id = $1 AND code = $2", counselor_id, Some(code)).await
    }

    /// The newest notification sent to a counselor (what a bare button press answers).
    pub async fn latest_notification(&self, counselor_id: &str) -> Result<Option<Notification>, StoreError> {
        self.notification_where("counselor_id = $1", counselor_id, None).await
    }

    /// The newest notification a counselor had about a case (what a pass from the console
    /// answers).
    pub async fn notification_for_case(
        &self,
        counselor_id: &str,
        case_id: &str,
    ) -> Result<Option<Notification>, StoreError> {
        self.notification_where("counselor_id = $1 AND case_id = $2", counselor_id, Some(case_id)).await
    }

    async fn notification_where(
        &self,
        filter: &str,
        counselor_id: &str,
        second: Option<&str>,
    ) -> Result<Option<Notification>, StoreError> {
        let sql = format!(
            "SELECT case_id, counselor_id, step_seq, code FROM notifications WHERE {filter} ORDER BY id DESC LIMIT 1"
        );
        let row = on_pool!(self, pool => {
            let mut q = sqlx::query(&sql).bind(counselor_id);
            if let Some(second) = second {
                q = q.bind(second);
            }
            q.fetch_optional(pool)
                .await?
                .map(|r| -> Result<Notification, sqlx::Error> {
                    Ok(Notification {
                        case_id: r.try_get("case_id")?,
                        counselor_id: r.try_get("counselor_id")?,
                        step_seq: r.try_get("step_seq")?,
                        code: r.try_get("code")?,
                    })
                })
                .transpose()?
        });
        Ok(row)
    }

    /// The channel, address and language of the person a case came from, unless she withdrew.
    pub async fn case_survivor(&self, case_id: &str) -> Result<Option<(String, String, String)>, StoreError> {
        let row: Option<(String, String, String)> = on_pool!(self, pool => {
            sqlx::query(
                "SELECT c.channel, c.contact_sealed, c.state FROM cases k JOIN conversations c ON c.id = k.conversation_id \
                 WHERE k.id = $1",
            )
            .bind(case_id)
            .fetch_optional(pool)
            .await?
            .map(|r| -> Result<(String, String, String), sqlx::Error> {
                let contact: Option<String> = r.try_get("contact_sealed")?;
                Ok((r.try_get("channel")?, contact.unwrap_or_default(), r.try_get("state")?))
            })
            .transpose()?
        });
        let Some((channel, contact, state)) = row else { return Ok(None) };
        let contact = self.unseal(&contact)?;
        Ok(Some((channel, contact, state)).map(|(channel, contact, state)| {
            let state = self.unseal(&state).unwrap_or_default();
            let lang = serde_json::from_str::<crate::flow::State>(&state)
                .map(|s| s.lang)
                .unwrap_or_else(|_| "id".into());
            (channel, contact, lang)
        }))
    }

    /// A case by id.
    pub async fn case_by_id(&self, case_id: &str) -> Result<Option<(super::CaseRow, i64)>, StoreError> {
        let row = on_pool!(self, pool => {
            sqlx::query(
                "SELECT id, code, conversation_id, priority, category, status, region_code, provider_id, accepted_by, fields, created_at \
                 FROM cases WHERE id = $1",
            )
            .bind(case_id)
            .fetch_optional(pool)
            .await?
            .map(|r| -> Result<(super::CaseRow, i64), sqlx::Error> {
                let created: i64 = r.try_get("created_at")?;
                Ok((super::conversation::case_row(r)?, created))
            })
            .transpose()?
        });
        row.map(|(c, created)| Ok((self.open_case(c)?, created))).transpose()
    }
}

impl Store {
    /// The case a counselor holds (accepted, not closed), newest first: (case id, code).
    pub async fn case_held_by(&self, counselor_id: &str) -> Result<Option<(String, String)>, StoreError> {
        let row = on_pool!(self, pool => {
            sqlx::query(
                "SELECT id, code FROM cases WHERE accepted_by = $1 AND status IN ('accepted', 'in_progress') \
                 ORDER BY accepted_at DESC, id LIMIT 1",
            )
            .bind(counselor_id)
            .fetch_optional(pool)
            .await?
            .map(|r| -> Result<(String, String), sqlx::Error> { Ok((r.try_get("id")?, r.try_get("code")?)) })
            .transpose()?
        });
        Ok(row)
    }

    /// The case of a conversation that a counselor holds: (case id, code, counselor id).
    pub async fn case_in_relay(
        &self,
        conversation_id: &str,
    ) -> Result<Option<(String, String, String)>, StoreError> {
        let row = on_pool!(self, pool => {
            sqlx::query(
                "SELECT id, code, accepted_by FROM cases WHERE conversation_id = $1 AND accepted_by IS NOT NULL \
                 AND status IN ('accepted', 'in_progress') ORDER BY accepted_at DESC, id LIMIT 1",
            )
            .bind(conversation_id)
            .fetch_optional(pool)
            .await?
            .map(|r| -> Result<(String, String, String), sqlx::Error> {
                Ok((r.try_get("id")?, r.try_get("code")?, r.try_get("accepted_by")?))
            })
            .transpose()?
        });
        Ok(row)
    }
}
