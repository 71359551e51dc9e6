//! Cases: list, read one with its timeline, add a note, export for SIMFONI PPA.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::auth::Caller;
use super::{ApiError, ApiState, Outcome};
use crate::access::User;
use crate::case::time::period;
use crate::limits::MAX_TEXT_CHARS;
use crate::store::{CaseEvent, CaseFilter, CaseRow};

/// Most cases one list returns.
const MAX_LIST: i64 = 1000;

/// A case as the API shows it: never the survivor's address.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CaseView {
    /// The case code counselors use, e.g. `K-3F9A1C`.
    code: String,
    /// `new`, `escalating`, `accepted`, `in_progress`, `referred` or `closed`.
    status: String,
    /// `urgent` or `normal`.
    priority: String,
    /// The kind of report the flow recorded (e.g. `physical`).
    category: Option<String>,
    /// Her region's code (Kemendagri), when she gave one.
    region_code: Option<String>,
    /// The provider the case is routed to.
    provider_id: Option<String>,
    /// The counselor holding the case.
    accepted_by: Option<String>,
    /// When it was opened (ms since the epoch).
    created_at: i64,
    /// Structured fields (kind of violence, age group, ...).
    #[schema(value_type = Object)]
    fields: Value,
    /// Whether she can still be reached (false once she withdrew contact).
    reachable: bool,
    /// How far escalation climbed: the highest notification level so far (1: the first
    /// counselor asked), `null` before anyone was asked.
    level: Option<i64>,
}

impl CaseView {
    fn new(case: CaseRow, created_at: i64) -> Self {
        let fields = case.fields.as_deref().and_then(|f| serde_json::from_str(f).ok()).unwrap_or(Value::Null);
        Self {
            reachable: case.conversation_id.is_some(),
            code: case.code,
            status: case.status,
            priority: case.priority,
            category: case.category,
            region_code: case.region_code,
            provider_id: case.provider_id,
            accepted_by: case.accepted_by,
            created_at,
            fields,
            level: None,
        }
    }
}

/// Filters of `GET /api/v1/cases`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only cases in this status (`open`: every status but `closed`).
    status: Option<String>,
    /// `urgent` or `normal`.
    priority: Option<String>,
    /// A provider id (admins; others get their own, and asking for another is 403).
    provider: Option<String>,
    /// The kind of report.
    kind: Option<String>,
    /// First local day, `YYYY-MM-DD`.
    from: Option<String>,
    /// Last local day, `YYYY-MM-DD`.
    to: Option<String>,
    /// `WIB` (default), `WITA` or `WIT`.
    tz: Option<String>,
    /// At most this many (default 100, at most 1000).
    limit: Option<i64>,
}

/// The answer of `GET /api/v1/cases`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CaseList {
    /// Newest first.
    cases: Vec<CaseView>,
    /// The server's time (ms since the epoch), to show how long ago a case came in even when
    /// the reader's clock is wrong.
    now: i64,
}

/// The answer of `GET /api/v1/cases/{code}`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CaseDetail {
    /// The case.
    case: CaseView,
    /// How she asked to be called back, with her number: only for the counselor holding the
    /// case, and only when she consented to share it (the one exception to "never her address").
    #[serde(skip_serializing_if = "Option::is_none")]
    contact: Option<crate::escalation::action::SharedContact>,
    /// What happened to it, oldest first (notes included).
    timeline: Vec<EventView>,
}

/// The answer of a change that has nothing more to say.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Done {
    /// Always `true`.
    ok: bool,
}

/// `from`/`to` as local days in `tz` (default WIB), either may be left out.
fn optional_period(
    from: Option<&str>,
    to: Option<&str>,
    tz: Option<&str>,
) -> Result<(Option<i64>, Option<i64>), ApiError> {
    let tz = tz.unwrap_or("WIB");
    let bad = |e: crate::case::time::PeriodError| ApiError::BadRequest(e.to_string());
    match (from, to) {
        (None, None) => Ok((None, None)),
        (Some(f), Some(t)) => period(f, t, tz).map(|(a, b, _)| (Some(a), Some(b))).map_err(bad),
        (Some(f), None) => period(f, f, tz).map(|(a, _, _)| (Some(a), None)).map_err(bad),
        (None, Some(t)) => period(t, t, tz).map(|(_, b, _)| (None, Some(b))).map_err(bad),
    }
}

/// The provider a list is limited to: her own unless she is an admin, who may choose.
async fn scope(
    state: &ApiState,
    user: &User,
    asked: Option<String>,
    action: &str,
) -> Result<Option<String>, ApiError> {
    match (user.provider_scope(), asked) {
        (None, asked) => Ok(asked),
        (Some(own), Some(asked)) if asked != own => {
            state.audit(user, action, Some(&asked), Outcome::Denied, None).await?;
            Err(ApiError::Forbidden)
        }
        (Some(own), _) => Ok(Some(own.to_string())),
    }
}

/// `GET /api/v1/cases`: newest first, within her provider unless she is an admin.
#[utoipa::path(get, path = "/api/v1/cases", tag = "cases", operation_id = "list_cases", params(ListQuery),
    responses((status = 200, body = CaseList), (status = 400, body = super::ErrorBody),
        (status = 401, body = super::ErrorBody), (status = 403, body = super::ErrorBody)))]
pub async fn list(
    State(state): State<ApiState>,
    Caller(user): Caller,
    Query(query): Query<ListQuery>,
) -> Result<Json<CaseList>, ApiError> {
    let provider = scope(&state, &user, query.provider.clone(), "cases.list").await?;
    let (from, to) = optional_period(query.from.as_deref(), query.to.as_deref(), query.tz.as_deref())?;
    let filter = CaseFilter {
        status: query.status,
        priority: query.priority,
        provider,
        category: query.kind,
        from,
        to,
        limit: query.limit.unwrap_or(100).clamp(1, MAX_LIST),
    };
    let rows = state.store.list_cases(&filter).await?;
    let detail = format!(
        "status={};priority={};provider={};kind={};count={}",
        filter.status.as_deref().unwrap_or("*"),
        filter.priority.as_deref().unwrap_or("*"),
        filter.provider.as_deref().unwrap_or("*"),
        filter.category.as_deref().unwrap_or("*"),
        rows.len()
    );
    state.audit(&user, "cases.list", None, Outcome::Ok, Some(detail)).await?;
    let levels = state.store.case_levels(&filter).await?;
    let cases: Vec<CaseView> = rows
        .into_iter()
        .map(|(case, at)| {
            let level = levels.get(&case.id).copied();
            CaseView { level, ..CaseView::new(case, at) }
        })
        .collect();
    Ok(Json(CaseList { cases, now: state.clock.now_ms() }))
}

/// The case `code` if she may see it; an attempt on another provider's case is audited.
pub(super) async fn visible_case(
    state: &ApiState,
    user: &User,
    code: &str,
    action: &str,
) -> Result<(CaseRow, i64), ApiError> {
    let code = code.trim().to_uppercase();
    let Some(case) = state.store.case_by_code(&code).await? else {
        return Err(ApiError::NotFound(format!("case {code}")));
    };
    let Some(found) = state.store.case_by_id(&case.id).await? else {
        return Err(ApiError::NotFound(format!("case {code}")));
    };
    if !user.sees_provider(case.provider_id.as_deref()) {
        state.audit(user, action, Some(&code), Outcome::Denied, None).await?;
        return Err(ApiError::Forbidden);
    }
    Ok(found)
}

/// One entry of a case's timeline.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EventView {
    /// When (ms since the epoch).
    at: i64,
    /// `opened`, `routed`, `notified`, `accepted`, `note`, `closed`, ...
    kind: String,
    /// Its particulars (a note's text, who was notified at which level).
    detail: Option<String>,
}

impl From<CaseEvent> for EventView {
    fn from(e: CaseEvent) -> Self {
        Self { at: e.at, kind: e.kind, detail: e.detail }
    }
}

/// `GET /api/v1/cases/{code}`: the case and its timeline (with counselors' notes).
#[utoipa::path(get, path = "/api/v1/cases/{code}", tag = "cases", operation_id = "read_case",
    params(("code" = String, Path, description = "The case code, e.g. K-3F9A1C")),
    responses((status = 200, body = CaseDetail), (status = 401, body = super::ErrorBody),
        (status = 403, body = super::ErrorBody), (status = 404, body = super::ErrorBody)))]
pub async fn one(
    State(state): State<ApiState>,
    Caller(user): Caller,
    Path(code): Path<String>,
) -> Result<Json<CaseDetail>, ApiError> {
    let (case, created_at) = visible_case(&state, &user, &code, "case.read").await?;
    let events: Vec<EventView> =
        state.store.case_events(&case.id).await?.into_iter().map(EventView::from).collect();
    let level = events
        .iter()
        .filter(|e| e.kind == "notified")
        .filter_map(|e| crate::case::detail(e.detail.as_deref(), "level")?.parse().ok())
        .max();
    let holds = user.counselor_id.is_some() && user.counselor_id == case.accepted_by;
    let contact = match (holds, case.status.as_str()) {
        (true, status) if status != "closed" => {
            state.store.case_survivor(&case.id).await?.and_then(|(channel, contact, _)| {
                crate::escalation::action::shared_contact(&case, &channel, &contact)
            })
        }
        _ => None,
    };
    let view = CaseView { level, ..CaseView::new(case, created_at) };
    let detail = contact.is_some().then(|| "contact=shared".to_string());
    state.audit(&user, "case.read", Some(&view.code), Outcome::Ok, detail).await?;
    Ok(Json(CaseDetail { case: view, timeline: events, contact }))
}

/// Body of `POST /api/v1/cases/{code}/notes`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct NoteBody {
    /// 1 to 4,096 characters; never shown to the survivor.
    text: String,
}

/// `POST /api/v1/cases/{code}/notes`: a counselor's note on the timeline (sealed at rest).
#[utoipa::path(post, path = "/api/v1/cases/{code}/notes", tag = "cases", operation_id = "add_case_note",
    params(("code" = String, Path, description = "The case code")), request_body = NoteBody,
    responses((status = 201, body = Done), (status = 400, body = super::ErrorBody),
        (status = 401, body = super::ErrorBody), (status = 403, body = super::ErrorBody),
        (status = 404, body = super::ErrorBody)))]
pub async fn add_note(
    State(state): State<ApiState>,
    Caller(user): Caller,
    Path(code): Path<String>,
    Json(body): Json<NoteBody>,
) -> Result<Response, ApiError> {
    let text = body.text.trim();
    if text.is_empty() || text.chars().count() > MAX_TEXT_CHARS {
        return Err(ApiError::BadRequest(format!("a note is 1 to {MAX_TEXT_CHARS} characters")));
    }
    let (case, _) = visible_case(&state, &user, &code, "case.note").await?;
    // Audited first: if the note cannot be recorded as hers, it is not written.
    state.audit(&user, "case.note", Some(&case.code), Outcome::Ok, None).await?;
    state.store.add_case_event(&case.id, state.clock.now_ms(), "note", Some(text)).await?;
    Ok((axum::http::StatusCode::CREATED, Json(Done { ok: true })).into_response())
}

/// Cases opened in `[from, to)` with their timelines, only `provider`'s when given (exports and
/// reports).
pub(super) async fn records_of(
    state: &ApiState,
    from: i64,
    to: i64,
    provider: Option<&str>,
) -> Result<Vec<crate::store::CaseRecord>, ApiError> {
    let mut records = state.store.cases_between(from, to).await?;
    if let Some(p) = provider {
        records.retain(|r| r.case.provider_id.as_deref() == Some(p));
    }
    Ok(records)
}

/// Parameters of `GET /api/v1/cases/export.csv`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    /// First local day, `YYYY-MM-DD`.
    from: String,
    /// Last local day, `YYYY-MM-DD`.
    to: String,
    /// `WIB` (default), `WITA` or `WIT`.
    tz: Option<String>,
    /// A provider id (admins; supervisors get their own).
    provider: Option<String>,
    /// Comma-separated columns to keep (docs/cases.md); all by default.
    columns: Option<String>,
}

/// `GET /api/v1/cases/export.csv`: the CLI's SIMFONI PPA export, for supervisors (their
/// provider) and admins.
#[utoipa::path(get, path = "/api/v1/cases/export.csv", tag = "cases", operation_id = "export_cases", params(ExportQuery),
    responses((status = 200, content_type = "text/csv", body = String, description = "SIMFONI PPA columns"),
        (status = 400, body = super::ErrorBody), (status = 401, body = super::ErrorBody),
        (status = 403, body = super::ErrorBody)))]
pub async fn export(
    State(state): State<ApiState>,
    Caller(user): Caller,
    Query(query): Query<ExportQuery>,
) -> Result<Response, ApiError> {
    let tz = query.tz.as_deref().unwrap_or("WIB");
    let (from, to, offset) =
        period(&query.from, &query.to, tz).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let provider = scope(&state, &user, query.provider.clone(), "cases.export").await?;
    if let Some(p) = &provider
        && !user.manages_provider(p)
    {
        state.audit(&user, "cases.export", Some(p), Outcome::Denied, None).await?;
        return Err(ApiError::Forbidden);
    }
    let columns: Vec<String> = query
        .columns
        .as_deref()
        .map(|c| c.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect())
        .unwrap_or_default();
    let records = records_of(&state, from, to, provider.as_deref()).await?;
    let csv = crate::case::export::export_csv(&records, &state.directory.get(), &columns, offset)
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let detail = format!("from={};to={};tz={tz};count={}", query.from, query.to, records.len());
    state.audit(&user, "cases.export", provider.as_deref(), Outcome::Ok, Some(detail)).await?;
    Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], csv).into_response())
}
