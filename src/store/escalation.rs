//! Escalation chains and counselor notifications in the database.

use sqlx::Row;

use super::{Store, StoreError, on_pool};
use crate::channel::OutgoingPayload;
use crate::store::outbox::lane;

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
}

impl Store {
    /// Escalations whose next step is due, oldest first.
    pub async fn due_escalations(&self, now_ms: i64, limit: i64) -> Result<Vec<DueEscalation>, StoreError> {
        let rows = on_pool!(self, pool => {
            sqlx::query(
                "SELECT case_id, policy, chain, wake_seq FROM escalations \
                 WHERE due_at IS NOT NULL AND due_at <= $1 ORDER BY due_at, case_id LIMIT $2",
            )
            .bind(now_ms)
            .bind(limit)
            .fetch_all(pool)
            .await?
            .into_iter()
            .map(|r| -> Result<DueEscalation, sqlx::Error> {
                Ok(DueEscalation {
                    case_id: r.try_get("case_id")?,
                    policy: r.try_get("policy")?,
                    chain: r.try_get("chain")?,
                    wake_seq: r.try_get("wake_seq")?,
                })
            })
            .collect::<Result<Vec<_>, _>>()?
        });
        Ok(rows)
    }

    /// The stored chain of a case's escalation.
    pub async fn escalation_of(&self, case_id: &str) -> Result<Option<DueEscalation>, StoreError> {
        let row = on_pool!(self, pool => {
            sqlx::query("SELECT case_id, policy, chain, wake_seq FROM escalations WHERE case_id = $1")
                .bind(case_id)
                .fetch_optional(pool)
                .await?
                .map(|r| -> Result<DueEscalation, sqlx::Error> {
                    Ok(DueEscalation {
                        case_id: r.try_get("case_id")?,
                        policy: r.try_get("policy")?,
                        chain: r.try_get("chain")?,
                        wake_seq: r.try_get("wake_seq")?,
                    })
                })
                .transpose()?
        });
        Ok(row)
    }

    /// Writes an escalation step: chain, next wake-up, notifications, queued messages and
    /// timeline, all or nothing.
    pub async fn save_escalation(
        &self,
        case_id: &str,
        write: &EscalationWrite,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let (due, seq) = match write.wake {
            Some((at, seq)) => (Some(at), Some(seq)),
            None => (None, None),
        };
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(
                "UPDATE escalations SET chain = $1, status = $2, due_at = $3, wake_seq = $4, updated_at = $5 \
                 WHERE case_id = $6",
            )
            .bind(&write.chain)
            .bind(&write.status)
            .bind(due)
            .bind(seq)
            .bind(now_ms)
            .bind(case_id)
            .execute(&mut *tx)
            .await?;
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
            for (channel, contact, payload) in &write.messages {
                let json = serde_json::to_string(payload).unwrap_or_default();
                sqlx::query(
                    "INSERT INTO outbox (channel, contact_key, conversation_id, lane, payload, status, attempts, \
                     next_attempt_at, created_at, updated_at) VALUES ($1, $2, NULL, $3, $4, 'queued', 0, $5, $5, $5)",
                )
                .bind(channel)
                .bind(contact)
                .bind(lane::URGENT)
                .bind(&json)
                .bind(now_ms)
                .execute(&mut *tx)
                .await?;
            }
            for (kind, detail) in &write.events {
                sqlx::query("INSERT INTO case_events (case_id, at, kind, detail) VALUES ($1, $2, $3, $4)")
                    .bind(case_id)
                    .bind(now_ms)
                    .bind(kind)
                    .bind(detail)
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
        Ok(())
    }

    /// The pending wake-up of an escalation: when, and for which step.
    pub async fn escalation_wake(&self, case_id: &str) -> Result<Option<(i64, i64)>, StoreError> {
        let row: Option<(Option<i64>, Option<i64>)> = on_pool!(self, pool => {
            sqlx::query("SELECT due_at, wake_seq FROM escalations WHERE case_id = $1")
                .bind(case_id)
                .fetch_optional(pool)
                .await?
                .map(|r| -> Result<_, sqlx::Error> { Ok((r.try_get("due_at")?, r.try_get("wake_seq")?)) })
                .transpose()?
        });
        Ok(row.and_then(|(at, seq)| at.zip(seq)))
    }

    /// Queues messages outside any escalation step (replies to counselors).
    pub async fn queue_messages(
        &self,
        messages: &[(String, String, OutgoingPayload)],
        now_ms: i64,
    ) -> Result<(), StoreError> {
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            for (channel, contact, payload) in messages {
                let json = serde_json::to_string(payload).unwrap_or_default();
                sqlx::query(
                    "INSERT INTO outbox (channel, contact_key, conversation_id, lane, payload, status, attempts, \
                     next_attempt_at, created_at, updated_at) VALUES ($1, $2, NULL, $3, $4, 'queued', 0, $5, $5, $5)",
                )
                .bind(channel)
                .bind(contact)
                .bind(lane::URGENT)
                .bind(&json)
                .bind(now_ms)
                .execute(&mut *tx)
                .await?;
            }
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

    async fn notification_where(
        &self,
        filter: &str,
        counselor_id: &str,
        code: Option<&str>,
    ) -> Result<Option<Notification>, StoreError> {
        let sql = format!(
            "SELECT case_id, counselor_id, step_seq, code FROM notifications WHERE {filter} ORDER BY id DESC LIMIT 1"
        );
        let row = on_pool!(self, pool => {
            let mut q = sqlx::query(&sql).bind(counselor_id);
            if let Some(code) = code {
                q = q.bind(code);
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
                "SELECT c.channel, c.contact_key, c.state FROM cases k JOIN conversations c ON c.id = k.conversation_id \
                 WHERE k.id = $1",
            )
            .bind(case_id)
            .fetch_optional(pool)
            .await?
            .map(|r| -> Result<(String, String, String), sqlx::Error> {
                Ok((r.try_get("channel")?, r.try_get("contact_key")?, r.try_get("state")?))
            })
            .transpose()?
        });
        Ok(row.map(|(channel, contact, state)| {
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
                "SELECT id, code, conversation_id, priority, category, status, region_code, provider_id, fields, created_at \
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
        Ok(row)
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
