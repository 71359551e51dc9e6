//! Channels: where people reach Teduh. Each turns provider traffic into `Inbound` messages and
//! sends `Outgoing` ones the way its medium can show them.

pub mod console;
pub mod sms;
pub mod telegram;
pub mod whatsapp;

use std::sync::Arc;

use tokio::sync::Notify;

use crate::runtime::{Runtime, RuntimeError};
use crate::store::Accepted;

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::flow::{Event, Reply};

/// What a person sent, as stored in the inbox before any processing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum InboundEvent {
    /// Typed text.
    Text {
        /// The text.
        text: String,
    },
    /// A pressed button or list row: the index of the offered choice.
    Choice {
        /// 0-based index.
        index: usize,
    },
    /// A shared location.
    Location {
        /// Latitude.
        lat: f64,
        /// Longitude.
        lon: f64,
    },
    /// A photo, voice note, document or other file: only a reference is kept.
    Media {
        /// `photo`, `voice`, `document`, ...
        kind: String,
        /// The provider's id for the file.
        reference: String,
    },
}

impl InboundEvent {
    /// The engine event for this message.
    pub fn to_event(&self) -> Event {
        match self {
            InboundEvent::Text { text } => Event::Text(text.clone()),
            InboundEvent::Choice { index } => Event::Choice(*index),
            InboundEvent::Location { lat, lon } => Event::Location { lat: *lat, lon: *lon },
            InboundEvent::Media { .. } => Event::Media,
        }
    }
}

/// A message received on a channel.
#[derive(Debug, Clone, PartialEq)]
pub struct Inbound {
    /// Channel name: `telegram`, `whatsapp`, `sms`.
    pub channel: String,
    /// The provider's message id, used to drop duplicate deliveries.
    pub provider_id: Option<String>,
    /// The person's address on the channel (chat id, phone number).
    pub contact: String,
    /// What she sent.
    pub event: InboundEvent,
    /// Her language as the channel reports it, for a new conversation.
    pub lang_hint: Option<String>,
}

/// What the outbox asks a channel to deliver.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OutgoingPayload {
    /// A message, with its choices.
    Reply(Reply),
    /// Remove what the service sent to this chat, where the channel allows it (quick exit).
    ClearChat {
        /// Provider ids of messages sent to the chat recently, newest first.
        #[serde(default)]
        message_ids: Vec<String>,
        /// Outbox rows to the chat still unsent when the clear was queued: they go out before
        /// it (a chat's rows are sent in order), and their provider ids are added when the
        /// clear is claimed, so a message on its way to her phone is deleted as well.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pending: Vec<i64>,
    },
}

/// One outbox row handed to a channel.
#[derive(Debug, Clone, PartialEq)]
pub struct Outgoing {
    /// Outbox id, also the idempotency key providers can use to drop duplicates.
    pub id: i64,
    /// Channel name.
    pub channel: String,
    /// Address.
    pub contact: String,
    /// What to send.
    pub payload: OutgoingPayload,
    /// When the person last wrote on this channel (ms since the epoch), if ever.
    pub last_inbound_at: Option<i64>,
    /// Whether she had opted out of this channel when the row was claimed (read with the
    /// claim, saving a query per send); `None` when not known, and the sender asks the store.
    pub opted_out: Option<bool>,
    /// Now, in ms since the epoch, from the dispatcher's clock.
    pub now_ms: i64,
    /// Attempts made before this one.
    pub attempts: i64,
}

/// A delivered send.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Receipt {
    /// The provider's id(s) of the message(s) sent, for status updates and deletion.
    pub provider_ids: Vec<String>,
}

/// Why a send did not go through.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SendError {
    /// Try again later: timeouts, 5xx, 429 (with the provider's wait if it gave one).
    #[error("temporary failure: {reason}")]
    Retry {
        /// What happened.
        reason: String,
        /// How long the provider asked us to wait.
        after: Option<Duration>,
    },
    /// Will never succeed: blocked bot, invalid number, a rule that forbids it.
    #[error("permanent failure: {0}")]
    Permanent(String),
    /// Deliberately not attempted (e.g. outside WhatsApp's 24-hour window, or opted out).
    #[error("refused: {0}")]
    Refused(String),
}

/// A boxed future, for channel senders used as trait objects.
pub type SendFuture<'a> = Pin<Box<dyn Future<Output = Result<Receipt, SendError>> + Send + 'a>>;

/// Sending limits of a channel.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimits {
    /// Messages per second over all chats.
    pub per_second: f64,
    /// Smallest gap between two messages to the same chat.
    pub per_chat_interval: Duration,
}

/// A channel's outbound side.
pub trait Sender: Send + Sync {
    /// The channel this sender serves.
    fn channel(&self) -> &str;
    /// Its limits.
    fn limits(&self) -> RateLimits;
    /// Delivers one outbox row.
    fn send<'a>(&'a self, message: &'a Outgoing) -> SendFuture<'a>;
}

/// Carrier opt-out handling for SMS: `Some(true)` for STOP / BERHENTI, `Some(false)` for
/// START / MULAI (she opts back in), `None` for anything else or another channel.
pub fn opt_out(channel: &str, text: &str) -> Option<bool> {
    if channel != "sms" {
        return None;
    }
    match crate::text::fold(text).as_str() {
        "stop" | "berhenti" | "unsubscribe" | "stopall" | "cancel" => Some(true),
        "start" | "mulai" | "unstop" => Some(false),
        _ => None,
    }
}

/// What webhooks and pollers hand inbound messages to: it stores them durably and wakes the
/// inbox worker, which steps them after the provider has had its answer.
#[derive(Debug, Clone)]
pub struct Ingress {
    runtime: Runtime,
    wake: Arc<Notify>,
}

impl Ingress {
    /// An ingress feeding `runtime`, waking whoever waits on `wake`.
    pub fn new(runtime: Runtime, wake: Arc<Notify>) -> Self {
        Self { runtime, wake }
    }

    /// Stores the message (or recognises a duplicate delivery) and wakes the inbox worker. An
    /// error means nothing was stored: answer the provider with a 5xx so it delivers again.
    pub async fn receive(&self, inbound: &Inbound) -> Result<Accepted, RuntimeError> {
        let accepted = self.runtime.accept(inbound).await?;
        if matches!(accepted, Accepted::New(_)) {
            self.wake.notify_one();
            self.runtime.signal(crate::coord::Topic::Inbox);
        }
        Ok(accepted)
    }

    /// The runtime, for status callbacks and lookups.
    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }
}
