//! Purging what Teduh no longer needs: old messages, idle conversations, and the free text of
//! cases closed long ago.

use super::{Store, StoreError, on_pool};

/// Free-text case fields counselors write; the rest of a case's fields are structured.
const FREE_TEXT_FIELDS: &[&str] = &["relationship", "place"];

/// What a purge removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    /// Inbound messages deleted.
    pub inbound: u64,
    /// Outbox messages deleted.
    pub outbox: u64,
    /// Attachment references deleted.
    pub attachments: u64,
    /// Idle conversations deleted.
    pub conversations: u64,
    /// Closed cases whose free text was removed.
    pub case_texts: u64,
    /// Satisfaction comments removed.
    pub survey_comments: u64,
}

impl Store {
    /// Deletes messages and attachment references older than `messages_before`, conversations
    /// idle since before it (their cases keep everything but the link to her), and removes the
    /// free text (notes, free-text fields, survey comments) of cases closed before
    /// `case_text_before`. Messages not yet sent are never deleted.
    pub async fn purge(
        &self,
        messages_before: i64,
        case_text_before: i64,
        now_ms: i64,
    ) -> Result<Purged, StoreError> {
        let mut purged = Purged::default();
        let closed: Vec<(String, Option<String>)> = on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            purged.inbound = sqlx::query("DELETE FROM inbound WHERE received_at < $1 AND processed_at IS NOT NULL")
                .bind(messages_before)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            purged.outbox = sqlx::query("DELETE FROM outbox WHERE created_at < $1 AND status NOT IN ('queued', 'sending')")
                .bind(messages_before)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            purged.attachments = sqlx::query("DELETE FROM attachments WHERE received_at < $1")
                .bind(messages_before)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            sqlx::query(
                "UPDATE cases SET conversation_id = NULL WHERE conversation_id IN \
                 (SELECT id FROM conversations WHERE updated_at < $1)",
            )
            .bind(messages_before)
            .execute(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM flow_timers WHERE conversation_id IN (SELECT id FROM conversations WHERE updated_at < $1)")
                .bind(messages_before)
                .execute(&mut *tx)
                .await?;
            purged.conversations = sqlx::query("DELETE FROM conversations WHERE updated_at < $1")
                .bind(messages_before)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            purged.survey_comments = sqlx::query(
                "UPDATE survey_responses SET comment = NULL WHERE created_at < $1 AND comment IS NOT NULL",
            )
            .bind(case_text_before)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            let closed: Vec<(String, Option<String>)> = sqlx::query_as(
                "SELECT id, fields FROM cases WHERE status = 'closed' AND text_purged_at IS NULL AND EXISTS \
                 (SELECT 1 FROM case_events e WHERE e.case_id = cases.id AND e.kind = 'closed' AND e.at < $1)",
            )
            .bind(case_text_before)
            .fetch_all(&mut *tx)
            .await?;
            for (id, fields) in &closed {
                let opened = fields.as_deref().map(|f| self.unseal(f)).transpose()?;
                let kept = opened.as_deref().map(strip_free_text).map(|f| self.seal(&f));
                sqlx::query("UPDATE cases SET fields = $1, text_purged_at = $2 WHERE id = $3")
                    .bind(kept)
                    .bind(now_ms)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("UPDATE case_events SET detail = NULL WHERE case_id = $1 AND kind = 'note'")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("UPDATE case_messages SET body = NULL WHERE case_id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            closed
        });
        purged.case_texts = closed.len() as u64;
        Ok(purged)
    }
}

/// A case's fields without the free-text ones (unreadable JSON is dropped whole: it cannot be
/// told apart).
fn strip_free_text(json: &str) -> String {
    match serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(json) {
        Ok(mut fields) => {
            for key in FREE_TEXT_FIELDS {
                fields.remove(*key);
            }
            serde_json::Value::Object(fields).to_string()
        }
        Err(_) => "{}".to_string(),
    }
}
