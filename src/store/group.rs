//! Group commit: writes that arrive together share one transaction. Many webhooks storing
//! messages, or many chats' sends being recorded, would otherwise each take the database's
//! write lock in turn; on SQLite the waiting writers sleep in its busy handler. Every caller
//! still waits for its own write to be committed, so nothing changes for it but speed.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use super::StoreError;

/// A group's write: the items in, one result per item out (in order), or an error for all.
pub type GroupWrite<I, O> =
    Arc<dyn Fn(Vec<I>) -> Pin<Box<dyn Future<Output = Result<Vec<O>, StoreError>> + Send>> + Send + Sync>;

type Job<I, O> = (I, oneshot::Sender<Result<O, String>>);

/// Queues writes and commits them in groups of up to `max`.
pub struct Group<I, O> {
    queue: mpsc::Sender<Job<I, O>>,
}

impl<I, O> Clone for Group<I, O> {
    fn clone(&self) -> Self {
        Self { queue: self.queue.clone() }
    }
}

impl<I, O> std::fmt::Debug for Group<I, O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Group").finish_non_exhaustive()
    }
}

impl<I, O> Group<I, O>
where
    I: Clone + Send + 'static,
    O: Send + 'static,
{
    /// Starts the group's writer task (it ends when the last handle is dropped). When a whole
    /// group fails, each item is written alone, so one bad item fails only itself.
    pub fn start(max: usize, write: GroupWrite<I, O>) -> Self {
        let (queue, mut rx) = mpsc::channel::<Job<I, O>>(max * 4);
        tokio::spawn(async move {
            let mut jobs: Vec<Job<I, O>> = Vec::with_capacity(max);
            while rx.recv_many(&mut jobs, max).await > 0 {
                let items: Vec<I> = jobs.iter().map(|(item, _)| item.clone()).collect();
                match write(items).await {
                    Ok(results) if results.len() == jobs.len() => {
                        for ((_, done), result) in jobs.drain(..).zip(results) {
                            let _ = done.send(Ok(result));
                        }
                    }
                    _ if jobs.len() > 1 => {
                        for (item, done) in jobs.drain(..) {
                            let result =
                                write(vec![item]).await.map_err(|e| e.to_string()).and_then(|mut r| {
                                    r.pop().ok_or_else(|| "the write returned nothing".to_string())
                                });
                            let _ = done.send(result);
                        }
                    }
                    Ok(_) => {
                        for (_, done) in jobs.drain(..) {
                            let _ = done.send(Err("the write returned nothing".into()));
                        }
                    }
                    Err(e) => {
                        let message = e.to_string();
                        for (_, done) in jobs.drain(..) {
                            let _ = done.send(Err(message.clone()));
                        }
                    }
                }
            }
        });
        Self { queue }
    }

    /// Writes `item` with whatever else is waiting, returning once it is committed.
    pub async fn write(&self, item: I) -> Result<O, StoreError> {
        let (done, result) = oneshot::channel();
        self.queue.send((item, done)).await.map_err(|_| stopped())?;
        result.await.map_err(|_| stopped())?.map_err(StoreError::Grouped)
    }
}

fn stopped() -> StoreError {
    StoreError::Grouped("the group writer stopped".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn writes_arriving_together_share_one_call_and_a_bad_one_fails_alone() {
        let calls = Arc::new(std::sync::Mutex::new(Vec::<usize>::new()));
        let seen = calls.clone();
        let write: GroupWrite<i64, i64> = Arc::new(move |items: Vec<i64>| {
            seen.lock().unwrap().push(items.len());
            Box::pin(async move {
                if items.contains(&-1) {
                    return Err(StoreError::Grouped("negative".into()));
                }
                Ok(items.iter().map(|i| i * 10).collect())
            })
        });
        let group = Group::start(8, write);
        let mut tasks = tokio::task::JoinSet::new();
        for i in [1, 2, -1, 4] {
            let group = group.clone();
            tasks.spawn(async move { (i, group.write(i).await.map_err(|e| e.to_string())) });
        }
        let mut results: Vec<(i64, Result<i64, String>)> = Vec::new();
        while let Some(r) = tasks.join_next().await {
            results.push(r.unwrap());
        }
        results.sort_by_key(|(i, _)| *i);
        assert_eq!(results[0], (-1, Err("negative".into())));
        assert_eq!(&results[1..], &[(1, Ok(10)), (2, Ok(20)), (4, Ok(40))]);
        // However the writes were grouped, each item was tried at most twice.
        let calls = calls.lock().unwrap();
        assert!(calls.iter().sum::<usize>() <= 8, "{calls:?}");
    }
}
