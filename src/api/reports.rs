//! Service reports for supervisors and admins: time to accept per provider and level, cases
//! per kind and region per month, satisfaction scores. JSON, or CSV with `format=csv`.

use std::fmt::Write as _;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::auth::Caller;
use super::cases::records_of;
use super::{ApiError, ApiState, Outcome};
use crate::access::User;
use crate::case::monthly::{cases_per_month, satisfaction};
use crate::case::report::response_times;
use crate::case::time::period;

/// The period and scope of a report.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReportQuery {
    /// First local day, `YYYY-MM-DD`.
    from: String,
    /// Last local day (inclusive), `YYYY-MM-DD`.
    to: String,
    /// `WIB` (default), `WITA` or `WIT`.
    tz: Option<String>,
    /// A provider id (admins; supervisors get their own).
    provider: Option<String>,
    /// `json` (default) or `csv`.
    format: Option<String>,
}

/// Time to accept at one provider.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ResponseTimeRow {
    /// Provider id (`-`: not routed).
    provider: String,
    /// Cases for it in the period.
    cases: usize,
    /// Of those, accepted by a counselor.
    accepted: usize,
    /// Time from report to acceptance, 50th percentile (ms).
    p50_ms: Option<i64>,
    /// 90th percentile (ms).
    p90_ms: Option<i64>,
    /// Slowest (ms).
    max_ms: Option<i64>,
    /// Cases whose escalation reached each level: index 0 is level 1 (the first counselor).
    reached_level: Vec<usize>,
}

/// Cases of one kind in one region in one month.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MonthRow {
    /// `YYYY-MM`, local.
    month: String,
    /// SIMFONI PPA kind of violence (`-`: not known).
    kind: String,
    /// Region code (`-`: not given).
    region_code: String,
    /// How many.
    cases: usize,
}

/// Satisfaction answers for one provider.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SatisfactionRow {
    /// Provider id (`-`: not known).
    provider: String,
    /// Answers with a rating.
    responses: usize,
    /// How many rated 1, 2, 3, 4, 5.
    scores: [usize; 5],
    /// Mean rating.
    mean: Option<f64>,
}

/// A report's rows.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Report<T> {
    /// One per provider, or per month, kind and region.
    rows: Vec<T>,
}

/// Period in ms, UTC offset, and the provider the report is limited to (`None`: all).
async fn scope(
    state: &ApiState,
    user: &User,
    q: &ReportQuery,
    action: &str,
) -> Result<(i64, i64, i32, Option<String>), ApiError> {
    let tz = q.tz.as_deref().unwrap_or("WIB");
    let (from, to, offset) = period(&q.from, &q.to, tz).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    // Admins choose (all by default); a supervisor gets her own provider, and only that.
    let provider = match (user.provider_scope(), &q.provider) {
        (None, asked) => asked.clone(),
        (Some(own), asked) if user.manages_provider(own) && asked.as_deref().is_none_or(|a| a == own) => {
            Some(own.to_string())
        }
        _ => {
            state.audit(user, action, q.provider.as_deref(), Outcome::Denied, None).await?;
            return Err(ApiError::Forbidden);
        }
    };
    let detail = format!("from={};to={};tz={tz}", q.from, q.to);
    state.audit(user, action, provider.as_deref(), Outcome::Ok, Some(detail)).await?;
    Ok((from, to, offset, provider))
}

fn csv_response(text: String) -> Response {
    ([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], text).into_response()
}

fn wants_csv(q: &ReportQuery) -> Result<bool, ApiError> {
    match q.format.as_deref() {
        None | Some("json") => Ok(false),
        Some("csv") => Ok(true),
        Some(other) => Err(ApiError::BadRequest(format!("format `{other}`: use json or csv"))),
    }
}

fn opt(v: Option<impl ToString>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

/// `GET /api/v1/reports/response-times`: time to accept per provider, and how far escalation
/// climbed (the figures of `teduh report response-times`).
#[utoipa::path(get, path = "/api/v1/reports/response-times", tag = "reports", operation_id = "report_response_times",
    params(ReportQuery),
    responses((status = 200, body = Report<ResponseTimeRow>), (status = 400, body = super::ErrorBody),
        (status = 401, body = super::ErrorBody), (status = 403, body = super::ErrorBody)))]
pub async fn response_times_report(
    State(state): State<ApiState>,
    Caller(user): Caller,
    Query(q): Query<ReportQuery>,
) -> Result<Response, ApiError> {
    let csv = wants_csv(&q)?;
    let (from, to, _, provider) = scope(&state, &user, &q, "report.response_times").await?;
    let records = records_of(&state, from, to, provider.as_deref()).await?;
    let rows: Vec<ResponseTimeRow> = response_times(&records)
        .into_iter()
        .map(|(provider, f)| {
            let top = f.reached_level.keys().copied().max().unwrap_or(0);
            let reached_level = (1..=top).map(|l| f.reached_level.get(&l).copied().unwrap_or(0)).collect();
            ResponseTimeRow {
                provider,
                cases: f.cases,
                accepted: f.accepted,
                p50_ms: f.p50_ms,
                p90_ms: f.p90_ms,
                max_ms: f.max_ms,
                reached_level,
            }
        })
        .collect();
    if !csv {
        return Ok(Json(Report { rows }).into_response());
    }
    let mut out =
        String::from("provider,cases,accepted,p50_seconds,p90_seconds,max_seconds,reached_levels\n");
    for r in &rows {
        let levels: Vec<String> = r.reached_level.iter().map(ToString::to_string).collect();
        let secs = |ms: Option<i64>| opt(ms.map(|m| m / 1000));
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{}",
            r.provider,
            r.cases,
            r.accepted,
            secs(r.p50_ms),
            secs(r.p90_ms),
            secs(r.max_ms),
            levels.join(" ")
        );
    }
    Ok(csv_response(out))
}

/// `GET /api/v1/reports/cases`: cases per month, kind of violence and region.
#[utoipa::path(get, path = "/api/v1/reports/cases", tag = "reports", operation_id = "report_cases",
    params(ReportQuery),
    responses((status = 200, body = Report<MonthRow>), (status = 400, body = super::ErrorBody),
        (status = 401, body = super::ErrorBody), (status = 403, body = super::ErrorBody)))]
pub async fn cases_report(
    State(state): State<ApiState>,
    Caller(user): Caller,
    Query(q): Query<ReportQuery>,
) -> Result<Response, ApiError> {
    let csv = wants_csv(&q)?;
    let (from, to, offset, provider) = scope(&state, &user, &q, "report.cases").await?;
    let records = records_of(&state, from, to, provider.as_deref()).await?;
    let rows: Vec<MonthRow> = cases_per_month(&records, offset)
        .into_iter()
        .map(|((month, kind, region_code), cases)| MonthRow { month, kind, region_code, cases })
        .collect();
    if !csv {
        return Ok(Json(Report { rows }).into_response());
    }
    let mut out = String::from("month,kind,region_code,cases\n");
    for r in &rows {
        let _ = writeln!(out, "{},{},{},{}", r.month, r.kind, r.region_code, r.cases);
    }
    Ok(csv_response(out))
}

/// `GET /api/v1/reports/satisfaction`: the survey's scores per provider.
#[utoipa::path(get, path = "/api/v1/reports/satisfaction", tag = "reports", operation_id = "report_satisfaction",
    params(ReportQuery),
    responses((status = 200, body = Report<SatisfactionRow>), (status = 400, body = super::ErrorBody),
        (status = 401, body = super::ErrorBody), (status = 403, body = super::ErrorBody)))]
pub async fn satisfaction_report(
    State(state): State<ApiState>,
    Caller(user): Caller,
    Query(q): Query<ReportQuery>,
) -> Result<Response, ApiError> {
    let csv = wants_csv(&q)?;
    let (from, to, _, provider) = scope(&state, &user, &q, "report.satisfaction").await?;
    let surveys = state.store.surveys(provider.as_deref()).await?;
    let rows: Vec<SatisfactionRow> = satisfaction(&surveys, from, to)
        .into_iter()
        .map(|(provider, s)| SatisfactionRow {
            provider,
            responses: s.responses,
            scores: s.scores,
            mean: s.mean,
        })
        .collect();
    if !csv {
        return Ok(Json(Report { rows }).into_response());
    }
    let mut out = String::from("provider,responses,score_1,score_2,score_3,score_4,score_5,mean\n");
    for r in &rows {
        let [a, b, c, d, e] = r.scores;
        let mean = opt(r.mean.map(|m| format!("{m:.2}")));
        let _ = writeln!(out, "{},{},{a},{b},{c},{d},{e},{mean}", r.provider, r.responses);
    }
    Ok(csv_response(out))
}
