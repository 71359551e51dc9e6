//! Providers and their on-call rosters: who is on call now and this week, and replacing a
//! provider's roster with the same checks as `teduh roster import`.

use axum::Json;
use axum::extract::{Path, State};
use serde::Serialize;

use super::auth::Caller;
use super::{ApiError, ApiState, Outcome};
use crate::directory::Provider;
use crate::escalation::roster::{self, Shift, parse_roster, week};

/// Days the week view shows, from today.
const WEEK_DAYS: i64 = 7;
/// Largest roster file accepted (a provider's shifts for a year fit many times over).
const MAX_ROSTER_BYTES: usize = 256 * 1024;

/// A provider as the console lists it: never counselors' phone numbers or chat ids.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ProviderView {
    /// Stable id.
    id: String,
    /// Display name.
    name: String,
    /// `uptd_ppa_kabkota`, `uptd_ppa_provinsi`, `lplpp`, `national`.
    kind: String,
    /// Region code (Kemendagri).
    region: String,
    /// Time zone of its hours and roster: `WIB`, `WITA` or `WIT`.
    tz: String,
    /// Its counselors: id and name.
    counselors: Vec<CounselorView>,
}

/// A counselor's id and name.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CounselorView {
    /// Id, as rosters name her.
    id: String,
    /// Name.
    name: String,
}

/// The answer of `GET /api/v1/providers`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ProviderList {
    /// By directory order.
    providers: Vec<ProviderView>,
}

fn provider_view(p: &Provider) -> ProviderView {
    ProviderView {
        id: p.id.clone(),
        name: p.name.clone(),
        kind: p.kind.as_str().to_string(),
        region: p.region.clone(),
        tz: p.hours.tz.as_str().to_string(),
        counselors: p
            .counselors
            .iter()
            .map(|c| CounselorView { id: c.id.clone(), name: c.name.clone() })
            .collect(),
    }
}

/// The directory as listed, `own` provider first.
pub(super) fn list_of(directory: &crate::directory::Directory, own: Option<&str>) -> ProviderList {
    let mut providers: Vec<&Provider> = directory.providers.iter().collect();
    providers.sort_by_key(|p| Some(p.id.as_str()) != own);
    ProviderList { providers: providers.into_iter().map(provider_view).collect() }
}

/// `GET /api/v1/providers`: the provider directory (her own provider first).
#[utoipa::path(get, path = "/api/v1/providers", tag = "rosters", operation_id = "list_providers",
    responses((status = 200, body = ProviderList), (status = 401, body = super::ErrorBody)))]
pub async fn providers(State(state): State<ApiState>, Caller(user): Caller) -> Json<ProviderList> {
    Json(list_of(&state.directory.get(), user.provider_id.as_deref()))
}

/// One shift, local times of the provider.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ShiftView {
    /// Counselor id.
    counselor: String,
    /// Her name.
    name: String,
    /// `primary`, `backup` or `supervisor`.
    role: String,
    /// Local start (`08:00`, or `2026-12-26 08:00` for a dated shift).
    start: String,
    /// Local end.
    end: String,
}

/// Who is on call at this moment.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OnCallView {
    /// Counselor id.
    counselor: String,
    /// Her name.
    name: String,
    /// Her role now.
    role: String,
    /// Until when (ms since the epoch).
    until: i64,
}

/// One day of the week view.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DayView {
    /// `YYYY-MM-DD`, the provider's local date.
    date: String,
    /// `mon` ... `sun`.
    weekday: String,
    /// Shifts starting that day.
    shifts: Vec<ShiftView>,
}

/// The answer of `GET /api/v1/rosters/{provider}`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RosterView {
    /// The provider.
    provider: ProviderView,
    /// On call now, in escalation order.
    on_call: Vec<OnCallView>,
    /// Today and the six days after it.
    week: Vec<DayView>,
    /// The provider's roster as its CSV file (docs/rosters.md), to edit and send back.
    csv: String,
}

fn name_of(p: &Provider, counselor: &str) -> String {
    p.counselors.iter().find(|c| c.id == counselor).map_or_else(|| counselor.to_string(), |c| c.name.clone())
}

/// The provider `id`, if `user` may see it; with `manage`, if she may change its roster.
async fn provider_for(
    state: &ApiState,
    user: &crate::access::User,
    id: &str,
    action: &str,
    manage: bool,
) -> Result<Provider, ApiError> {
    let found = state.directory.get().provider(id).cloned();
    let provider = found.ok_or_else(|| ApiError::NotFound(format!("provider {id}")))?;
    let allowed = if manage { user.manages_provider(id) } else { user.sees_provider(Some(id)) };
    if !allowed {
        state.audit(user, action, Some(id), Outcome::Denied, None).await?;
        return Err(ApiError::Forbidden);
    }
    Ok(provider)
}

async fn view(state: &ApiState, provider: &Provider) -> Result<RosterView, ApiError> {
    let shifts: Vec<Shift> = state.store.roster_of(&provider.id).await?;
    let now = state.clock.now_ms();
    let on_call = roster::on_call(&shifts, provider, now)
        .into_iter()
        .map(|o| OnCallView {
            counselor: o.counselor().to_string(),
            name: name_of(provider, o.counselor()),
            role: o.role().as_str().to_string(),
            until: o.until_utc_ms,
        })
        .collect();
    let offset_ms = i64::from(provider.hours.tz.utc_offset_hours()) * 3_600_000;
    let today = (now + offset_ms).div_euclid(86_400_000);
    let week = week::week(&shifts, today, WEEK_DAYS)
        .into_iter()
        .map(|d| DayView {
            date: d.date,
            weekday: d.weekday.as_str().to_string(),
            shifts: d
                .shifts
                .into_iter()
                .map(|(s, start, end)| ShiftView {
                    counselor: s.counselor.clone(),
                    name: name_of(provider, &s.counselor),
                    role: s.role.as_str().to_string(),
                    start,
                    end,
                })
                .collect(),
        })
        .collect();
    Ok(RosterView { provider: provider_view(provider), on_call, week, csv: week::to_csv(&shifts) })
}

/// `GET /api/v1/rosters/{provider}`: who is on call now, this week's shifts, and the roster
/// file; for the provider's own staff and admins.
#[utoipa::path(get, path = "/api/v1/rosters/{provider}", tag = "rosters", operation_id = "read_roster",
    params(("provider" = String, Path, description = "Provider id")),
    responses((status = 200, body = RosterView), (status = 401, body = super::ErrorBody),
        (status = 403, body = super::ErrorBody), (status = 404, body = super::ErrorBody)))]
pub async fn read(
    State(state): State<ApiState>,
    Caller(user): Caller,
    Path(id): Path<String>,
) -> Result<Json<RosterView>, ApiError> {
    let provider = provider_for(&state, &user, &id, "roster.read", false).await?;
    Ok(Json(view(&state, &provider).await?))
}

/// `PUT /api/v1/rosters/{provider}`: replaces the provider's shifts with the roster file in
/// the body (`text/csv`, docs/rosters.md), checked whole as `teduh roster import` checks it;
/// every problem is listed in the 400 and nothing is stored.
#[utoipa::path(put, path = "/api/v1/rosters/{provider}", tag = "rosters", operation_id = "replace_roster",
    params(("provider" = String, Path, description = "Provider id")),
    request_body(content = String, content_type = "text/csv", description = "The roster file"),
    responses((status = 200, body = RosterView), (status = 400, body = super::ErrorBody),
        (status = 401, body = super::ErrorBody), (status = 403, body = super::ErrorBody),
        (status = 404, body = super::ErrorBody)))]
pub async fn replace(
    State(state): State<ApiState>,
    Caller(user): Caller,
    Path(id): Path<String>,
    body: String,
) -> Result<Json<RosterView>, ApiError> {
    let provider = provider_for(&state, &user, &id, "roster.replace", true).await?;
    if body.len() > MAX_ROSTER_BYTES {
        return Err(ApiError::BadRequest(format!("a roster file is at most {MAX_ROSTER_BYTES} bytes")));
    }
    let stored = state.store.providers().await?;
    let shifts = parse_roster(&body, &stored).map_err(|problems| {
        let lines: Vec<String> = problems.iter().map(ToString::to_string).collect();
        ApiError::BadRequest(lines.join("; "))
    })?;
    if let Some(other) = shifts.iter().find(|s| s.provider != id) {
        return Err(ApiError::BadRequest(format!(
            "this roster is for {id}; a shift names {} (import other providers' rosters on their own page)",
            other.provider
        )));
    }
    state
        .audit(&user, "roster.replace", Some(&id), Outcome::Ok, Some(format!("shifts={}", shifts.len())))
        .await?;
    state.store.replace_roster(std::slice::from_ref(&id), &shifts).await?;
    tracing::info!(provider = %id, shifts = shifts.len(), "roster replaced from the API");
    Ok(Json(view(&state, &provider).await?))
}
