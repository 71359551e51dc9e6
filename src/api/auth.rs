//! Bearer tokens to users. Argon2 is slow on purpose, so a token whose hash was verified is
//! remembered (by its SHA-256) for a few minutes; the user row is still read on every request,
//! so a revoked user is refused at once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use axum::Json;
use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::{ApiError, ApiState};
use crate::access::{User, token};

/// How long a verified token is remembered.
const REMEMBER_MS: i64 = 5 * 60 * 1000;
/// Most tokens remembered; the cache is cleared when it is full.
const MAX_REMEMBERED: usize = 10_000;

/// A verified token's stored hash and until when it is trusted.
type Verified = (String, i64);

/// Recently verified tokens, by the SHA-256 of the token.
#[derive(Debug, Clone, Default)]
pub struct TokenCache(Arc<Mutex<HashMap<[u8; 32], Verified>>>);

impl TokenCache {
    fn remembered(&self, digest: &[u8; 32], stored: &str, now: i64) -> bool {
        let map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        map.get(digest).is_some_and(|(hash, until)| hash == stored && *until > now)
    }

    fn remember(&self, digest: [u8; 32], stored: String, now: i64) {
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if map.len() >= MAX_REMEMBERED {
            map.clear();
        }
        map.insert(digest, (stored, now + REMEMBER_MS));
    }
}

/// The authenticated user of a request.
#[derive(Debug, Clone)]
pub struct Caller(pub User);

impl<S> FromRequestParts<S> for Caller
where
    ApiState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let state = ApiState::from_ref(state);
        let presented = presented(&parts.headers).ok_or(ApiError::Unauthorized)?;
        if presented.starts_with("tds_") {
            return session_user(&state, presented).await.map(|(user, _)| Caller(user));
        }
        let id = token::id_of(presented).ok_or(ApiError::Unauthorized)?;
        let (user, stored) = state.store.user_by_token_id(id).await?.ok_or_else(|| {
            tracing::info!("API request with an unknown or revoked token refused");
            ApiError::Unauthorized
        })?;
        if !verified(&state, presented, &stored).await {
            tracing::info!(user = %user.name, "API request with a wrong token secret refused");
            return Err(ApiError::Unauthorized);
        }
        Ok(Caller(user))
    }
}

/// The bearer token of a request.
pub(super) fn presented(headers: &axum::http::HeaderMap) -> Option<&str> {
    let header = headers.get(axum::http::header::AUTHORIZATION).and_then(|h| h.to_str().ok())?;
    header.strip_prefix("Bearer ").map(str::trim)
}

/// Whether `presented` matches the stored argon2 hash (remembered for a few minutes once it did).
pub(super) async fn verified(state: &ApiState, presented: &str, stored: &str) -> bool {
    let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
    let now = state.clock.now_ms();
    if state.tokens.remembered(&digest, stored, now) {
        return true;
    }
    let (secret, hash) = (presented.to_string(), stored.to_string());
    // Hashing takes tens of milliseconds of CPU: keep it off the async workers.
    let ok = tokio::task::spawn_blocking(move || token::verify(&secret, &hash)).await.unwrap_or(false);
    if ok {
        state.tokens.remember(digest, stored.to_string(), now);
    }
    ok
}

/// The user of a console session token, and when the session ends.
pub(super) async fn session_user(state: &ApiState, presented: &str) -> Result<(User, i64), ApiError> {
    let id = token::session_id_of(presented).ok_or(ApiError::Unauthorized)?;
    let now = state.clock.now_ms();
    let Some((user, stored, expires)) = state.store.user_by_session(id, now).await? else {
        tracing::info!("console session unknown, expired or revoked");
        return Err(ApiError::Unauthorized);
    };
    if !bool::from(token::digest(presented).as_bytes().ct_eq(stored.as_bytes())) {
        return Err(ApiError::Unauthorized);
    }
    Ok((user, expires))
}

/// `GET /api/v1/me`: who the token belongs to.
#[utoipa::path(get, path = "/api/v1/me", tag = "users", operation_id = "me",
    responses((status = 200, body = crate::access::User), (status = 401, body = super::ErrorBody)))]
pub async fn me(Caller(user): Caller) -> Json<User> {
    Json(user)
}
