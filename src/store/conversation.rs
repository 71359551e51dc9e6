//! Conversations, flow timers and cases: one step's writes commit in one transaction.

use sqlx::Row;

use super::batch::{Batch, Done, Want};
use super::outbox::lane;
use super::{Store, StoreError, on_pool};
use crate::channel::OutgoingPayload;
use crate::flow::model::Priority;
use crate::flow::{Effect, State};

/// A conversation as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Conversation {
    /// Stable id (a UUID), changed when the person asks to be forgotten.
    pub id: String,
    /// Channel name, e.g. `console`, `telegram`.
    pub channel: String,
    /// The person's key on that channel.
    pub contact_key: String,
    /// Engine state.
    pub state: State,
    /// Optimistic-concurrency version; 0 for a conversation not stored yet.
    pub version: i64,
}

impl Conversation {
    /// A conversation not stored yet.
    pub fn new(channel: &str, contact_key: &str, state: State) -> Self {
        Self {
            id: uuid::Uuid::new_v4().to_string(),
            channel: channel.to_string(),
            contact_key: contact_key.to_string(),
            state,
            version: 0,
        }
    }
}

/// What a commit changed that the caller may need.
#[derive(Debug, Clone, PartialEq)]
pub struct Committed {
    /// The conversation id after the step (new if the person was forgotten).
    pub conversation_id: String,
    /// Its new version.
    pub version: i64,
    /// Cases opened by the step, in order.
    pub opened_cases: Vec<OpenedCase>,
    /// Cases she withdrew from by asking to be forgotten: (case id, code, counselor holding it).
    pub withdrawn: Vec<(String, String, Option<String>)>,
}

/// A case a step opened, and the effect that opened it.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenedCase {
    /// Index of the effect (`open_case`, or the `escalate`/`handoff` that needed a case).
    pub effect: usize,
    /// The case's short code.
    pub code: String,
}

/// A flow timer whose time has come.
#[derive(Debug, Clone, PartialEq)]
pub struct DueTimer {
    /// Conversation id.
    pub conversation_id: String,
    /// Channel of the conversation.
    pub channel: String,
    /// Contact key of the conversation.
    pub contact_key: String,
    /// Sequence number to fire with.
    pub seq: i64,
}

/// A case as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseRow {
    /// Case id.
    pub id: String,
    /// Short code counselors use.
    pub code: String,
    /// Conversation, unless the person was forgotten.
    pub conversation_id: Option<String>,
    /// Priority name.
    pub priority: String,
    /// Category, if known.
    pub category: Option<String>,
    /// `new`, `escalating`, `accepted`, `in_progress`, `referred` or `closed`.
    pub status: String,
    /// Region code, when known.
    pub region_code: Option<String>,
    /// Provider the case is for, when known.
    pub provider_id: Option<String>,
    /// Answers recorded with the case, as a JSON object.
    pub fields: Option<String>,
    /// The counselor who holds it, once one accepted.
    pub accepted_by: Option<String>,
}

/// A satisfaction answer as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct SurveyRow {
    /// Provider rated, when known.
    pub provider_id: Option<String>,
    /// Code of the case it followed, when there was one.
    pub case_code: Option<String>,
    /// Rating from 1 to 5.
    pub rating: Option<i64>,
    /// Optional comment.
    pub comment: Option<String>,
    /// When, in ms since the epoch.
    pub created_at: i64,
}

/// One timeline entry of a case.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseEvent {
    /// When, in ms since the epoch.
    pub at: i64,
    /// What happened: `opened`, `escalation_requested`, `handoff_requested`, `contact_withdrawn`.
    pub kind: String,
    /// Detail such as the policy name.
    pub detail: Option<String>,
}

fn case_code() -> String {
    // Short and unambiguous when read aloud or typed on a phone keypad.
    let raw = uuid::Uuid::new_v4().simple().to_string().to_uppercase();
    format!("K-{}", &raw[..6])
}

fn state_json(state: &State) -> String {
    // State holds only strings, numbers and maps: serialisation cannot fail.
    serde_json::to_string(state).unwrap_or_else(|_| "{}".to_string())
}

const RECENT_SENT: &str = "SELECT provider_message_id FROM outbox WHERE channel = $1 AND contact_key = $2 \
     AND status IN ('sent', 'delivered', 'read') AND updated_at >= $3 ORDER BY id DESC";
const UNSENT: &str = "SELECT id FROM outbox WHERE channel = $1 AND contact_key = $2 \
     AND status IN ('queued', 'sending') ORDER BY id DESC";
const INSERT_OUTBOX_ROWS: &str = "INSERT INTO outbox (channel, contact_key, conversation_id, lane, payload, status, \
     attempts, next_attempt_at, created_at, updated_at, contact_sealed) VALUES";
/// Outbox rows per INSERT (seven parameters each, well inside both databases' limits).
const OUTBOX_CHUNK: usize = 256;

/// A send a step made, inserted with the group's others once every step is written.
#[derive(Debug)]
struct QueuedRow {
    channel: String,
    contact: String,
    conversation: String,
    lane: i64,
    payload: String,
    now_ms: i64,
    sealed_contact: String,
}

impl QueuedRow {
    fn new(
        channel: &str,
        contact: &str,
        conversation: &str,
        lane: i64,
        payload: String,
        now_ms: i64,
        sealed_contact: &str,
    ) -> Self {
        Self {
            channel: channel.to_string(),
            contact: contact.to_string(),
            conversation: conversation.to_string(),
            lane,
            payload,
            now_ms,
            sealed_contact: sealed_contact.to_string(),
        }
    }
}

/// Telegram lets a bot delete its messages in a private chat for 48 hours.
const CLEARABLE_MS: i64 = 48 * 3600 * 1000;

fn outgoing_json(payload: &OutgoingPayload) -> String {
    // Replies hold only strings: serialisation cannot fail.
    serde_json::to_string(payload).unwrap_or_default()
}

/// One step to commit: the conversation as read, its new state and the step's effects.
#[derive(Debug, Clone, Copy)]
pub struct StepRef<'a> {
    /// The conversation as it was read (its version is checked).
    pub conversation: &'a Conversation,
    /// The state after the step.
    pub state: &'a State,
    /// The step's effects.
    pub effects: &'a [Effect],
    /// When, in ms since the epoch.
    pub now_ms: i64,
    /// What a channel step writes besides.
    pub write: StepWrite<'a>,
}

/// What a channel step writes besides the conversation itself.
#[derive(Debug, Clone, Copy, Default)]
pub struct StepWrite<'a> {
    /// Inbox row this step processes.
    pub inbound_id: Option<i64>,
    /// Queue replies in the outbox (channels); the console prints them instead.
    pub outbox: bool,
    /// An attachment reference to keep: kind and provider reference.
    pub attachment: Option<(&'a str, &'a str)>,
}

const INSERT_CONVERSATION: &str = "INSERT INTO conversations \
     (id, channel, contact_key, state, version, created_at, updated_at, contact_sealed) \
     VALUES ($1, $2, $3, $4, 1, $5, $5, $6) \
     ON CONFLICT (channel, contact_key) DO NOTHING";
const UPDATE_CONVERSATION: &str = "UPDATE conversations SET state = $1, version = version + 1, updated_at = $2 WHERE id = $3 AND version = $4";
const UPSERT_TIMER: &str = "INSERT INTO flow_timers (conversation_id, seq, due_at) VALUES ($1, $2, $3) \
     ON CONFLICT (conversation_id) DO UPDATE SET seq = excluded.seq, due_at = excluded.due_at";
const INSERT_CASE: &str = "INSERT INTO cases \
     (id, code, conversation_id, priority, category, status, created_at, region_code, provider_id, fields) \
     VALUES ($1, $2, $3, $4, $5, 'new', $6, $7, $8, $9)";
const INSERT_SURVEY: &str = "INSERT INTO survey_responses (id, provider_id, case_code, rating, comment, created_at) \
     VALUES ($1, $2, $3, $4, $5, $6)";
const LATEST_CASE_CODE: &str =
    "SELECT code, provider_id FROM cases WHERE conversation_id = $1 ORDER BY created_at DESC, id LIMIT 1";
const INSERT_CASE_EVENT: &str = "INSERT INTO case_events (case_id, at, kind, detail) VALUES ($1, $2, $3, $4)";
const LATEST_OPEN_CASE: &str =
    "SELECT id FROM cases WHERE conversation_id = $1 AND status = 'new' ORDER BY created_at DESC, id LIMIT 1";

/// What it means when a checked statement of a step changed no row.
#[derive(Debug)]
enum Check {
    /// Another writer changed the conversation first.
    Conflict(String),
    /// Someone else processed the inbound message.
    Processed(i64),
}

/// The first failed check of a batch that ran, if any (the checks are consumed).
fn settle(done: Vec<Done>, checks: &mut Vec<(usize, Check)>) -> Option<StoreError> {
    checks.drain(..).find(|(index, _)| done.get(*index).is_some_and(|d| d.changed == 0)).map(|(_, check)| {
        match check {
            Check::Conflict(id) => StoreError::Conflict(id),
            Check::Processed(id) => StoreError::AlreadyProcessed(id),
        }
    })
}

/// Runs one statement with its parameters inside the open transaction.
macro_rules! exec {
    ($tx:ident, $sql:expr $(, $arg:expr)* $(,)?) => {
        sqlx::query($sql)$(.bind($arg))*.execute(&mut *$tx).await?
    };
}

impl Store {
    /// The conversation of a person on a channel, if one is stored.
    pub async fn conversation(
        &self,
        channel: &str,
        contact_key: &str,
    ) -> Result<Option<Conversation>, StoreError> {
        let row = on_pool!(self, pool => {
            sqlx::query("SELECT id, state, version FROM conversations WHERE channel = $1 AND contact_key = $2")
                .bind(channel)
                .bind(self.key(contact_key))
                .fetch_optional(pool)
                .await?
                .map(|r| -> Result<(String, String, i64), sqlx::Error> {
                    Ok((r.try_get("id")?, r.try_get("state")?, r.try_get("version")?))
                })
                .transpose()?
        });
        let Some((id, state, version)) = row else {
            return Ok(None);
        };
        let state: State = serde_json::from_str(&self.unseal(&state)?)
            .map_err(|e| StoreError::CorruptState { id: id.clone(), message: e.to_string() })?;
        Ok(Some(Conversation {
            id,
            channel: channel.to_string(),
            contact_key: contact_key.to_string(),
            state,
            version,
        }))
    }

    /// The stored version of a conversation (0 when there is none), even when its state no
    /// longer reads.
    pub async fn conversation_version(&self, channel: &str, contact: &str) -> Result<i64, StoreError> {
        let version: Option<i64> = on_pool!(self, pool => {
            sqlx::query_scalar("SELECT version FROM conversations WHERE channel = $1 AND contact_key = $2")
                .bind(channel)
                .bind(self.key(contact))
                .fetch_optional(pool)
                .await?
        });
        Ok(version.unwrap_or(0))
    }

    /// Writes a step atomically: the new state (checked against the version it was read at),
    /// timers, and case records for the step's effects.
    pub async fn commit(
        &self,
        conversation: &Conversation,
        state: &State,
        effects: &[Effect],
        now_ms: i64,
    ) -> Result<Committed, StoreError> {
        self.commit_with(conversation, state, effects, now_ms, &StepWrite::default()).await
    }

    /// `commit`, plus what a channel step writes in the same transaction: the inbox row marked
    /// processed, replies queued in the outbox, an attachment reference.
    pub async fn commit_with(
        &self,
        conversation: &Conversation,
        state: &State,
        effects: &[Effect],
        now_ms: i64,
        write: &StepWrite<'_>,
    ) -> Result<Committed, StoreError> {
        let step = StepRef { conversation, state, effects, now_ms, write: *write };
        let mut results = self.commit_steps(std::slice::from_ref(&step)).await?;
        results.pop().unwrap_or_else(|| Err(StoreError::Grouped("nothing committed".into())))
    }

    /// Commits several conversations' steps in one transaction (group commit: one durable
    /// commit for many steps). With one step, its own failure comes back as its result and
    /// nothing is written; with several, any step's failure rolls the whole group back and is
    /// returned as the error, so the caller can commit them one by one instead.
    pub async fn commit_steps(
        &self,
        steps: &[StepRef<'_>],
    ) -> Result<Vec<Result<Committed, StoreError>>, StoreError> {
        let mut results = Vec::with_capacity(steps.len());
        // Every step's sends, inserted together at the end in the order they were made.
        let mut queued: Vec<QueuedRow> = Vec::new();
        // The common writes of a step wait in `batch` and go together (one hand-off on SQLite);
        // `checks` says which of them must change a row, and what it means if none did.
        let mut batch = Batch::default();
        let mut checks: Vec<(usize, Check)> = Vec::new();
        // A group that fails is committed again one step at a time; alone, a step learns of a
        // conflict before anything that depends on its conversation row runs.
        let single = steps.len() == 1;
        let _writing = self.writing().await;
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            // Runs what waits in `batch`; the first failed check fails the step being written.
            macro_rules! flush {
                () => {
                    if let Some(e) = settle(std::mem::take(&mut batch).run(&mut *tx).await?, &mut checks) {
                        return Err(e);
                    }
                };
            }
            for step in steps {
                let mark = queued.len();
                let result: Result<Committed, StoreError> = async {
                    let StepRef { conversation, state, effects, now_ms, write } = *step;
                    let json = self.seal(&state_json(state));
                    // Replies in a step that reports an emergency go in the urgent lane.
                    let urgent = effects.iter().any(|e| {
                        matches!(e, Effect::Escalate { .. } | Effect::OpenCase { priority: Priority::Urgent, .. })
                    });
                    let reply_lane = if urgent { lane::URGENT } else { lane::REPLY };
                    let channel = &conversation.channel;
                    // Lookups use the address's keyed hash; the address itself is stored sealed.
                    let contact = &self.key(&conversation.contact_key);
                    let sealed_contact = &self.seal(&conversation.contact_key);
                    let mut id = conversation.id.clone();
                    let mut version = conversation.version + 1;
                    let mut opened_cases = Vec::new();
                    let mut withdrawn = Vec::new();
                    let written = if conversation.version == 0 {
                        batch.push(INSERT_CONVERSATION, vec![(&id).into(), channel.into(), contact.into(), (&json).into(),
                            now_ms.into(), sealed_contact.into()], Want::Count)
                    } else {
                        batch.push(UPDATE_CONVERSATION, vec![(&json).into(), now_ms.into(), (&id).into(),
                            conversation.version.into()], Want::Count)
                    };
                    checks.push((written, Check::Conflict(id.clone())));
                    if let Some(inbound) = write.inbound_id {
                        // The fence: a step for a message someone else has processed (after this
                        // instance's lease ran out) commits nothing.
                        let marked = batch.push("UPDATE inbound SET processed_at = $1 WHERE id = $2 AND processed_at IS NULL",
                            vec![now_ms.into(), inbound.into()], Want::Count);
                        checks.push((marked, Check::Processed(inbound)));
                    }
                    if single {
                        flush!();
                    }
                    if let Some((kind, reference)) = write.attachment {
                        batch.push("INSERT INTO attachments (conversation_id, channel, kind, reference, received_at) \
                            VALUES ($1, $2, $3, $4, $5)", vec![(&id).into(), channel.into(), kind.into(), reference.into(),
                            now_ms.into()], Want::Nothing);
                    }
                    // Sends still unsent before this step: a clear deletes them once they are out, but
                    // not what this step itself says (the neutral goodbye stays).
                    let unsent: Vec<i64> = if write.outbox && effects.contains(&Effect::ClearChat) {
                        flush!();
                        sqlx::query_scalar(UNSENT).bind(channel).bind(contact).fetch_all(&mut *tx).await?
                    } else {
                        Vec::new()
                    };
                    // The case this step is working on: effects after an `open_case` refer to it.
                    let mut current_case: Option<String> = None;
                    // The step's last word on its timer (set: seq and due time; cancel: none):
                    // one write per row, as a batch needs.
                    let mut timer: Option<Option<(i64, i64)>> = None;
                    for (index, effect) in effects.iter().enumerate() {
                        match effect {
                            Effect::SetTimer { seq, after_secs } => {
                                let due = now_ms.saturating_add((*after_secs as i64).saturating_mul(1000));
                                timer = Some(Some((*seq as i64, due)));
                            }
                            Effect::CancelTimer => {
                                timer = Some(None);
                            }
                            Effect::OpenCase { priority, category, region, provider, fields } => {
                                flush!();
                                let case_id = uuid::Uuid::new_v4().to_string();
                                let code = case_code();
                                let fields = (!fields.is_empty()).then(|| self.seal(&serde_json::to_string(fields).unwrap_or_default()));
                                exec!(tx, INSERT_CASE, &case_id, &code, &id, priority.as_str(), category.as_deref(), now_ms,
                                    region.as_deref(), provider.as_deref(), fields.as_deref());
                                exec!(tx, INSERT_CASE_EVENT, &case_id, now_ms, "opened", None::<&str>);
                                opened_cases.push(OpenedCase { effect: index, code });
                                current_case = Some(case_id);
                            }
                            Effect::RecordSurvey { rating, comment, provider } => {
                                flush!();
                                let latest: Option<(String, Option<String>)> = sqlx::query_as(LATEST_CASE_CODE)
                                    .bind(&id)
                                    .fetch_optional(&mut *tx)
                                    .await?;
                                // The provider that handled her case is the one rated (it may
                                // have been transferred since the flow chose one).
                                let (case_code, handled_by) = latest.map_or((None, None), |(c, p)| (Some(c), p));
                                let provider = handled_by.or_else(|| provider.clone());
                                let rating = rating.map(|r| r.round() as i64);
                                let comment = comment.as_deref().map(|c| self.seal(c));
                                exec!(tx, INSERT_SURVEY, uuid::Uuid::new_v4().to_string(), provider.as_deref(),
                                    case_code.as_deref(), rating, comment.as_deref(), now_ms);
                            }
                            Effect::Escalate { policy: detail } | Effect::Handoff { service: detail } => {
                                flush!();
                                let (kind, default_priority) = match effect {
                                    Effect::Escalate { .. } => ("escalation_requested", Priority::Urgent),
                                    _ => ("handoff_requested", Priority::Normal),
                                };
                                let open: Option<String> = match &current_case {
                                    Some(c) => Some(c.clone()),
                                    None => sqlx::query_scalar(LATEST_OPEN_CASE).bind(&id).fetch_optional(&mut *tx).await?,
                                };
                                // Escalation and handoff always concern a case: open one if the flow
                                // did not.
                                let case_id = match open {
                                    Some(c) => c,
                                    None => {
                                        let case_id = uuid::Uuid::new_v4().to_string();
                                        let code = case_code();
                                        exec!(tx, INSERT_CASE, &case_id, &code, &id, default_priority.as_str(), None::<&str>, now_ms,
                                            None::<&str>, None::<&str>, None::<&str>);
                                        exec!(tx, INSERT_CASE_EVENT, &case_id, now_ms, "opened", None::<&str>);
                                        opened_cases.push(OpenedCase { effect: index, code });
                                        current_case = Some(case_id.clone());
                                        case_id
                                    }
                                };
                                exec!(tx, INSERT_CASE_EVENT, &case_id, now_ms, kind, Some(detail.as_str()));
                                // The escalation worker picks the case up from here (durably).
                                let policy = match effect {
                                    Effect::Escalate { policy } => policy.as_str(),
                                    _ => "normal",
                                };
                                exec!(tx, "INSERT INTO escalations (case_id, policy, status, due_at, created_at, updated_at) \
                                    VALUES ($1, $2, 'pending', $3, $3, $3) ON CONFLICT (case_id) DO NOTHING",
                                    &case_id, policy, now_ms);
                            }
                            Effect::Forget => {
                                flush!();
                                // Cases keep what the provider needs; they lose the link to her.
                                let cases: Vec<(String, String, Option<String>, String)> = sqlx::query_as(
                                    "SELECT id, code, accepted_by, status FROM cases WHERE conversation_id = $1",
                                )
                                .bind(&id)
                                .fetch_all(&mut *tx)
                                .await?;
                                for (case_id, code, holder, status) in cases {
                                    exec!(tx, INSERT_CASE_EVENT, &case_id, now_ms, "contact_withdrawn", None::<&str>);
                                    // The relay transcript is her words and the answers to them.
                                    exec!(tx, "DELETE FROM case_messages WHERE case_id = $1", &case_id);
                                    if status != "closed" {
                                        withdrawn.push((case_id, code, holder));
                                    }
                                }
                                // What she wrote and what she was sent go with her; messages still queued
                                // (her goodbye) are sent, then purged with the rest by retention.
                                exec!(tx, "DELETE FROM inbound WHERE channel = $1 AND contact_key = $2", channel, contact);
                                exec!(tx, "DELETE FROM attachments WHERE conversation_id = $1", &id);
                                exec!(tx, "DELETE FROM outbox WHERE channel = $1 AND contact_key = $2 \
                                    AND status NOT IN ('queued', 'sending')", channel, contact);
                                exec!(tx, "UPDATE cases SET conversation_id = NULL WHERE conversation_id = $1", &id);
                                exec!(tx, "DELETE FROM flow_timers WHERE conversation_id = $1", &id);
                                exec!(tx, "DELETE FROM conversations WHERE id = $1", &id);
                                // What remains of the conversation starts over under an unrelated id.
                                id = uuid::Uuid::new_v4().to_string();
                                // Her old conversation's timers went with it.
                                timer = None;
                                version = 1;
                                exec!(tx, INSERT_CONVERSATION, &id, channel, contact, &json, now_ms, sealed_contact);
                            }
                            Effect::Send(reply) if write.outbox => {
                                let payload = self.seal(&outgoing_json(&OutgoingPayload::Reply(reply.clone())));
                                queued.push(QueuedRow::new(channel, contact, &id, reply_lane, payload, now_ms, sealed_contact));
                            }
                            Effect::ClearChat if write.outbox => {
                                flush!();
                                let since = now_ms - CLEARABLE_MS;
                                let sent: Vec<Option<String>> = sqlx::query_scalar(RECENT_SENT)
                                    .bind(channel)
                                    .bind(contact)
                                    .bind(since)
                                    .fetch_all(&mut *tx)
                                    .await?;
                                let message_ids: Vec<String> = sent
                                    .into_iter()
                                    .flatten()
                                    .flat_map(|ids| ids.split(',').map(str::to_string).collect::<Vec<_>>())
                                    .collect();
                                let clear = OutgoingPayload::ClearChat { message_ids, pending: unsent.clone() };
                                let payload = self.seal(&outgoing_json(&clear));
                                queued.push(QueuedRow::new(channel, contact, &id, lane::URGENT, payload, now_ms, sealed_contact));
                            }
                            Effect::Send(_) | Effect::ClearChat | Effect::Ended => {}
                        }
                    }
                    match timer {
                        Some(Some((seq, due))) => {
                            batch.push(UPSERT_TIMER, vec![(&id).into(), seq.into(), due.into()], Want::Nothing);
                        }
                        Some(None) => {
                            batch.push("DELETE FROM flow_timers WHERE conversation_id = $1", vec![(&id).into()], Want::Nothing);
                        }
                        None => {}
                    }
                    Ok(Committed { conversation_id: id, version, opened_cases, withdrawn })
                }
                .await;
                match result {
                    Ok(committed) => results.push(Ok(committed)),
                    Err(e) if steps.len() == 1 => {
                        queued.truncate(mark);
                        tx.rollback().await?;
                        return Ok(vec![Err(e)]);
                    }
                    Err(e) => {
                        tx.rollback().await?;
                        return Err(StoreError::Grouped(format!("a step of the group failed: {e}")));
                    }
                }
            }
            for chunk in queued.chunks(OUTBOX_CHUNK) {
                let values = (0..chunk.len())
                    .map(|i| {
                        let b = i * 7;
                        format!("(${}, ${}, ${}, ${}, ${}, 'queued', 0, ${}, ${}, ${}, ${})",
                            b + 1, b + 2, b + 3, b + 4, b + 5, b + 6, b + 6, b + 6, b + 7)
                    })
                    .collect::<Vec<_>>()
                    .join(", ");
                let mut bound = Vec::with_capacity(chunk.len() * 7);
                for row in chunk {
                    bound.extend([(&row.channel).into(), (&row.contact).into(), (&row.conversation).into(),
                        row.lane.into(), (&row.payload).into(), row.now_ms.into(), (&row.sealed_contact).into()]);
                }
                batch.push(format!("{INSERT_OUTBOX_ROWS} {values}"), bound, Want::Nothing);
            }
            if let Some(e) = settle(std::mem::take(&mut batch).run(&mut *tx).await?, &mut checks) {
                tx.rollback().await?;
                return match single {
                    true => Ok(vec![Err(e)]),
                    false => Err(StoreError::Grouped(format!("a step of the group failed: {e}"))),
                };
            }
            tx.commit().await?;
        });
        Ok(results)
    }

    /// Flow timers due at `now_ms`, oldest first, at most `limit`; `only` restricts them to one
    /// person's conversation on one channel.
    pub async fn due_timers(
        &self,
        now_ms: i64,
        limit: i64,
        only: Option<(&str, &str)>,
    ) -> Result<Vec<DueTimer>, StoreError> {
        const ALL: &str = "SELECT t.conversation_id, c.channel, c.contact_sealed, t.seq FROM flow_timers t \
             JOIN conversations c ON c.id = t.conversation_id \
             WHERE t.due_at <= $1 ORDER BY t.due_at LIMIT $2";
        const ONE: &str = "SELECT t.conversation_id, c.channel, c.contact_sealed, t.seq FROM flow_timers t \
             JOIN conversations c ON c.id = t.conversation_id \
             WHERE t.due_at <= $1 AND c.channel = $3 AND c.contact_key = $4 ORDER BY t.due_at LIMIT $2";
        let rows = on_pool!(self, pool => {
            let query = match only {
                Some((channel, contact)) => {
                    sqlx::query(ONE).bind(now_ms).bind(limit).bind(channel).bind(self.key(contact))
                }
                None => sqlx::query(ALL).bind(now_ms).bind(limit),
            };
            query
                .fetch_all(pool)
                .await?
                .into_iter()
                .map(|r| -> Result<DueTimer, sqlx::Error> {
                    Ok(DueTimer {
                        conversation_id: r.try_get("conversation_id")?,
                        channel: r.try_get("channel")?,
                        contact_key: r.try_get::<Option<String>, _>("contact_sealed")?.unwrap_or_default(),
                        seq: r.try_get("seq")?,
                    })
                })
                .collect::<Result<Vec<_>, _>>()?
        });
        rows.into_iter()
            .map(|mut t: DueTimer| {
                t.contact_key = self.unseal(&t.contact_key)?;
                Ok(t)
            })
            .collect()
    }

    /// Removes a fired timer unless a newer one replaced it.
    pub async fn delete_timer(&self, conversation_id: &str, seq: i64) -> Result<(), StoreError> {
        on_pool!(self, pool => {
            sqlx::query("DELETE FROM flow_timers WHERE conversation_id = $1 AND seq = $2")
                .bind(conversation_id)
                .bind(seq)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Cases opened from a conversation, oldest first.
    pub async fn cases_of(&self, conversation_id: &str) -> Result<Vec<CaseRow>, StoreError> {
        let rows = on_pool!(self, pool => {
            sqlx::query(
                "SELECT id, code, conversation_id, priority, category, status, region_code, provider_id, accepted_by, fields \
                 FROM cases WHERE conversation_id = $1 ORDER BY created_at, id",
            )
            .bind(conversation_id)
            .fetch_all(pool)
            .await?
            .into_iter()
            .map(case_row)
            .collect::<Result<Vec<_>, _>>()?
        });
        rows.into_iter().map(|c| self.open_case(c)).collect()
    }

    /// A case by its code.
    pub async fn case_by_code(&self, code: &str) -> Result<Option<CaseRow>, StoreError> {
        let row = on_pool!(self, pool => {
            sqlx::query(
                "SELECT id, code, conversation_id, priority, category, status, region_code, provider_id, accepted_by, fields \
                 FROM cases WHERE code = $1",
            )
                .bind(code)
                .fetch_optional(pool)
                .await?
                .map(case_row)
                .transpose()?
        });
        row.map(|c| self.open_case(c)).transpose()
    }

    /// A case as read, with its sealed fields opened.
    pub(super) fn open_case(&self, mut case: CaseRow) -> Result<CaseRow, StoreError> {
        case.fields = case.fields.map(|f| self.unseal(&f)).transpose()?;
        Ok(case)
    }

    /// Satisfaction answers, oldest first; only one provider's when `provider` is given.
    pub async fn surveys(&self, provider: Option<&str>) -> Result<Vec<SurveyRow>, StoreError> {
        const ALL: &str = "SELECT provider_id, case_code, rating, comment, created_at FROM survey_responses \
             ORDER BY created_at, id";
        const ONE: &str = "SELECT provider_id, case_code, rating, comment, created_at FROM survey_responses \
             WHERE provider_id = $1 ORDER BY created_at, id";
        let rows = on_pool!(self, pool => {
            let query = match provider {
                Some(p) => sqlx::query(ONE).bind(p),
                None => sqlx::query(ALL),
            };
            query
                .fetch_all(pool)
                .await?
                .into_iter()
                .map(|r| -> Result<SurveyRow, sqlx::Error> {
                    Ok(SurveyRow {
                        provider_id: r.try_get("provider_id")?,
                        case_code: r.try_get("case_code")?,
                        rating: r.try_get("rating")?,
                        comment: r.try_get("comment")?,
                        created_at: r.try_get("created_at")?,
                    })
                })
                .collect::<Result<Vec<_>, _>>()?
        });
        rows.into_iter()
            .map(|mut r: SurveyRow| {
                r.comment = r.comment.map(|c| self.unseal(&c)).transpose()?;
                Ok(r)
            })
            .collect()
    }

    /// A case's timeline, oldest first.
    pub async fn case_events(&self, case_id: &str) -> Result<Vec<CaseEvent>, StoreError> {
        let rows = on_pool!(self, pool => {
            sqlx::query("SELECT at, kind, detail FROM case_events WHERE case_id = $1 ORDER BY id")
                .bind(case_id)
                .fetch_all(pool)
                .await?
                .into_iter()
                .map(|r| -> Result<CaseEvent, sqlx::Error> {
                    Ok(CaseEvent { at: r.try_get("at")?, kind: r.try_get("kind")?, detail: r.try_get("detail")? })
                })
                .collect::<Result<Vec<_>, _>>()?
        });
        rows.into_iter()
            .map(|mut e: CaseEvent| {
                e.detail = e.detail.map(|d| self.unseal(&d)).transpose()?;
                Ok(e)
            })
            .collect()
    }
}

pub(super) fn case_row<R: Row>(r: R) -> Result<CaseRow, sqlx::Error>
where
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<String>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    Ok(CaseRow {
        id: r.try_get("id")?,
        code: r.try_get("code")?,
        conversation_id: r.try_get("conversation_id")?,
        priority: r.try_get("priority")?,
        category: r.try_get("category")?,
        status: r.try_get("status")?,
        region_code: r.try_get("region_code")?,
        provider_id: r.try_get("provider_id")?,
        fields: r.try_get("fields")?,
        accepted_by: r.try_get("accepted_by")?,
    })
}
