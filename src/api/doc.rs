//! The API's OpenAPI document, generated from the handlers and their types, served at
//! `/api/v1/openapi.json` and kept in `docs/openapi.json` (a test fails when that copy is stale).

use axum::Json;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{actions, audit, auth, cases, events, providers, reports, rosters, session};

/// The bearer-token scheme every endpoint but this document uses.
struct BearerToken;

impl Modify for BearerToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let mut scheme = Http::new(HttpAuthScheme::Bearer);
        scheme.bearer_format = Some("tdh_<id>_<secret>".into());
        components.add_security_scheme("token", SecurityScheme::Http(scheme));
    }
}

/// The OpenAPI document of `/api/v1`.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Teduh API",
        version = "1",
        description = "Cases, audit log and users of a Teduh helpline gateway. Every request but \
            this document needs `Authorization: Bearer tdh_...`; every read of case data is audited."
    ),
    paths(auth::me, session::sign_in, session::sign_out, events::stream, cases::list, cases::one, cases::add_note, cases::export, actions::accept,
        actions::pass, actions::close, actions::transfer, actions::fields, actions::messages,
        actions::send_message, rosters::providers, providers::replace_all, providers::put_one, rosters::read, rosters::replace, reports::response_times_report,
        reports::cases_report, reports::satisfaction_report, audit::list),
    modifiers(&BearerToken),
    security(("token" = [])),
    tags(
        (name = "cases", description = "Cases, their timeline and notes, the SIMFONI PPA export"),
        (name = "rosters", description = "Providers, and who is on call when"),
        (name = "reports", description = "Response times, cases per month, satisfaction (supervisors, admins)"),
        (name = "audit", description = "Who read or changed what (admins)"),
        (name = "users", description = "The caller")
    )
)]
pub struct ApiDoc;

/// The document as pretty JSON with a final newline (the form kept in `docs/openapi.json`).
pub fn openapi_json() -> String {
    let mut text = ApiDoc::openapi().to_pretty_json().unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    text.push('\n');
    text
}

/// `GET /api/v1/openapi.json`.
pub async fn serve() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
