//! A running Teduh: the webhooks of every configured channel, the inbox worker, the escalation
//! worker and the outbox dispatcher, wired together around one runtime and one clock. `teduh
//! serve` runs it on the system clock; tests run the same wiring on a simulated one.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use thiserror::Error;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::api::{self, ApiState};
use crate::channel::{Ingress, Sender, sms, telegram, whatsapp};
use crate::clock::Clock;
use crate::config::Config;
use crate::dispatch::Dispatcher;
use crate::escalation::policy::{Policies, PolicyError, load_policies};
use crate::escalation::run::Escalator;
use crate::http::{AppState, router};
use crate::retention::Retention;
use crate::runtime::Runtime;

/// How often old data is purged.
const RETENTION_EVERY: Duration = Duration::from_secs(60 * 60);

/// Where an operator's own escalation policies live, next to the flows.
pub const POLICIES_PATH: &str = "escalation/policies.yaml";

/// Why the server could not be wired.
#[derive(Debug, Error)]
pub enum ServerError {
    /// A channel's client could not be built.
    #[error("{channel}: {message}")]
    Channel {
        /// Channel name.
        channel: &'static str,
        /// What went wrong.
        message: String,
    },
    /// The escalation policies file has problems, or a flow names a policy it lacks.
    #[error("escalation policies have problems:\n{0}")]
    Policies(String),
}

/// The operator's policies at `path` when that file exists, else the shipped defaults.
pub fn policies(path: &std::path::Path) -> Result<Policies, ServerError> {
    let loaded = if path.exists() { load_policies(path) } else { Policies::shipped() };
    loaded.map_err(|errors: Vec<PolicyError>| {
        let lines: Vec<String> =
            errors.iter().map(|e| format!("{}:{}: {}", path.display(), e.line, e.message)).collect();
        ServerError::Policies(lines.join("\n"))
    })
}

/// The wired server: its routes, and the background tasks behind them.
#[derive(Debug)]
pub struct Server {
    router: Router,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    /// Webhook registration retries; cut short on stop.
    registration: Option<JoinHandle<()>>,
}

impl Server {
    /// Wires every channel `config` enables around `runtime`, with escalation under
    /// `policies`, and starts the background tasks on `clock`.
    pub fn start(
        config: &Config,
        runtime: Runtime,
        clock: Arc<dyn Clock>,
        policies: Arc<Policies>,
    ) -> Result<Self, ServerError> {
        let unknown = crate::flow::check_policy_refs(runtime.engine().flows(), policies.names());
        if !unknown.is_empty() {
            return Err(ServerError::Policies(crate::flow::Problems(unknown).to_string()));
        }
        let store = runtime.store().clone();
        let (stop, stopped) = watch::channel(false);
        let until_stopped = |mut rx: watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|s| *s).await;
        };
        let wakers = runtime.wakers().clone();
        let coord = runtime.coordination().clone();
        let escalator = Escalator::new(
            store.clone(),
            clock.clone(),
            policies,
            runtime.engine().live_directory(),
            runtime.engine().shared_i18n(),
        )
        .with_wake(wakers.escalation.clone())
        .with_metrics(runtime.metrics().clone())
        .with_idle_poll(crate::coord::idle_poll(&*coord, Duration::from_millis(500)))
        .with_channels(&config.channels());
        let runtime = runtime.with_escalator(Arc::new(escalator.clone()));
        let inbox_wake = wakers.inbox.clone();
        let ingress = Ingress::new(runtime.clone(), inbox_wake.clone());
        let mut senders: Vec<Arc<dyn Sender>> = Vec::new();
        let api = ApiState::for_runtime(runtime.clone(), clock.clone());
        let metrics = runtime.metrics().clone();
        let state = AppState { store: store.clone(), metrics, coord: coord.clone() };
        let console = crate::console::router(runtime.engine().shared_i18n());
        let mut app = router(state).merge(api::router(api)).merge(console);
        let mut tasks = Vec::new();
        let mut registration = None;
        let channel_error = |channel: &'static str| {
            move |e: &dyn std::fmt::Display| ServerError::Channel { channel, message: e.to_string() }
        };
        if let Some(tg) = &config.telegram {
            let sender =
                telegram::TelegramSender::new(tg.clone()).map_err(|e| channel_error("telegram")(&e))?;
            senders.push(Arc::new(sender));
            if tg.is_webhook() {
                app = app.merge(telegram::routes(ingress.clone(), tg.clone()));
                registration = Some(tokio::spawn(register_telegram_webhook(tg.clone())));
            } else {
                tasks.push(tokio::spawn(telegram::poll(
                    ingress.clone(),
                    tg.clone(),
                    until_stopped(stopped.clone()),
                )));
            }
        }
        if let Some(wa) = &config.whatsapp {
            senders.push(Arc::new(whatsapp::WhatsAppSender::new(wa.clone())));
            app = app.merge(whatsapp::routes(ingress.clone(), wa.clone()));
        }
        if let Some(sms_config) = &config.sms {
            let sender = sms::SmsSender::new(sms_config.clone(), store.clone())
                .map_err(|e| channel_error("sms")(&e))?;
            senders.push(Arc::new(sender));
            app = app.merge(sms::routes(ingress.clone(), sms_config.clone()));
        }
        tasks.push(tokio::spawn(refresh_directory(
            store.clone(),
            runtime.engine().live_directory(),
            until_stopped(stopped.clone()),
        )));
        let (store_for_retention, clock_for_retention) = (store.clone(), clock.clone());
        let dispatcher = Dispatcher::new(store, clock, senders)
            .with_coordination(coord, wakers.outbox.clone())
            .with_metrics(runtime.metrics().clone());
        tasks.push(tokio::spawn(runtime.run_inbox(
            inbox_wake,
            dispatcher.waker(),
            until_stopped(stopped.clone()),
        )));
        tasks.push(tokio::spawn(escalator.run(dispatcher.waker(), until_stopped(stopped.clone()))));
        tasks.push(tokio::spawn(dispatcher.run(until_stopped(stopped.clone()))));
        let retention =
            Retention { message_days: config.retention_days, case_text_days: config.case_text_days };
        tasks.push(tokio::spawn(retention.run(
            store_for_retention,
            clock_for_retention,
            RETENTION_EVERY,
            until_stopped(stopped),
        )));
        // Providers' payloads are small: anything larger is refused before it is read whole.
        let app = app.layer(axum::extract::DefaultBodyLimit::max(crate::limits::MAX_WEBHOOK_BODY));
        Ok(Self { router: app, stop, tasks, registration })
    }

    /// The HTTP routes: health and the channels' webhooks.
    pub fn router(&self) -> Router {
        self.router.clone()
    }

    /// Stops taking work and lets in-flight steps and sends finish (at most 10 s each).
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        if let Some(registration) = self.registration {
            registration.abort();
        }
        for task in self.tasks {
            let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
        }
    }
}

/// How often an instance looks for a provider directory changed elsewhere (an import through
/// another instance's API or the CLI).
const DIRECTORY_REFRESH: Duration = Duration::from_secs(10);

/// Keeps the directory in use equal to the stored one, so an import reaches every instance
/// without a restart. An empty stored directory is never put in use: escalation would lose
/// every provider at once.
async fn refresh_directory(
    store: crate::store::Store,
    live: crate::directory::LiveDirectory,
    stop: impl Future<Output = ()>,
) {
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => return,
            _ = tokio::time::sleep(DIRECTORY_REFRESH) => {}
        }
        match store.providers().await {
            Ok(providers) if providers.is_empty() => {}
            Ok(providers) => {
                let count = providers.len();
                if live.update_providers(providers) {
                    tracing::info!(providers = count, "provider directory reloaded");
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the provider directory; keeping the one in use")
            }
        }
    }
}

/// Telegram must know where to deliver; keep trying in the background if it is down.
async fn register_telegram_webhook(config: Arc<telegram::TelegramConfig>) {
    for attempt in 1..=5u32 {
        match telegram::register_webhook(&config).await {
            Ok(()) => return tracing::info!("telegram webhook registered"),
            Err(e) => tracing::warn!(attempt, error = %e, "telegram webhook registration failed"),
        }
        tokio::time::sleep(Duration::from_secs(2u64.pow(attempt))).await;
    }
}
