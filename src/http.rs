//! Health and metrics; the webhooks and the API are merged in by [`crate::server`].

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::coord::Coordination;
use crate::metrics::Metrics;
use crate::store::Store;

/// Shared state of HTTP handlers.
#[derive(Debug, Clone)]
pub struct AppState {
    /// Database.
    pub store: Store,
    /// What the server counts.
    pub metrics: std::sync::Arc<Metrics>,
    /// How instances coordinate (checked for readiness).
    pub coord: std::sync::Arc<dyn Coordination>,
}

/// Builds the router.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(state)
}

/// Readiness: the database answers with every migration applied, and the coordinator (Redis)
/// answers. A load balancer sends no traffic to an instance that is not ready.
async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<serde_json::Value>) {
    let database = match state.store.migrations_current().await {
        Ok(true) => "ok",
        Ok(false) => "migrations pending",
        Err(e) => {
            tracing::warn!(error = %e, "readiness: database unreachable");
            "unreachable"
        }
    };
    let coordination = match state.coord.ping().await {
        Ok(()) => "ok",
        Err(e) => {
            tracing::warn!(error = %e, "readiness: coordinator unreachable");
            "unreachable"
        }
    };
    let ready = database == "ok" && coordination == "ok";
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let body = json!({
        "ready": ready,
        "database": { "backend": state.store.backend(), "status": database },
        "coordination": { "backend": state.coord.kind(), "status": coordination },
    });
    (status, Json(body))
}

/// Liveness: the process answers and its database does too.
async fn healthz(State(state): State<AppState>) -> (StatusCode, Json<serde_json::Value>) {
    match state.store.ping().await {
        Ok(()) => (StatusCode::OK, Json(json!({ "status": "ok", "database": state.store.backend() }))),
        Err(e) => {
            tracing::warn!(error = %e, "health check: database unreachable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "status": "unavailable", "database": state.store.backend() })),
            )
        }
    }
}

/// Prometheus scrape: counts only, no addresses or texts.
async fn metrics(State(state): State<AppState>) -> impl axum::response::IntoResponse {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    match state.store.outbox_depth(now).await {
        Ok((depth, oldest_ms)) => {
            state.metrics.outbox_depth.set(depth);
            state.metrics.outbox_oldest_seconds.set(oldest_ms as f64 / 1000.0);
        }
        Err(e) => tracing::warn!(error = %e, "metrics: outbox depth unavailable"),
    }
    (
        [(axum::http::header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")],
        state.metrics.render(),
    )
}
