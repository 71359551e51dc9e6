//! Handing a case on: to another counselor, or to another provider (a referral), and the
//! structured fields counselors fill in while they hold it.

use super::{Store, StoreError, on_pool};
use crate::channel::OutgoingPayload;
use crate::store::outbox::queue_urgent;

/// Where a case goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferTo<'a> {
    /// Straight to a colleague, who holds it at once.
    Counselor {
        /// Counselor id.
        id: &'a str,
        /// Her provider.
        provider: &'a str,
    },
    /// To another provider: the case is `referred` and escalates there from the first step.
    Provider(&'a str),
}

/// One handing-on of a case.
#[derive(Debug, Clone, Copy)]
pub struct Transfer<'a> {
    /// The case.
    pub case_id: &'a str,
    /// Who holds it now (`None`: nobody accepted it yet); the move happens only if that is
    /// still so.
    pub holder: Option<&'a str>,
    /// Where it goes.
    pub to: TransferTo<'a>,
    /// The policy a referral escalates under when the case never had one.
    pub policy: &'a str,
    /// Timeline detail, e.g. `from=k1;to_provider=uptd-ppa-sulteng`.
    pub detail: &'a str,
}

impl Store {
    /// Moves a case from the counselor holding it to its new holder, with the timeline event
    /// and the messages that tell everyone, all or nothing. Returns `false`, writing nothing, when `from` no
    /// longer holds the case (closed, or handed on meanwhile).
    pub async fn transfer_case(
        &self,
        transfer: &Transfer<'_>,
        messages: &[(String, String, OutgoingPayload)],
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let Transfer { case_id, holder, to, policy, detail } = *transfer;
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let moved = match to {
                TransferTo::Counselor { id, provider } => sqlx::query(
                    "UPDATE cases SET accepted_by = $1, accepted_at = $2, provider_id = $3 \
                     WHERE id = $4 AND accepted_by IS NOT DISTINCT FROM $5 AND status <> 'closed'",
                )
                .bind(id)
                .bind(now_ms)
                .bind(provider)
                .bind(case_id)
                .bind(holder)
                .execute(&mut *tx)
                .await?
                .rows_affected(),
                TransferTo::Provider(provider) => sqlx::query(
                    "UPDATE cases SET accepted_by = NULL, accepted_at = NULL, provider_id = $1, status = 'referred' \
                     WHERE id = $2 AND accepted_by IS NOT DISTINCT FROM $3 AND status <> 'closed'",
                )
                .bind(provider)
                .bind(case_id)
                .bind(holder)
                .execute(&mut *tx)
                .await?
                .rows_affected(),
            };
            if moved == 0 {
                tx.rollback().await?;
                return Ok(false);
            }
            if let TransferTo::Provider(_) = to {
                // The chain starts over at the new provider; old reply codes stop working there.
                sqlx::query(
                    "INSERT INTO escalations (case_id, policy, status, due_at, created_at, updated_at) \
                     VALUES ($1, $2, 'pending', $3, $3, $3) ON CONFLICT (case_id) DO UPDATE SET chain = NULL, \
                     status = 'pending', due_at = $3, wake_seq = NULL, updated_at = $3, \
                     version = escalations.version + 1",
                )
                .bind(case_id)
                .bind(policy)
                .bind(now_ms)
                .execute(&mut *tx)
                .await?;
                sqlx::query("DELETE FROM notifications WHERE case_id = $1").bind(case_id).execute(&mut *tx).await?;
            }
            sqlx::query("INSERT INTO case_events (case_id, at, kind, detail) VALUES ($1, $2, 'transferred', $3)")
                .bind(case_id)
                .bind(now_ms)
                .bind(detail)
                .execute(&mut *tx)
                .await?;
            queue_urgent!(self, tx, messages, now_ms);
            tx.commit().await?;
        });
        Ok(true)
    }

    /// Sets one structured field of a case (`age_group`, `relationship`, `place`,
    /// `violence_kind`), recorded as given by `by`, with a timeline event naming the field.
    pub async fn set_case_field(
        &self,
        case_id: &str,
        name: &str,
        value: &str,
        by: &str,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let current: Option<Option<String>> = sqlx::query_scalar("SELECT fields FROM cases WHERE id = $1")
                .bind(case_id)
                .fetch_optional(&mut *tx)
                .await?;
            let current = current.flatten().map(|f| self.unseal(&f)).transpose()?;
            let mut fields = current
                .and_then(|json| serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(&json).ok())
                .unwrap_or_default();
            fields.insert(name.to_string(), serde_json::json!({ "value": value, "by": by }));
            let json = self.seal(&serde_json::Value::Object(fields).to_string());
            sqlx::query("UPDATE cases SET fields = $1 WHERE id = $2")
                .bind(&json)
                .bind(case_id)
                .execute(&mut *tx)
                .await?;
            sqlx::query("INSERT INTO case_events (case_id, at, kind, detail) VALUES ($1, $2, 'field_set', $3)")
                .bind(case_id)
                .bind(now_ms)
                .bind(format!("field={name};by={by}"))
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        });
        Ok(())
    }
}
