//! Changing the provider directory through the API (admins): a whole directory file, or one
//! provider created or updated, both checked as `teduh providers import` checks a file. The
//! change is in use on this instance at once and on every other within seconds.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, State};

use super::auth::Caller;
use super::rosters::{ProviderList, list_of};
use super::{ApiError, ApiState, Outcome};
use crate::access::{Role, User};
use crate::directory::Provider;
use crate::directory::provider::parse_directory;

/// Largest directory file accepted.
const MAX_DIRECTORY_BYTES: usize = 1024 * 1024;

async fn admin_only(
    state: &ApiState,
    user: &User,
    action: &str,
    subject: Option<&str>,
) -> Result<(), ApiError> {
    if user.role == Role::Admin {
        return Ok(());
    }
    state.audit(user, action, subject, Outcome::Denied, None).await?;
    Err(ApiError::Forbidden)
}

/// The providers of a directory file, or every problem in it.
fn parse(state: &ApiState, body: &str) -> Result<Vec<Provider>, ApiError> {
    if body.len() > MAX_DIRECTORY_BYTES {
        return Err(ApiError::BadRequest(format!("a directory file is at most {MAX_DIRECTORY_BYTES} bytes")));
    }
    parse_directory(body, &state.directory.get().regions).map_err(|problems| {
        let lines: Vec<String> = problems.iter().map(ToString::to_string).collect();
        ApiError::BadRequest(lines.join("; "))
    })
}

/// Stores `providers` as the whole directory and puts it in use here.
async fn store(state: &ApiState, providers: Vec<Provider>) -> Result<Json<ProviderList>, ApiError> {
    state.store.replace_providers(&providers).await?;
    state.directory.update_providers(providers);
    Ok(Json(list_of(&state.directory.get(), None)))
}

/// `PUT /api/v1/providers`: replaces the whole directory with the file in the body (YAML,
/// docs/providers.md); every problem is listed in the 400 and nothing is stored.
#[utoipa::path(put, path = "/api/v1/providers", tag = "rosters", operation_id = "replace_providers",
    request_body(content = String, content_type = "application/yaml", description = "A directory file"),
    responses((status = 200, body = ProviderList), (status = 400, body = super::ErrorBody),
        (status = 401, body = super::ErrorBody), (status = 403, body = super::ErrorBody)))]
pub async fn replace_all(
    State(state): State<ApiState>,
    Caller(user): Caller,
    body: String,
) -> Result<Json<ProviderList>, ApiError> {
    admin_only(&state, &user, "providers.replace", None).await?;
    let providers = parse(&state, &body)?;
    if providers.is_empty() {
        return Err(ApiError::BadRequest("a directory needs at least one provider".into()));
    }
    let detail = format!("providers={}", providers.len());
    state.audit(&user, "providers.replace", None, Outcome::Ok, Some(detail)).await?;
    tracing::info!(providers = providers.len(), "provider directory replaced from the API");
    store(&state, providers).await
}

/// `PUT /api/v1/providers/{id}`: creates or updates one provider from a directory file that
/// holds only it; its counselor ids must not belong to another provider.
#[utoipa::path(put, path = "/api/v1/providers/{id}", tag = "rosters", operation_id = "put_provider",
    params(("id" = String, Path, description = "Provider id")),
    request_body(content = String, content_type = "application/yaml", description = "A directory file with this one provider"),
    responses((status = 200, body = ProviderList), (status = 400, body = super::ErrorBody),
        (status = 401, body = super::ErrorBody), (status = 403, body = super::ErrorBody)))]
pub async fn put_one(
    State(state): State<ApiState>,
    Caller(user): Caller,
    Path(id): Path<String>,
    body: String,
) -> Result<Json<ProviderList>, ApiError> {
    admin_only(&state, &user, "provider.put", Some(&id)).await?;
    let mut parsed = parse(&state, &body)?;
    let one = match (parsed.pop(), parsed.is_empty()) {
        (Some(p), true) if p.id == id => p,
        _ => {
            return Err(ApiError::BadRequest(format!(
                "the file must hold exactly one provider, with id `{id}`"
            )));
        }
    };
    let mut providers = state.store.providers().await?;
    let owners: HashMap<&str, &str> = providers
        .iter()
        .filter(|p| p.id != id)
        .flat_map(|p| p.counselors.iter().map(move |c| (c.id.as_str(), p.id.as_str())))
        .collect();
    let taken: Vec<String> = one
        .counselors
        .iter()
        .filter_map(|c| {
            owners.get(c.id.as_str()).map(|owner| format!("counselor `{}` belongs to {owner}", c.id))
        })
        .collect();
    if !taken.is_empty() {
        return Err(ApiError::BadRequest(taken.join("; ")));
    }
    let created = !providers.iter().any(|p| p.id == id);
    match providers.iter_mut().find(|p| p.id == id) {
        Some(existing) => *existing = one,
        None => providers.push(one),
    }
    let detail = if created { "created" } else { "updated" };
    state.audit(&user, "provider.put", Some(&id), Outcome::Ok, Some(detail.into())).await?;
    tracing::info!(provider = %id, detail, "provider changed from the API");
    store(&state, providers).await
}
