//! Console sign-in: a name and password (set with `teduh users password`), or an API token,
//! exchanged for a session token that expires after a shift. Repeated wrong passwords for one
//! name are refused for a while without checking, so guessing is slow.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::auth::{presented, session_user, verified};
use super::{ApiError, ApiState, Outcome};
use crate::access::{User, token};

/// How long a session lasts: one shift.
pub const SESSION_MS: i64 = 8 * 60 * 60 * 1000;
/// Wrong passwords for one name before it is refused for [`LOCK_MS`].
const MAX_FAILURES: u32 = 5;
/// How long a name stays refused after too many wrong passwords.
const LOCK_MS: i64 = 15 * 60 * 1000;

/// Recent wrong passwords per name: count and the time of the last one.
#[derive(Debug, Clone, Default)]
pub struct Failures(Arc<Mutex<HashMap<String, (u32, i64)>>>);

impl Failures {
    fn locked(&self, name: &str, now: i64) -> bool {
        let map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        map.get(name).is_some_and(|(n, last)| *n >= MAX_FAILURES && now - last < LOCK_MS)
    }

    fn failed(&self, name: &str, now: i64) {
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if map.len() > 10_000 {
            map.retain(|_, (_, last)| now - *last < LOCK_MS);
        }
        let entry = map.entry(name.to_string()).or_insert((0, now));
        if now - entry.1 >= LOCK_MS {
            *entry = (0, now);
        }
        *entry = (entry.0 + 1, now);
    }

    fn cleared(&self, name: &str) {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).remove(name);
    }
}

/// Body of `POST /api/v1/session`: a name and password, or an API token.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct LoginBody {
    /// Login name (with `password`).
    name: Option<String>,
    /// Her password.
    password: Option<String>,
    /// An API token instead (`tdh_...`).
    token: Option<String>,
}

/// The answer of a sign-in.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SessionView {
    /// The session token: send it as `Authorization: Bearer tds_...`.
    session: String,
    /// When it stops working (ms since the epoch).
    expires_at: i64,
    /// Who signed in.
    user: User,
}

/// An argon2 hash of nothing anyone knows: checked against when the name is unknown, so a
/// wrong name costs as long as a wrong password.
fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| token::hash("teduh-decoy-password").unwrap_or_default())
}

/// The user a name and password belong to.
async fn by_password(state: &ApiState, name: &str, password: &str) -> Result<Option<User>, ApiError> {
    let found = state.store.user_for_login(name).await?;
    let stored = found.as_ref().and_then(|(_, h)| h.clone()).unwrap_or_else(|| decoy_hash().to_string());
    let secret = password.to_string();
    let ok = tokio::task::spawn_blocking(move || token::verify(&secret, &stored)).await.unwrap_or(false);
    Ok(found.filter(|(_, h)| ok && h.is_some()).map(|(u, _)| u))
}

/// The user an API token belongs to.
async fn by_token(state: &ApiState, presented: &str) -> Result<Option<User>, ApiError> {
    let Some(id) = token::id_of(presented) else { return Ok(None) };
    let Some((user, stored)) = state.store.user_by_token_id(id).await? else { return Ok(None) };
    Ok(verified(state, presented, &stored).await.then_some(user))
}

/// Audits a refused sign-in under the name tried (or `unknown`) and answers 401.
async fn refused(state: &ApiState, name: Option<&str>, why: &str) -> ApiError {
    let actor = name.filter(|n| crate::access::valid_name(n).is_ok()).unwrap_or("unknown");
    if let Err(e) =
        state.audit_entry(actor, "-", "session.login", None, Outcome::Denied, Some(why.into())).await
    {
        return e;
    }
    ApiError::Unauthorized
}

/// `POST /api/v1/session`: signs in; 201 with the session token.
#[utoipa::path(post, path = "/api/v1/session", tag = "users", operation_id = "sign_in", request_body = LoginBody,
    security(()),
    responses((status = 201, body = SessionView), (status = 400, body = super::ErrorBody),
        (status = 401, body = super::ErrorBody)))]
pub async fn sign_in(
    State(state): State<ApiState>,
    Json(body): Json<LoginBody>,
) -> Result<(StatusCode, Json<SessionView>), ApiError> {
    let now = state.clock.now_ms();
    let user = match (&body.name, &body.password, &body.token) {
        (Some(name), Some(password), None) => {
            let name = name.trim();
            if state.logins.locked(name, now) {
                return Err(refused(&state, Some(name), "locked").await);
            }
            match by_password(&state, name, password).await? {
                Some(user) => {
                    state.logins.cleared(name);
                    user
                }
                None => {
                    state.logins.failed(name, now);
                    return Err(refused(&state, Some(name), "password").await);
                }
            }
        }
        (None, None, Some(presented)) => match by_token(&state, presented.trim()).await? {
            Some(user) => user,
            None => return Err(refused(&state, None, "token").await),
        },
        _ => return Err(ApiError::BadRequest("send either `name` and `password`, or `token`".into())),
    };
    let issued = token::issue_session();
    let expires_at = now + SESSION_MS;
    state.store.add_session(&issued.id, &user.id, &issued.digest, now, expires_at).await?;
    state.audit(&user, "session.login", None, Outcome::Ok, None).await?;
    tracing::info!(user = %user.name, "console session started");
    Ok((StatusCode::CREATED, Json(SessionView { session: issued.token, expires_at, user })))
}

/// `DELETE /api/v1/session`: signs out (the session token stops working at once).
#[utoipa::path(delete, path = "/api/v1/session", tag = "users", operation_id = "sign_out",
    responses((status = 204), (status = 401, body = super::ErrorBody)))]
pub async fn sign_out(State(state): State<ApiState>, headers: HeaderMap) -> Result<StatusCode, ApiError> {
    let presented = presented(&headers).ok_or(ApiError::Unauthorized)?;
    let (user, _) = session_user(&state, presented).await?;
    if let Some(id) = token::session_id_of(presented) {
        state.store.end_session(id).await?;
    }
    state.audit(&user, "session.logout", None, Outcome::Ok, None).await?;
    Ok(StatusCode::NO_CONTENT)
}
