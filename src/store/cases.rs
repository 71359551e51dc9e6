//! Case queries for exports and reports.

use std::collections::HashMap;

use sqlx::Row;

use super::conversation::{CaseEvent, CaseRow, case_row};
use super::{Store, StoreError, on_pool};

/// A case with its creation time and timeline, for exports and reports.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseRecord {
    /// The case.
    pub case: CaseRow,
    /// When it was opened (ms since the epoch).
    pub created_at: i64,
    /// Its timeline, oldest first.
    pub events: Vec<CaseEvent>,
}

/// One message of a case's relay transcript, opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseMessage {
    /// Its order in the transcript.
    pub id: i64,
    /// When it was relayed (ms since the epoch).
    pub at: i64,
    /// `survivor` or `counselor`.
    pub sender: String,
    /// Who wrote it, for a counselor's message.
    pub author: Option<String>,
    /// The text; `None` once retention removed it.
    pub text: Option<String>,
}

/// The filter of case lists, over `cases` and binds `$1`-`$6` (`$7` is the limit).
const LIST_FILTER: &str = "($1 IS NULL OR cases.status = $1 OR ($1 = 'open' AND cases.status <> 'closed')) AND ($2 IS NULL OR cases.priority = $2) \
    AND ($3 IS NULL OR cases.provider_id = $3) AND ($4 IS NULL OR cases.category = $4) \
    AND ($5 IS NULL OR cases.created_at >= $5) AND ($6 IS NULL OR cases.created_at < $6)";

/// Binds a [`CaseFilter`] to `$1`-`$7` of a query over [`LIST_FILTER`].
macro_rules! bind_filter {
    ($query:expr, $filter:expr) => {
        $query
            .bind(&$filter.status)
            .bind(&$filter.priority)
            .bind(&$filter.provider)
            .bind(&$filter.category)
            .bind($filter.from)
            .bind($filter.to)
            .bind($filter.limit)
    };
}

/// A transcript row as stored: id, at, sender, author, sealed body.
type MessageRow = (i64, i64, String, Option<String>, Option<String>);

/// A case row with its opening time.
fn case_and_created<R: Row>(r: R) -> Result<(CaseRow, i64), sqlx::Error>
where
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<String>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    let created: i64 = r.try_get("created_at")?;
    Ok((case_row(r)?, created))
}

/// Which cases to list.
#[derive(Debug, Clone, Default)]
pub struct CaseFilter {
    /// Only this status.
    pub status: Option<String>,
    /// Only this priority.
    pub priority: Option<String>,
    /// Only this provider's cases.
    pub provider: Option<String>,
    /// Only this category (kind).
    pub category: Option<String>,
    /// Opened at or after (ms).
    pub from: Option<i64>,
    /// Opened before (ms).
    pub to: Option<i64>,
    /// At most this many, newest first.
    pub limit: i64,
}

impl Store {
    /// Cases matching `filter`, newest first, with their opening times (no timelines).
    pub async fn list_cases(&self, filter: &CaseFilter) -> Result<Vec<(CaseRow, i64)>, StoreError> {
        let rows: Vec<(CaseRow, i64)> = on_pool!(self, pool => {
            let sql = format!(
                "SELECT id, code, conversation_id, priority, category, status, region_code, provider_id, \
                 accepted_by, fields, created_at FROM cases WHERE {LIST_FILTER} ORDER BY created_at DESC, code LIMIT $7"
            );
            bind_filter!(sqlx::query(&sql), filter)
            .fetch_all(pool)
            .await?
            .into_iter()
            .map(case_and_created)
            .collect::<Result<Vec<_>, _>>()?
        });
        rows.into_iter().map(|(case, at)| Ok((self.open_case(case)?, at))).collect()
    }

    /// A mark that changes whenever anything happens to a case of `provider` (every case when
    /// `None`), or one leaves it: the newest timeline event and transcript message, and how
    /// many cases there are.
    pub async fn queue_mark(&self, provider: Option<&str>) -> Result<(i64, i64, i64), StoreError> {
        let mark: (Option<i64>, Option<i64>, i64) = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT (SELECT MAX(e.id) FROM case_events e JOIN cases c ON c.id = e.case_id \
                   WHERE $1 IS NULL OR c.provider_id = $1), \
                 (SELECT MAX(m.id) FROM case_messages m JOIN cases c ON c.id = m.case_id \
                   WHERE $1 IS NULL OR c.provider_id = $1), \
                 (SELECT COUNT(*) FROM cases c WHERE $1 IS NULL OR c.provider_id = $1)",
            )
            .bind(provider)
            .fetch_one(pool)
            .await?
        });
        Ok((mark.0.unwrap_or(0), mark.1.unwrap_or(0), mark.2))
    }

    /// How far escalation climbed (the highest notification level) for the cases `filter`
    /// selects, by case id; cases nobody was notified of are absent.
    pub async fn case_levels(&self, filter: &CaseFilter) -> Result<HashMap<String, i64>, StoreError> {
        let sql = format!(
            "SELECT n.case_id, MAX(n.step_seq) FROM notifications n JOIN cases ON cases.id = n.case_id \
             WHERE {LIST_FILTER} AND $7 > 0 GROUP BY n.case_id"
        );
        let rows: Vec<(String, i64)> = on_pool!(self, pool => {
            bind_filter!(sqlx::query_as(&sql), filter)
                .fetch_all(pool)
                .await?
        });
        Ok(rows.into_iter().collect())
    }

    /// Cases opened in `[from_ms, to_ms)`, oldest first, each with its timeline.
    pub async fn cases_between(&self, from_ms: i64, to_ms: i64) -> Result<Vec<CaseRecord>, StoreError> {
        let rows: Vec<(CaseRow, i64)> = on_pool!(self, pool => {
            sqlx::query(
                "SELECT id, code, conversation_id, priority, category, status, region_code, provider_id, accepted_by, fields, \
                 created_at FROM cases WHERE created_at >= $1 AND created_at < $2 ORDER BY created_at, code",
            )
            .bind(from_ms)
            .bind(to_ms)
            .fetch_all(pool)
            .await?
            .into_iter()
            .map(case_and_created)
            .collect::<Result<Vec<_>, _>>()?
        });
        let mut out = Vec::with_capacity(rows.len());
        for (case, created_at) in rows {
            let case = self.open_case(case)?;
            let events = self.case_events(&case.id).await?;
            out.push(CaseRecord { case, created_at, events });
        }
        Ok(out)
    }

    /// A case's relay transcript, oldest first, after message `after` (0: from the start).
    pub async fn case_messages(&self, case_id: &str, after: i64) -> Result<Vec<CaseMessage>, StoreError> {
        let rows: Vec<MessageRow> = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT id, at, sender, author, body FROM case_messages WHERE case_id = $1 AND id > $2 ORDER BY id",
            )
            .bind(case_id)
            .bind(after)
            .fetch_all(pool)
            .await?
        });
        rows.into_iter()
            .map(|(id, at, sender, author, body)| {
                let text = body.map(|b| self.unseal(&b)).transpose()?;
                Ok(CaseMessage { id, at, sender, author, text })
            })
            .collect()
    }

    /// Adds a timeline event to a case (escalation steps, acceptance, notes, closing).
    pub async fn add_case_event(
        &self,
        case_id: &str,
        at_ms: i64,
        kind: &str,
        detail: Option<&str>,
    ) -> Result<(), StoreError> {
        let detail = if kind == "note" { detail.map(|d| self.seal(d)) } else { detail.map(str::to_string) };
        on_pool!(self, pool => {
            sqlx::query("INSERT INTO case_events (case_id, at, kind, detail) VALUES ($1, $2, $3, $4)")
                .bind(case_id)
                .bind(at_ms)
                .bind(kind)
                .bind(&detail)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Sets a case's status (`new`, `escalating`, `accepted`, `in_progress`, `referred`, `closed`).
    pub async fn set_case_status(&self, case_id: &str, status: &str) -> Result<(), StoreError> {
        on_pool!(self, pool => {
            sqlx::query("UPDATE cases SET status = $1 WHERE id = $2").bind(status).bind(case_id).execute(pool).await?;
        });
        Ok(())
    }
}

/// The result of a counselor accepting a case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Acceptance {
    /// She now owns the case.
    Won,
    /// Someone else took it first.
    TakenBy(String),
    /// No such case, or it is closed.
    Unavailable,
}

impl Store {
    /// Gives the case to `counselor` unless another counselor already has it: one conditional
    /// update decides, so two simultaneous accepts can never both win. The winner's acceptance
    /// is recorded on the timeline with `detail`.
    pub async fn accept_case(
        &self,
        case_id: &str,
        counselor: &str,
        detail: &str,
        now_ms: i64,
    ) -> Result<Acceptance, StoreError> {
        let outcome = on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let won = sqlx::query(
                "UPDATE cases SET accepted_by = $1, accepted_at = $2, status = 'accepted' \
                 WHERE id = $3 AND accepted_by IS NULL AND status <> 'closed'",
            )
            .bind(counselor)
            .bind(now_ms)
            .bind(case_id)
            .execute(&mut *tx)
            .await?
            .rows_affected()
                == 1;
            let outcome = if won {
                sqlx::query("INSERT INTO case_events (case_id, at, kind, detail) VALUES ($1, $2, 'accepted', $3)")
                    .bind(case_id)
                    .bind(now_ms)
                    .bind(detail)
                    .execute(&mut *tx)
                    .await?;
                Acceptance::Won
            } else {
                let holder: Option<Option<String>> = sqlx::query_scalar("SELECT accepted_by FROM cases WHERE id = $1")
                    .bind(case_id)
                    .fetch_optional(&mut *tx)
                    .await?;
                match holder {
                    Some(Some(by)) => Acceptance::TakenBy(by),
                    _ => Acceptance::Unavailable,
                }
            };
            tx.commit().await?;
            outcome
        });
        Ok(outcome)
    }
}
