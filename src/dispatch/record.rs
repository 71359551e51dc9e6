//! Group commit for delivered sends: many chats finish sends at once, and recording each in a
//! transaction of its own made the database, not the provider's limit, the drain's ceiling.
//! Each caller still waits until its own row is recorded, so nothing changes for it but speed.

use tokio::sync::{mpsc, oneshot};

use crate::store::{Store, StoreError};

/// Most sends recorded in one transaction.
const GROUP: usize = 256;

type Ack = oneshot::Sender<Result<(), String>>;

/// Records delivered sends, grouping those that finish together.
#[derive(Debug, Clone)]
pub struct SentRecorder {
    queue: mpsc::Sender<(i64, Vec<String>, Ack)>,
}

impl SentRecorder {
    /// A recorder writing to `store`; its task ends when the last handle is dropped.
    pub fn start(store: Store, clock: std::sync::Arc<dyn crate::clock::Clock>) -> Self {
        let (queue, mut rx) = mpsc::channel::<(i64, Vec<String>, Ack)>(GROUP * 4);
        tokio::spawn(async move {
            let mut group = Vec::with_capacity(GROUP);
            while rx.recv_many(&mut group, GROUP).await > 0 {
                let rows: Vec<(i64, Vec<String>)> =
                    group.iter_mut().map(|(id, ids, _)| (*id, std::mem::take(ids))).collect();
                let result = store.outbox_sent_many(&rows, clock.now_ms()).await.map_err(|e| e.to_string());
                for (_, _, ack) in group.drain(..) {
                    let _ = ack.send(result.clone());
                }
            }
        });
        Self { queue }
    }

    /// Records one delivered send, returning once it is committed.
    pub async fn sent(&self, id: i64, provider_ids: Vec<String>) -> Result<(), StoreError> {
        let (ack, done) = oneshot::channel();
        self.queue.send((id, provider_ids, ack)).await.map_err(|_| closed())?;
        done.await.map_err(|_| closed())?.map_err(StoreError::Grouped)
    }
}

fn closed() -> StoreError {
    StoreError::Grouped("the send recorder stopped".into())
}
