//! The counselor and admin HTTP API under `/api/v1`: JSON, bearer tokens, every case read and
//! change written to the audit log.
//!
//! Errors are `{"error": {"code": "...", "message": "..."}}` with the matching status.

mod actions;
mod audit;
mod auth;
mod cases;
mod doc;
mod events;
mod providers;
mod reports;
mod rosters;
mod session;

use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post, put};
use axum::{Json, Router};

use crate::access::{AuditEntry, User};
use crate::clock::Clock;
use crate::directory::LiveDirectory;
use crate::escalation::run::Escalator;
use crate::runtime::Runtime;
use crate::store::{Store, StoreError};

pub use auth::TokenCache;
pub use doc::{ApiDoc, openapi_json};

/// Shared state of the API handlers.
#[derive(Debug, Clone)]
pub struct ApiState {
    /// Database.
    pub store: Store,
    /// Time of audit rows and notes.
    pub clock: Arc<dyn Clock>,
    /// Providers and regions in use (replaced when the stored providers change).
    pub directory: LiveDirectory,
    /// Tokens whose hash was verified recently.
    pub tokens: TokenCache,
    /// Conversations (a closed case's survey starts there).
    pub runtime: Option<Runtime>,
    /// Accepting, passing, closing, transferring and relaying go through escalation.
    pub escalator: Option<Arc<Escalator>>,
    /// Recent wrong passwords, per name.
    pub logins: session::Failures,
}

impl ApiState {
    /// State over `store`, with an empty token cache and no case actions.
    pub fn new(store: Store, clock: Arc<dyn Clock>, directory: impl Into<LiveDirectory>) -> Self {
        Self {
            store,
            clock,
            directory: directory.into(),
            tokens: TokenCache::default(),
            runtime: None,
            escalator: None,
            logins: session::Failures::default(),
        }
    }

    /// State over `runtime`'s store and directory, with its escalation for case actions.
    pub fn for_runtime(runtime: Runtime, clock: Arc<dyn Clock>) -> Self {
        let mut state = Self::new(runtime.store().clone(), clock, runtime.engine().live_directory());
        state.escalator = runtime.escalator().cloned();
        state.runtime = Some(runtime);
        state
    }

    /// Writes an audit row for `user`; a failure to write it fails the request, so nothing is
    /// read or changed unrecorded.
    async fn audit(
        &self,
        user: &User,
        action: &str,
        subject: Option<&str>,
        outcome: Outcome,
        detail: Option<String>,
    ) -> Result<(), ApiError> {
        self.audit_entry(&user.name, user.role.as_str(), action, subject, outcome, detail).await
    }

    /// Writes an audit row for `actor` in `role` (a refused sign-in has no user yet).
    async fn audit_entry(
        &self,
        actor: &str,
        role: &str,
        action: &str,
        subject: Option<&str>,
        outcome: Outcome,
        detail: Option<String>,
    ) -> Result<(), ApiError> {
        let entry = AuditEntry {
            at: self.clock.now_ms(),
            actor: actor.to_string(),
            role: role.to_string(),
            action: action.to_string(),
            subject: subject.map(str::to_string),
            outcome: outcome.as_str().to_string(),
            detail,
        };
        self.store.audit(&entry).await.map_err(ApiError::Store)
    }
}

/// Whether an audited request was allowed.
#[derive(Debug, Clone, Copy)]
enum Outcome {
    Ok,
    Denied,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Denied => "denied",
        }
    }
}

/// The body of every error answer.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// What went wrong.
    error: ErrorDetail,
}

/// An error's code and message.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// `unauthorized`, `forbidden`, `not_found`, `bad_request`, `conflict` or `unavailable`.
    code: String,
    /// For people.
    message: String,
}

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No token, or one that is wrong or revoked.
    #[error("a valid API token is required (Authorization: Bearer tdh_...)")]
    Unauthorized,
    /// The role does not allow it.
    #[error("your role does not allow this")]
    Forbidden,
    /// No such thing (or not one the caller may know of).
    #[error("{0} not found")]
    NotFound(String),
    /// The request is not valid.
    #[error("{0}")]
    BadRequest(String),
    /// The case is not in a state that allows it (taken by another, closed, not offered).
    #[error("{0}")]
    Conflict(String),
    /// The database failed; the request can be retried.
    #[error("storage unavailable")]
    Store(#[from] StoreError),
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = match &self {
            ApiError::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::Forbidden => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            ApiError::Store(e) => {
                tracing::warn!(error = %e, "API request failed in storage");
                (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
            }
        };
        let body = Json(ErrorBody { error: ErrorDetail { code: code.into(), message: self.to_string() } });
        let mut response = (status, body).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert("www-authenticate", axum::http::HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// The API routes.
pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/api/v1/me", get(auth::me))
        .route("/api/v1/session", post(session::sign_in).delete(session::sign_out))
        .route("/api/v1/cases", get(cases::list))
        .route("/api/v1/events", get(events::stream))
        .route("/api/v1/cases/export.csv", get(cases::export))
        .route("/api/v1/cases/{code}", get(cases::one))
        .route("/api/v1/cases/{code}/notes", post(cases::add_note))
        .route("/api/v1/cases/{code}/accept", post(actions::accept))
        .route("/api/v1/cases/{code}/pass", post(actions::pass))
        .route("/api/v1/cases/{code}/close", post(actions::close))
        .route("/api/v1/cases/{code}/transfer", post(actions::transfer))
        .route("/api/v1/cases/{code}/fields", patch(actions::fields))
        .route("/api/v1/cases/{code}/messages", get(actions::messages).post(actions::send_message))
        .route("/api/v1/providers", get(rosters::providers).put(providers::replace_all))
        .route("/api/v1/providers/{id}", put(providers::put_one))
        .route("/api/v1/rosters/{provider}", get(rosters::read).put(rosters::replace))
        .route("/api/v1/reports/response-times", get(reports::response_times_report))
        .route("/api/v1/reports/cases", get(reports::cases_report))
        .route("/api/v1/reports/satisfaction", get(reports::satisfaction_report))
        .route("/api/v1/audit", get(audit::list))
        .route("/api/v1/openapi.json", get(doc::serve))
        .fallback(not_found)
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::NotFound("endpoint".into())
}
