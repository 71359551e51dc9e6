//! The retention job: keeps only what a provider needs, for as long as the operator chose.

use std::sync::Arc;
use std::time::Duration;

use crate::clock::Clock;
use crate::store::{Purged, Store, StoreError};

const MS_PER_DAY: i64 = 24 * 60 * 60 * 1000;

/// How long things are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Days conversation messages (and idle conversations) are kept.
    pub message_days: u32,
    /// Days a closed case keeps its free text (notes, free-text fields, survey comments).
    pub case_text_days: u32,
}

impl Retention {
    /// Purges what is older than the periods allow, as of the clock's now.
    pub async fn purge(&self, store: &Store, clock: &dyn Clock) -> Result<Purged, StoreError> {
        let now = clock.now_ms();
        let messages_before = now - i64::from(self.message_days) * MS_PER_DAY;
        let case_text_before = now - i64::from(self.case_text_days) * MS_PER_DAY;
        store.purge(messages_before, case_text_before, now).await
    }

    /// Purges at start and then every `every`, until `shutdown`.
    pub async fn run(
        self,
        store: Store,
        clock: Arc<dyn Clock>,
        every: Duration,
        shutdown: impl std::future::Future<Output = ()>,
    ) {
        tokio::pin!(shutdown);
        loop {
            match self.purge(&store, clock.as_ref()).await {
                Ok(p) if p != Purged::default() => tracing::info!(
                    inbound = p.inbound,
                    outbox = p.outbox,
                    attachments = p.attachments,
                    conversations = p.conversations,
                    case_texts = p.case_texts,
                    survey_comments = p.survey_comments,
                    "retention purge"
                ),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "retention purge failed; retrying next round"),
            }
            tokio::select! {
                () = &mut shutdown => break,
                () = tokio::time::sleep(every) => {}
            }
        }
    }
}
