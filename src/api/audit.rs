//! The audit log, for admins.

use axum::Json;
use axum::extract::{Query, State};
use serde::{Deserialize, Serialize};

use super::auth::Caller;
use super::{ApiError, ApiState, Outcome};
use crate::access::Role;
use crate::store::AuditQuery;

/// Filters of `GET /api/v1/audit`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    /// Rows at or after this time (ms since the epoch).
    since: Option<i64>,
    /// A user name, or `cli`, or `counselor:<id>`.
    actor: Option<String>,
    /// A case code.
    subject: Option<String>,
    /// At most this many (default 200, at most 5000).
    limit: Option<i64>,
}

/// The answer of `GET /api/v1/audit`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuditList {
    /// Newest first.
    entries: Vec<crate::access::AuditEntry>,
}

/// `GET /api/v1/audit`: newest first. Reading it is itself audited.
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", operation_id = "list_audit", params(AuditParams),
    responses((status = 200, body = AuditList), (status = 401, body = super::ErrorBody),
        (status = 403, body = super::ErrorBody)))]
pub async fn list(
    State(state): State<ApiState>,
    Caller(user): Caller,
    Query(params): Query<AuditParams>,
) -> Result<Json<AuditList>, ApiError> {
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
    Ok(Json(AuditList { entries }))
}
