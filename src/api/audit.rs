//! The audit log, for admins.

use axum::Json;
use axum::extract::{Query, State};
use serde::Deserialize;
use serde_json::Value;

use super::auth::Caller;
use super::{ApiError, ApiState, Outcome};
use crate::access::Role;
use crate::store::AuditQuery;

/// Filters of `GET /api/v1/audit`.
#[derive(Debug, Deserialize)]
pub struct AuditParams {
    /// Rows at or after this time (ms since the epoch).
    since: Option<i64>,
    actor: Option<String>,
    /// A case code.
    subject: Option<String>,
    limit: Option<i64>,
}

/// `GET /api/v1/audit`: newest first. Reading it is itself audited.
pub async fn list(
    State(state): State<ApiState>,
    Caller(user): Caller,
    Query(params): Query<AuditParams>,
) -> Result<Json<Value>, ApiError> {
    if user.role != Role::Admin {
        state.audit(&user, "audit.read", None, Outcome::Denied, None).await?;
        return Err(ApiError::Forbidden);
    }
    state.audit(&user, "audit.read", None, Outcome::Ok, None).await?;
    let query = AuditQuery {
        since: params.since,
        actor: params.actor,
        subject: params.subject.map(|s| s.trim().to_uppercase()),
        limit: params.limit.unwrap_or(200).clamp(1, 5000),
    };
    let entries = state.store.audit_log(&query).await?;
    Ok(Json(serde_json::json!({ "entries": entries })))
}
