//! The console channel behind `teduh chat`: a person types in a terminal, or a script pipes
//! lines in, and replies come back as text with numbered choices.

use std::io::IsTerminal;

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWrite, AsyncWriteExt};

use crate::flow::{Effect, Event, Reply};
use crate::runtime::{Outcome, Runtime, RuntimeError};

/// Channel name stored with console conversations.
pub const CHANNEL: &str = "console";

/// How often a waiting console session checks for questions that timed out.
const TIMER_CHECK: std::time::Duration = std::time::Duration::from_secs(1);

/// Options of a console session.
#[derive(Debug, Clone)]
pub struct ConsoleOptions {
    /// Contact key: sessions with the same name continue the same conversation.
    pub user: String,
    /// Language for a new conversation.
    pub lang: Option<String>,
    /// Echo each input line (`> line`) so a piped transcript reads like a conversation.
    pub echo: bool,
    /// Show a `> ` prompt before reading (interactive terminals).
    pub prompt: bool,
}

impl ConsoleOptions {
    /// Options suited to how stdin is connected: prompt in a terminal, echo when piped.
    pub fn for_stdin(user: String, lang: Option<String>) -> Self {
        let tty = std::io::stdin().is_terminal();
        Self { user, lang, echo: !tty, prompt: tty }
    }
}

/// Renders a reply as console text: the message, then one numbered line per choice.
pub fn render(reply: &Reply) -> String {
    let mut out = reply.text.clone();
    out.push('\n');
    for (i, label) in reply.choices.iter().enumerate() {
        out.push_str(&format!("  {}. {}\n", i + 1, label));
    }
    out
}

fn note(effect: &Effect, opened: Option<&str>) -> Option<String> {
    let case = |what: String| match opened {
        Some(code) => format!("[case {code} opened: {what}]\n"),
        None => format!("[{what}]\n"),
    };
    match effect {
        Effect::OpenCase { priority, category, .. } => Some(case(format!(
            "priority {}{}",
            priority.as_str(),
            category.as_ref().map(|c| format!(", category {c}")).unwrap_or_default()
        ))),
        Effect::Escalate { policy } => Some(case(format!("escalation requested: policy {policy}"))),
        Effect::Handoff { service } => Some(case(format!("counselor requested: {service}"))),
        Effect::Forget => Some("[conversation erased]\n".to_string()),
        Effect::RecordSurvey { rating, comment, .. } => Some(format!(
            "[satisfaction recorded: {}{}]\n",
            rating.map_or("-".to_string(), |r| r.to_string()),
            if comment.is_some() { ", with a comment" } else { "" }
        )),
        Effect::Ended => Some("[conversation ended]\n".to_string()),
        Effect::ClearChat => Some("[chat cleared where the channel allows]\n".to_string()),
        Effect::Send(_) | Effect::SetTimer { .. } | Effect::CancelTimer => None,
    }
}

/// Parses a console line into an event: `/location LAT LON` shares a location, anything else is
/// typed text.
pub fn parse_line(line: &str) -> Event {
    if let Some(rest) = line.trim().strip_prefix("/location") {
        let mut parts = rest.split_whitespace().map(str::parse::<f64>);
        if let (Some(Ok(lat)), Some(Ok(lon)), None) = (parts.next(), parts.next(), parts.next()) {
            return Event::Location { lat, lon };
        }
    }
    Event::Text(line.to_string())
}

/// Runs a console session until input ends.
pub async fn run<R, W>(
    runtime: &Runtime,
    options: &ConsoleOptions,
    input: R,
    mut output: W,
) -> Result<(), ConsoleError>
where
    R: AsyncBufRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let lang = options.lang.as_deref();
    let first = if runtime.is_active(CHANNEL, &options.user).await? { Event::Repeat } else { Event::Start };
    let outcome = runtime.handle(CHANNEL, &options.user, &first, lang).await?;
    write_outcome(&mut output, &outcome).await?;
    let mut lines = input.lines();
    let mut ticks = tokio::time::interval(TIMER_CHECK);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        if options.prompt {
            output.write_all(b"> ").await?;
            output.flush().await?;
        }
        let line = loop {
            tokio::select! {
                line = lines.next_line() => break line?,
                _ = ticks.tick() => {
                    // A question left unanswered in the terminal times out as on any channel.
                    let fired = runtime.fire_due_timers(10, Some((CHANNEL, &options.user))).await?;
                    for (_, _, outcome) in &fired {
                        write_outcome(&mut output, outcome).await?;
                    }
                    if !fired.is_empty() && options.prompt {
                        output.write_all(b"> ").await?;
                        output.flush().await?;
                    }
                }
            }
        };
        let Some(line) = line else { break };
        if line.trim().is_empty() {
            continue;
        }
        if options.echo {
            output.write_all(format!("> {line}\n").as_bytes()).await?;
        }
        let outcome = runtime.handle(CHANNEL, &options.user, &parse_line(&line), lang).await?;
        write_outcome(&mut output, &outcome).await?;
    }
    output.flush().await?;
    Ok(())
}

async fn write_outcome<W: AsyncWrite + Unpin>(output: &mut W, outcome: &Outcome) -> std::io::Result<()> {
    let mut text = String::new();
    for (index, effect) in outcome.effects.iter().enumerate() {
        match effect {
            Effect::Send(reply) => text.push_str(&render(reply)),
            other => {
                let opened = outcome.opened_cases.iter().find(|c| c.effect == index).map(|c| c.code.as_str());
                text.push_str(&note(other, opened).unwrap_or_default());
            }
        }
    }
    output.write_all(text.as_bytes()).await?;
    output.flush().await
}

/// Why a console session stopped.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    /// Terminal input or output failed.
    #[error("console I/O: {0}")]
    Io(#[from] std::io::Error),
    /// A step could not be stored.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
}
