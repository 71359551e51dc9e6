//! The counselor and supervisor web console at `/console`: one page, its script and style,
//! built into the binary (no CDN, nothing fetched from elsewhere), working only through the
//! documented `/api/v1`. Its words come from the `console-*` Fluent messages.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::i18n::I18n;

const INDEX: &str = include_str!("assets/index.html");
const SCRIPT: &str = include_str!("assets/app.js");
const STYLE: &str = include_str!("assets/app.css");

/// Only this origin's script and style, no frames, no referrer: a case page must not leak
/// through a link or be framed by another site.
const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
    connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

fn asset(content_type: &'static str, body: String) -> Response {
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(POLICY));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    // A shared computer's browser cache must not keep case pages.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

async fn index() -> Response {
    asset("text/html; charset=utf-8", INDEX.to_string())
}

async fn script() -> Response {
    asset("text/javascript; charset=utf-8", SCRIPT.to_string())
}

async fn style() -> Response {
    asset("text/css; charset=utf-8", STYLE.to_string())
}

/// `GET /console/i18n/{lang}`: the console's words in `lang` (`id` or `en`), as JSON.
async fn words(State(i18n): State<Arc<I18n>>, Path(lang): Path<String>) -> Response {
    let lang = lang.trim_end_matches(".json");
    if !i18n.has_lang(lang) {
        return (StatusCode::NOT_FOUND, "no such language").into_response();
    }
    let catalog = i18n.catalog(lang, "console-");
    asset("application/json", serde_json::to_string(&catalog).unwrap_or_else(|_| "{}".into()))
}

/// The console's routes.
pub fn router(i18n: Arc<I18n>) -> Router {
    Router::new()
        .route("/console", get(index))
        .route("/console/", get(index))
        .route("/console/app.js", get(script))
        .route("/console/app.css", get(style))
        .route("/console/i18n/{lang}", get(words))
        .with_state(i18n)
}
