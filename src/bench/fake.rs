//! The fake SMS gateway the bench's server sends to: it notes when each message arrives, per
//! number, and answers 200 at once.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use tokio::sync::Notify;

/// Arrivals for one number.
#[derive(Debug, Default)]
pub struct Inbox {
    arrivals: Mutex<VecDeque<Instant>>,
    notify: Notify,
}

impl Inbox {
    /// The first arrival at or after `after`, waiting at most `timeout`; earlier ones are
    /// dropped.
    pub async fn next_after(&self, after: Instant, timeout: Duration) -> Option<Instant> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.notify.notified();
            {
                let mut arrivals = self.arrivals.lock().unwrap_or_else(PoisonError::into_inner);
                while let Some(at) = arrivals.pop_front() {
                    if at >= after {
                        return Some(at);
                    }
                }
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return None;
            }
        }
    }
}

/// The fake gateway.
#[derive(Debug, Clone)]
pub struct Gateway {
    base: String,
    inboxes: Arc<Mutex<HashMap<String, Arc<Inbox>>>>,
    /// Every arrival, once `record_all` was called (the drain needs them all).
    all: Arc<Mutex<Option<Vec<Instant>>>>,
}

fn normalise(number: &str) -> String {
    number.chars().filter(|c| c.is_ascii_digit() || *c == '+').collect()
}

async fn send(
    State(gateway): State<Gateway>,
    Json(body): Json<serde_json::Value>,
) -> Json<serde_json::Value> {
    let at = Instant::now();
    let to = normalise(body["to"].as_str().unwrap_or_default());
    let inbox = gateway.inboxes.lock().unwrap_or_else(PoisonError::into_inner).get(&to).cloned();
    if let Some(inbox) = inbox {
        inbox.arrivals.lock().unwrap_or_else(PoisonError::into_inner).push_back(at);
        inbox.notify.notify_one();
    }
    if let Some(all) = gateway.all.lock().unwrap_or_else(PoisonError::into_inner).as_mut() {
        all.push(at);
    }
    Json(serde_json::json!({ "ok": true }))
}

impl Gateway {
    /// Serves the gateway on an ephemeral 127.0.0.1 port.
    pub async fn start() -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}", listener.local_addr()?);
        let gateway = Self { base, inboxes: Arc::default(), all: Arc::default() };
        let app = Router::new().route("/send", post(send)).with_state(gateway.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(gateway)
    }

    /// Its base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The arrivals for `number` from now on.
    pub fn subscribe(&self, number: &str) -> Arc<Inbox> {
        let inbox = Arc::new(Inbox::default());
        self.inboxes.lock().unwrap_or_else(PoisonError::into_inner).insert(normalise(number), inbox.clone());
        inbox
    }

    /// Records every arrival from now on, whoever it is for.
    pub fn record_all(&self) {
        *self.all.lock().unwrap_or_else(PoisonError::into_inner) = Some(Vec::new());
    }

    /// How many arrivals were recorded.
    pub fn recorded(&self) -> usize {
        self.all.lock().unwrap_or_else(PoisonError::into_inner).as_ref().map_or(0, Vec::len)
    }

    /// The recorded arrivals, in order.
    pub fn arrivals(&self) -> Vec<Instant> {
        let mut all = self.all.lock().unwrap_or_else(PoisonError::into_inner).clone().unwrap_or_default();
        all.sort_unstable();
        all
    }
}
