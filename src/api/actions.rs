//! Working a case from the API: accept, pass, close, transfer, structured fields, and the relay
//! conversation with the survivor (read it, write to her through her channel).
//!
//! Accept, pass and writing to her need a user who is on her provider's roster
//! (`counselor_id`); closing, transferring and fields are for the counselor holding the case and
//! for her provider's supervisors (and admins).

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use serde::{Deserialize, Serialize};

use super::auth::Caller;
use super::cases::visible_case;
use super::{ApiError, ApiState, Outcome};
use crate::access::{Role, User};
use crate::directory::provider::{Counselor, CounselorChannels};
use crate::directory::{Directory, Provider};
use crate::escalation::action::{CaseAction, Done};
use crate::escalation::address::counselor_by_id;
use crate::escalation::run::Escalator;
use crate::limits::MAX_TEXT_CHARS;
use crate::store::{CaseMessage, CaseRow};

/// What a change did.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ActionResult {
    /// `accepted`, `passed`, `closed`, `transferred`, `referred`, `fields_set` or `relayed`.
    outcome: String,
    /// The case's status afterwards.
    status: String,
    /// Who or where it went, for a transfer.
    #[serde(skip_serializing_if = "Option::is_none")]
    to: Option<String>,
}

/// Body of `POST /api/v1/cases/{code}/transfer`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct TransferBody {
    /// A counselor's or provider's id or name (her own provider's counselors are looked up first).
    to: String,
}

/// Body of `PATCH /api/v1/cases/{code}/fields`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct FieldsBody {
    /// Field name to value: `kind` (SIMFONI PPA kind of violence), `age_group`, `relationship`,
    /// `place`; the same names and values as the counselors' `DATA` command.
    #[schema(value_type = Object)]
    fields: BTreeMap<String, String>,
}

/// Body of `POST /api/v1/cases/{code}/messages`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct MessageBody {
    /// 1 to 4,096 characters, sent to the survivor under the counselor's name (or her
    /// provider's, where names are kept private).
    text: String,
}

/// One message of the relay conversation.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MessageView {
    /// Its place in the conversation (ask for `after` it to get only newer ones).
    id: i64,
    /// When it was relayed (ms since the epoch).
    at: i64,
    /// `survivor` or `counselor`.
    sender: String,
    /// The counselor who wrote it.
    author: Option<String>,
    /// What was written; `null` once retention removed it.
    text: Option<String>,
}

impl From<CaseMessage> for MessageView {
    fn from(m: CaseMessage) -> Self {
        Self { id: m.id, at: m.at, sender: m.sender, author: m.author, text: m.text }
    }
}

/// The answer of `GET /api/v1/cases/{code}/messages`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Transcript {
    /// Oldest first.
    messages: Vec<MessageView>,
}

/// Query of `GET /api/v1/cases/{code}/messages`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TranscriptQuery {
    /// Only messages after this id.
    after: Option<i64>,
}

fn escalator(state: &ApiState) -> Result<&Escalator, ApiError> {
    state.escalator.as_deref().ok_or_else(|| ApiError::Conflict("escalation is not running here".into()))
}

/// Her entry on her provider's roster.
fn counselor_of<'d>(directory: &'d Directory, user: &User) -> Option<(&'d Counselor, &'d Provider)> {
    let id = user.counselor_id.as_deref()?;
    counselor_by_id(directory, id).filter(|(_, p)| user.provider_id.as_deref() == Some(p.id.as_str()))
}

/// Who acts for `user` on `case`: the counselor holding it, or (for closing, transfers and
/// fields) a supervisor or admin under her own name.
fn actor(
    directory: &Directory,
    user: &User,
    case: &CaseRow,
    managers_too: bool,
) -> Result<Counselor, ApiError> {
    if let Some((counselor, _)) = counselor_of(directory, user)
        && case.accepted_by.as_deref() == Some(counselor.id.as_str())
    {
        return Ok(counselor.clone());
    }
    let manages = case.provider_id.as_deref().is_some_and(|p| user.manages_provider(p));
    if managers_too && manages {
        return Ok(as_actor(user));
    }
    Err(ApiError::Forbidden)
}

/// The provider a case is routed to.
fn provider_of<'d>(directory: &'d Directory, case: &CaseRow) -> Result<&'d Provider, ApiError> {
    case.provider_id
        .as_deref()
        .and_then(|p| directory.provider(p))
        .ok_or_else(|| ApiError::Conflict(format!("case {} is not routed to a provider", case.code)))
}

/// The case's status now.
async fn status_of(state: &ApiState, case: &CaseRow) -> Result<String, ApiError> {
    Ok(state.store.case_by_id(&case.id).await?.map_or_else(|| case.status.clone(), |(c, _)| c.status))
}

async fn result(
    state: &ApiState,
    case: &CaseRow,
    outcome: &str,
    to: Option<String>,
) -> Result<Json<ActionResult>, ApiError> {
    let status = status_of(state, case).await?;
    Ok(Json(ActionResult { outcome: outcome.into(), status, to }))
}

/// The refusal (audited) of a change by someone the rule does not allow.
async fn refuse(state: &ApiState, user: &User, action: &str, code: &str) -> ApiError {
    match state.audit(user, action, Some(code), Outcome::Denied, None).await {
        Ok(()) => ApiError::Forbidden,
        Err(e) => e,
    }
}

/// A supervisor or admin off the roster, acting under her own name.
fn as_actor(user: &User) -> Counselor {
    Counselor {
        id: format!("user:{}", user.name),
        name: user.name.clone(),
        channels: CounselorChannels::default(),
    }
}

/// `POST /api/v1/cases/{code}/accept`: she takes the case (one accept wins; 409 names the
/// counselor who was first).
#[utoipa::path(post, path = "/api/v1/cases/{code}/accept", tag = "cases", operation_id = "accept_case",
    params(("code" = String, Path, description = "The case code")),
    responses((status = 200, body = ActionResult), (status = 401, body = super::ErrorBody),
        (status = 403, body = super::ErrorBody), (status = 404, body = super::ErrorBody),
        (status = 409, body = super::ErrorBody)))]
pub async fn accept(
    State(state): State<ApiState>,
    Caller(user): Caller,
    Path(code): Path<String>,
) -> Result<Json<ActionResult>, ApiError> {
    let (case, created) = visible_case(&state, &user, &code, "case.accept").await?;
    let directory = state.directory.get();
    let Some((counselor, provider)) = counselor_of(&directory, &user) else {
        return Err(refuse(&state, &user, "case.accept", &case.code).await);
    };
    if case.provider_id.as_deref() != Some(provider.id.as_str()) {
        return Err(refuse(&state, &user, "case.accept", &case.code).await);
    }
    let level = state.store.notification_for_case(&counselor.id, &case.id).await?.map_or(0, |n| n.step_seq);
    match escalator(&state)?.accept_case(&case, created, counselor, provider, level, &|_| None).await? {
        Done::Accepted => {
            state.audit(&user, "case.accept", Some(&case.code), Outcome::Ok, None).await?;
            result(&state, &case, "accepted", None).await
        }
        Done::TakenBy(name) => {
            Err(ApiError::Conflict(format!("case {} is already held by {name}", case.code)))
        }
        _ => Err(ApiError::Conflict(format!("case {} is closed", case.code))),
    }
}

/// `POST /api/v1/cases/{code}/pass`: she lets a case she was notified of go to the next
/// counselor at once.
#[utoipa::path(post, path = "/api/v1/cases/{code}/pass", tag = "cases", operation_id = "pass_case",
    params(("code" = String, Path, description = "The case code")),
    responses((status = 200, body = ActionResult), (status = 401, body = super::ErrorBody),
        (status = 403, body = super::ErrorBody), (status = 404, body = super::ErrorBody),
        (status = 409, body = super::ErrorBody)))]
pub async fn pass(
    State(state): State<ApiState>,
    Caller(user): Caller,
    Path(code): Path<String>,
) -> Result<Json<ActionResult>, ApiError> {
    let (case, created) = visible_case(&state, &user, &code, "case.pass").await?;
    let directory = state.directory.get();
    let Some((counselor, _)) = counselor_of(&directory, &user) else {
        return Err(refuse(&state, &user, "case.pass", &case.code).await);
    };
    let Some(notice) = state.store.notification_for_case(&counselor.id, &case.id).await? else {
        return Err(ApiError::Conflict(format!("you were not asked to take case {}", case.code)));
    };
    state.audit(&user, "case.pass", Some(&case.code), Outcome::Ok, None).await?;
    escalator(&state)?.pass_case(&case, created, counselor, notice.step_seq, &|_| None).await?;
    result(&state, &case, "passed", None).await
}

/// `POST /api/v1/cases/{code}/close`: the case is closed and the survivor is asked about the
/// service (the satisfaction survey, on her channel).
#[utoipa::path(post, path = "/api/v1/cases/{code}/close", tag = "cases", operation_id = "close_case",
    params(("code" = String, Path, description = "The case code")),
    responses((status = 200, body = ActionResult), (status = 401, body = super::ErrorBody),
        (status = 403, body = super::ErrorBody), (status = 404, body = super::ErrorBody),
        (status = 409, body = super::ErrorBody)))]
pub async fn close(
    State(state): State<ApiState>,
    Caller(user): Caller,
    Path(code): Path<String>,
) -> Result<Json<ActionResult>, ApiError> {
    let (case, _) = visible_case(&state, &user, &code, "case.close").await?;
    let directory = state.directory.get();
    if case.status == "closed" {
        return Err(ApiError::Conflict(format!("case {} is already closed", case.code)));
    }
    let Ok(actor) = actor(&directory, &user, &case, true) else {
        return Err(refuse(&state, &user, "case.close", &case.code).await);
    };
    let provider = provider_of(&directory, &case)?;
    state.audit(&user, "case.close", Some(&case.code), Outcome::Ok, None).await?;
    let done = escalator(&state)?.act(&case, &actor, provider, CaseAction::Close, &|_| None).await?;
    if let (Done::Closed { survivor: Some((channel, contact)) }, Some(runtime)) = (done, &state.runtime) {
        runtime.begin_survey(&channel, &contact).await.map_err(|crate::runtime::RuntimeError::Store(e)| e)?;
    }
    result(&state, &case, "closed", None).await
}

/// `POST /api/v1/cases/{code}/transfer`: to a colleague (who holds it at once and is told) or
/// to another provider (where it escalates from the first step).
#[utoipa::path(post, path = "/api/v1/cases/{code}/transfer", tag = "cases", operation_id = "transfer_case",
    params(("code" = String, Path, description = "The case code")), request_body = TransferBody,
    responses((status = 200, body = ActionResult), (status = 400, body = super::ErrorBody),
        (status = 401, body = super::ErrorBody), (status = 403, body = super::ErrorBody),
        (status = 404, body = super::ErrorBody), (status = 409, body = super::ErrorBody)))]
pub async fn transfer(
    State(state): State<ApiState>,
    Caller(user): Caller,
    Path(code): Path<String>,
    Json(body): Json<TransferBody>,
) -> Result<Json<ActionResult>, ApiError> {
    let (case, _) = visible_case(&state, &user, &code, "case.transfer").await?;
    let directory = state.directory.get();
    if case.status == "closed" {
        return Err(ApiError::Conflict(format!("case {} is closed", case.code)));
    }
    let Ok(actor) = actor(&directory, &user, &case, true) else {
        return Err(refuse(&state, &user, "case.transfer", &case.code).await);
    };
    let provider = provider_of(&directory, &case)?;
    let target = body.to.trim().to_string();
    if target.is_empty() {
        return Err(ApiError::BadRequest("`to` names a counselor or provider".into()));
    }
    state.audit(&user, "case.transfer", Some(&case.code), Outcome::Ok, Some(format!("to={target}"))).await?;
    match escalator(&state)?
        .act(&case, &actor, provider, CaseAction::Transfer(target.clone()), &|_| None)
        .await?
    {
        Done::Transferred { to, provider } => {
            result(&state, &case, "transferred", Some(format!("{to} ({provider})"))).await
        }
        Done::Referred { provider } => result(&state, &case, "referred", Some(provider)).await,
        Done::TransferSelf => Err(ApiError::BadRequest("the case is already yours".into())),
        Done::TransferUnknown => {
            Err(ApiError::BadRequest(format!("no counselor or provider `{target}` that can be reached")))
        }
        _ => Err(ApiError::Conflict(format!("case {} could not be transferred", case.code))),
    }
}

/// `PATCH /api/v1/cases/{code}/fields`: sets structured fields; all are checked before any is
/// written.
#[utoipa::path(patch, path = "/api/v1/cases/{code}/fields", tag = "cases", operation_id = "set_case_fields",
    params(("code" = String, Path, description = "The case code")), request_body = FieldsBody,
    responses((status = 200, body = ActionResult), (status = 400, body = super::ErrorBody),
        (status = 401, body = super::ErrorBody), (status = 403, body = super::ErrorBody),
        (status = 404, body = super::ErrorBody)))]
pub async fn fields(
    State(state): State<ApiState>,
    Caller(user): Caller,
    Path(code): Path<String>,
    Json(body): Json<FieldsBody>,
) -> Result<Json<ActionResult>, ApiError> {
    use crate::case::fields::{AGE_GROUPS, Field, SIMFONI_KINDS};
    let (case, _) = visible_case(&state, &user, &code, "case.field").await?;
    let directory = state.directory.get();
    if body.fields.is_empty() {
        return Err(ApiError::BadRequest("`fields` is empty".into()));
    }
    let bad: Vec<&str> = body
        .fields
        .iter()
        .filter(|(name, value)| Field::parse(name).and_then(|f| f.normalise(value)).is_none())
        .map(|(name, _)| name.as_str())
        .collect();
    if !bad.is_empty() {
        return Err(ApiError::BadRequest(format!(
            "not valid: {}. Fields: kind ({}), age_group ({}), relationship, place",
            bad.join(", "),
            SIMFONI_KINDS.join(", "),
            AGE_GROUPS.join(", ")
        )));
    }
    let actor = match (actor(&directory, &user, &case, true), counselor_of(&directory, &user)) {
        (Ok(actor), _) => actor,
        // Any counselor of her provider may complete the record, as notes.
        (Err(_), Some((counselor, _))) => counselor.clone(),
        (Err(_), None) if user.role == Role::Counselor => {
            return Err(refuse(&state, &user, "case.field", &case.code).await);
        }
        (Err(_), None) => as_actor(&user),
    };
    let provider = provider_of(&directory, &case)?;
    let names: Vec<&str> = body.fields.keys().map(String::as_str).collect();
    state
        .audit(
            &user,
            "case.field",
            Some(&case.code),
            Outcome::Ok,
            Some(format!("fields={}", names.join(","))),
        )
        .await?;
    let escalator = escalator(&state)?;
    for (name, value) in body.fields {
        escalator.act(&case, &actor, provider, CaseAction::Field(name, value), &|_| None).await?;
    }
    result(&state, &case, "fields_set", None).await
}

/// Whether `user` may read the relay conversation: the counselors and supervisors of the
/// case's provider. Admins run the service; they do not read what survivors write.
fn reads_transcript(user: &User, case: &CaseRow) -> bool {
    user.role != Role::Admin && user.sees_provider(case.provider_id.as_deref())
}

/// `GET /api/v1/cases/{code}/messages`: the relay conversation, decrypted, for her provider's
/// counselors and supervisors; every read is audited.
#[utoipa::path(get, path = "/api/v1/cases/{code}/messages", tag = "cases", operation_id = "read_case_messages",
    params(("code" = String, Path, description = "The case code"), TranscriptQuery),
    responses((status = 200, body = Transcript), (status = 401, body = super::ErrorBody),
        (status = 403, body = super::ErrorBody), (status = 404, body = super::ErrorBody)))]
pub async fn messages(
    State(state): State<ApiState>,
    Caller(user): Caller,
    Path(code): Path<String>,
    Query(query): Query<TranscriptQuery>,
) -> Result<Json<Transcript>, ApiError> {
    let (case, _) = visible_case(&state, &user, &code, "case.transcript").await?;
    if !reads_transcript(&user, &case) {
        return Err(refuse(&state, &user, "case.transcript", &case.code).await);
    }
    let messages: Vec<MessageView> = state
        .store
        .case_messages(&case.id, query.after.unwrap_or(0))
        .await?
        .into_iter()
        .map(Into::into)
        .collect();
    let detail = format!("count={}", messages.len());
    state.audit(&user, "case.transcript", Some(&case.code), Outcome::Ok, Some(detail)).await?;
    Ok(Json(Transcript { messages }))
}

/// `POST /api/v1/cases/{code}/messages`: the counselor holding the case writes to the
/// survivor; it goes out on her channel.
#[utoipa::path(post, path = "/api/v1/cases/{code}/messages", tag = "cases", operation_id = "send_case_message",
    params(("code" = String, Path, description = "The case code")), request_body = MessageBody,
    responses((status = 201, body = ActionResult), (status = 400, body = super::ErrorBody),
        (status = 401, body = super::ErrorBody), (status = 403, body = super::ErrorBody),
        (status = 404, body = super::ErrorBody), (status = 409, body = super::ErrorBody)))]
pub async fn send_message(
    State(state): State<ApiState>,
    Caller(user): Caller,
    Path(code): Path<String>,
    Json(body): Json<MessageBody>,
) -> Result<(axum::http::StatusCode, Json<ActionResult>), ApiError> {
    let text = body.text.trim();
    if text.is_empty() || text.chars().count() > MAX_TEXT_CHARS {
        return Err(ApiError::BadRequest(format!("a message is 1 to {MAX_TEXT_CHARS} characters")));
    }
    let (case, _) = visible_case(&state, &user, &code, "case.reply").await?;
    let directory = state.directory.get();
    if case.status == "closed" {
        return Err(ApiError::Conflict(format!("case {} is closed", case.code)));
    }
    // Only the counselor she was told about writes to her.
    let Ok(actor) = actor(&directory, &user, &case, false) else {
        return Err(refuse(&state, &user, "case.reply", &case.code).await);
    };
    let provider = provider_of(&directory, &case)?;
    state.audit(&user, "case.reply", Some(&case.code), Outcome::Ok, None).await?;
    match escalator(&state)?
        .act(&case, &actor, provider, CaseAction::Reply(text.to_string()), &|_| None)
        .await?
    {
        Done::Relayed => {
            let Json(done) = result(&state, &case, "relayed", None).await?;
            Ok((axum::http::StatusCode::CREATED, Json(done)))
        }
        _ => {
            Err(ApiError::Conflict(format!("case {}: she withdrew contact and cannot be reached", case.code)))
        }
    }
}
