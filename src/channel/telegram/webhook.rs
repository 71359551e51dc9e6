//! Webhook mode: Telegram posts each update to [`WEBHOOK_PATH`] with the secret agreed in
//! `setWebhook`; the update is stored before Telegram gets its 200.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde_json::json;
use subtle::ConstantTimeEq;

use super::api::{Api, TelegramError};
use super::update::parse_update;
use super::{TelegramConfig, poll};
use crate::channel::Ingress;

/// Where Telegram posts updates.
pub const WEBHOOK_PATH: &str = "/webhook/telegram";
/// Header carrying the secret given to `setWebhook`.
const SECRET_HEADER: &str = "x-telegram-bot-api-secret-token";

#[derive(Clone)]
struct WebhookState {
    ingress: Ingress,
    config: Arc<TelegramConfig>,
    /// For answering callback queries; `None` if no HTTP client could be built.
    api: Option<Api>,
}

/// The webhook route, `POST /webhook/telegram`: 401 without the right secret, 400 for a body
/// that is not an update, 503 when the update cannot be stored (Telegram delivers it again),
/// 200 once it is stored or when it is nothing the service handles. Without a webhook secret
/// configured every request is refused.
pub fn routes(ingress: Ingress, config: Arc<TelegramConfig>) -> Router {
    let api = match Api::new(&config) {
        Ok(api) => Some(api),
        Err(e) => {
            tracing::error!(error = %e, "Telegram client unavailable; button presses will not be acknowledged");
            None
        }
    };
    Router::new().route(WEBHOOK_PATH, post(receive)).with_state(WebhookState { ingress, config, api })
}

/// Tells Telegram where to post updates, with the secret and the update kinds the service
/// handles. `teduh serve` calls it at start in webhook mode.
pub async fn register_webhook(config: &TelegramConfig) -> Result<(), TelegramError> {
    let webhook = config.webhook.as_ref().ok_or(TelegramError::NoWebhook)?;
    let api = Api::new(config)?;
    let params = json!({
        "url": webhook.url,
        "secret_token": webhook.secret,
        "allowed_updates": poll::ALLOWED_UPDATES,
    });
    let _: bool = api.call("setWebhook", &params).await?;
    tracing::info!("Telegram webhook registered");
    Ok(())
}

fn authorized(config: &TelegramConfig, headers: &HeaderMap) -> bool {
    if config.insecure_dev {
        tracing::warn!("--insecure-dev: Telegram webhook accepted WITHOUT checking its secret");
        return true;
    }
    let Some(expected) = config.webhook.as_ref().map(|w| w.secret.as_bytes()) else {
        return false;
    };
    let Some(given) = headers.get(SECRET_HEADER) else {
        return false;
    };
    // Lengths may differ (then it is false at once); equal-length values compare in constant
    // time, so the secret cannot be guessed byte by byte.
    given.as_bytes().ct_eq(expected).into()
}

async fn receive(State(state): State<WebhookState>, headers: HeaderMap, body: Bytes) -> StatusCode {
    if !authorized(&state.config, &headers) {
        tracing::warn!("Telegram webhook request without the right secret refused");
        return StatusCode::UNAUTHORIZED;
    }
    let Ok(handled) = parse_update(&body) else {
        tracing::warn!("Telegram webhook body is not an update");
        return StatusCode::BAD_REQUEST;
    };
    if let Some(inbound) = &handled.inbound
        && let Err(e) = state.ingress.receive(inbound).await
    {
        tracing::warn!(error = %e, "Telegram update not stored; Telegram will deliver it again");
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    if let (Some(id), Some(api)) = (handled.answer_callback, &state.api) {
        poll::answer_callback(api.clone(), id);
    }
    StatusCode::OK
}
