//! `GET /api/v1/events`: server-sent events that tell a console its case queue changed, so it
//! reloads at once instead of polling. The database is the source (every instance sees every
//! change); each stream looks about once a second and ends after a few minutes, so a revoked
//! user or an expired session is cut off when the console reconnects.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::stream::{self, Stream};

use super::auth::Caller;
use super::{ApiError, ApiState, Outcome};

/// How often a stream looks for changes.
const EVERY: Duration = Duration::from_secs(1);
/// How long one stream lasts before the console reconnects (and is authenticated again).
const LIFETIME: Duration = Duration::from_secs(300);

/// `GET /api/v1/events`: `event: cases` with the new mark whenever a case of her provider (or
/// any, for admins) changes; the first event comes at once.
#[utoipa::path(get, path = "/api/v1/events", tag = "cases", operation_id = "case_events_stream",
    responses((status = 200, content_type = "text/event-stream", body = String,
        description = "`event: cases` whenever her queue changes"),
        (status = 401, body = super::ErrorBody)))]
pub async fn stream(
    State(state): State<ApiState>,
    Caller(user): Caller,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let provider = user.provider_scope().map(str::to_string);
    state.audit(&user, "cases.watch", provider.as_deref(), Outcome::Ok, None).await?;
    let until = tokio::time::Instant::now() + LIFETIME;
    let events = stream::unfold(None, move |last: Option<(i64, i64, i64)>| {
        let (state, provider) = (state.clone(), provider.clone());
        async move {
            let mut wait = last.is_some();
            loop {
                if wait {
                    tokio::time::sleep(EVERY).await;
                }
                wait = true;
                if tokio::time::Instant::now() >= until {
                    return None;
                }
                // A database that does not answer skips a look; the stream stays.
                let Ok(mark) = state.store.queue_mark(provider.as_deref()).await else { continue };
                if last != Some(mark) {
                    let data =
                        format!("{{\"events\":{},\"messages\":{},\"cases\":{}}}", mark.0, mark.1, mark.2);
                    return Some((Ok(Event::default().event("cases").data(data)), Some(mark)));
                }
            }
        }
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
