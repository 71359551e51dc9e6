//! The `teduh` command line.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tokio::io::BufReader;
use tracing_subscriber::EnvFilter;

use teduh::app;
use teduh::channel::console::{self, ConsoleOptions};
use teduh::clock::{Clock, SystemClock};
use teduh::config::{Config, LogFormat};
use teduh::flow::{load, schema};

/// The PostgreSQL and Redis `teduh bench --compare` uses unless told others.
const LOCAL_POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/test";
const LOCAL_REDIS: &str = "redis://127.0.0.1:6379";

#[derive(Parser)]
#[command(name = "teduh", version, about = "Helpline gateway for women's protection services")]
struct Cli {
    /// TOML configuration file (environment variables override it).
    #[arg(long, global = true, env = "TEDUH_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP server (the default).
    Serve {
        /// Development only: accept webhooks without checking their signatures or secrets
        /// (every such request is logged as a warning). Never use it where real people write.
        #[arg(long)]
        insecure_dev: bool,
    },
    /// Talk to the helpline in this terminal, or pipe lines in.
    Chat {
        /// Language of a new conversation (id, en).
        #[arg(long)]
        lang: Option<String>,
        /// Flow to start in instead of the configured entry flow.
        #[arg(long)]
        flow: Option<String>,
        /// Conversation name: the same name continues the same conversation.
        #[arg(long, default_value = "console")]
        user: String,
    },
    /// Work with flow files.
    Flows {
        #[command(subcommand)]
        command: FlowsCommand,
    },
    /// Apply database migrations and exit.
    Migrate,
    /// Encryption keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// People who use the HTTP API, and their tokens.
    Users {
        #[command(subcommand)]
        command: UsersCommand,
    },
    /// Measure throughput and latency against a `teduh serve` started on 127.0.0.1 (bounded).
    Bench {
        /// People walking the menus at once.
        #[arg(long, default_value_t = 200)]
        users: usize,
        /// Seconds of load (at most 600).
        #[arg(long, default_value_t = 20)]
        seconds: u64,
        /// Milliseconds each person waits after a reply before her next message.
        #[arg(long, default_value_t = 1100)]
        think_ms: u64,
        /// PostgreSQL to run on (a fresh schema, dropped afterwards); default SQLite.
        #[arg(long)]
        database_url: Option<String>,
        /// Redis for the server's coordination.
        #[arg(long)]
        redis_url: Option<String>,
        /// Instead of people, drain a backlog of this many queued SMS (at most 1,000,000) and
        /// check the pace against `--rate`.
        #[arg(long)]
        drain: Option<usize>,
        /// The SMS rate (messages per second) the drained server is configured with.
        #[arg(long, default_value_t = 1000.0)]
        rate: f64,
        /// Offer this many inbound messages a second (open loop), each sent by the next person
        /// free to write, instead of people writing again after each reply.
        #[arg(long)]
        inbound_rate: Option<f64>,
        /// Run on SQLite and then on PostgreSQL + Redis (`--database-url` and `--redis-url`,
        /// or the local defaults) and print both in one table.
        #[arg(long)]
        compare: bool,
        /// After the table, a row per second of the load (replies, p50, p99, max): where in
        /// the run the slow replies were.
        #[arg(long)]
        timeline: bool,
    },
    /// Print the HTTP API's OpenAPI document (as served at /api/v1/openapi.json).
    Openapi,
    /// Read the audit log (who read or changed which case, and when).
    Audit {
        /// Only rows about this case code.
        #[arg(long)]
        case: Option<String>,
        /// Only this user's rows.
        #[arg(long)]
        user: Option<String>,
        /// At most this many rows, newest first.
        #[arg(long, default_value_t = 100)]
        limit: i64,
    },
    /// Manage the provider directory.
    Providers {
        #[command(subcommand)]
        command: ProvidersCommand,
    },
    /// On-call rosters.
    Roster {
        #[command(subcommand)]
        command: RosterCommand,
    },
    /// Case records.
    Cases {
        #[command(subcommand)]
        command: CasesCommand,
    },
    /// Service-quality reports.
    Report {
        #[command(subcommand)]
        command: ReportCommand,
    },
}

/// Dates are local calendar days in the chosen time zone, `--to` inclusive.
#[derive(clap::Args)]
struct Period {
    /// First day, `YYYY-MM-DD`.
    #[arg(long)]
    from: String,
    /// Last day (inclusive), `YYYY-MM-DD`.
    #[arg(long)]
    to: String,
    /// Time zone of the dates and of the times written: WIB, WITA or WIT.
    #[arg(long, default_value = "WIB")]
    tz: String,
}

impl Period {
    /// The period as `[from, to)` in ms, and the UTC offset in hours.
    fn range(&self) -> anyhow::Result<(i64, i64, i32)> {
        use teduh::case::time::{PeriodError, period};
        period(&self.from, &self.to, &self.tz).map_err(|e| match e {
            PeriodError::Zone(_) => anyhow::anyhow!("{e}"),
            // The flags by their names: `--from ... is not a date`.
            PeriodError::Date(..) | PeriodError::Reversed => anyhow::anyhow!("--{e}"),
        })
    }
}

#[derive(Subcommand)]
enum RosterCommand {
    /// Validate a roster CSV against the stored providers and replace their shifts (all or nothing).
    Import {
        /// Roster file (CSV, see docs/rosters.md).
        file: PathBuf,
        /// Only validate; store nothing.
        #[arg(long)]
        check: bool,
    },
    /// Who is on call at this moment, for one provider or all.
    Now {
        /// Provider id (default: every provider with a roster).
        provider: Option<String>,
    },
}

#[derive(Subcommand)]
enum CasesCommand {
    /// Write cases opened in a period as CSV for SIMFONI PPA data entry (no message text).
    Export {
        #[command(flatten)]
        period: Period,
        /// Columns to write, comma-separated (default: all; see docs/cases.md).
        #[arg(long, value_delimiter = ',')]
        columns: Vec<String>,
        /// File to write instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum ReportCommand {
    /// Time to accept per provider (p50, p90, max) and how far escalation climbed.
    ResponseTimes {
        #[command(flatten)]
        period: Period,
    },
}

#[derive(Subcommand)]
enum ProvidersCommand {
    /// Validate a directory file and replace the stored directory with it (all or nothing).
    Import {
        /// Directory file (YAML, see docs/providers.md).
        file: PathBuf,
        /// Only validate; store nothing.
        #[arg(long)]
        check: bool,
    },
    /// List the stored providers.
    List,
}

#[derive(Subcommand)]
enum UsersCommand {
    /// Create a user and print her API token (shown once).
    Add {
        /// Login name: letters, digits, `.`, `_`, `-`.
        name: String,
        /// counselor (her provider's cases), supervisor (also its roster and exports) or admin.
        #[arg(long)]
        role: String,
        /// Her provider's id (required for counselors and supervisors).
        #[arg(long)]
        provider: Option<String>,
        /// Her counselor id in the roster, when she is on call too.
        #[arg(long)]
        counselor: Option<String>,
    },
    /// List users (never their tokens).
    List,
    /// Revoke a user's access at once.
    Revoke {
        /// Login name.
        name: String,
    },
    /// Give a user a new token (the old one stops working; revoked access is restored).
    Token {
        /// Login name.
        name: String,
    },
    /// Set the password she signs in to the web console with, read from standard input
    /// (one line, 10 to 256 characters); `--remove` takes it away (tokens still work).
    Password {
        /// Login name.
        name: String,
        /// Remove the password instead.
        #[arg(long)]
        remove: bool,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Put a new key in front of the key file: it seals from now on, the others still open.
    Add,
    /// Re-seal every stored value under the current key (resumable; run after `keys add`).
    Rotate,
}

#[derive(Subcommand)]
enum FlowsCommand {
    /// Check every flow and report all problems with file:line.
    Check {
        /// Flows directory (default: the configured one).
        dir: Option<PathBuf>,
        /// Locales directory (default: the configured one).
        #[arg(long)]
        locales: Option<PathBuf>,
        /// Escalation policies the flows' `escalate` actions must name (default:
        /// escalation/policies.yaml when it exists, else the shipped policies).
        #[arg(long)]
        policies: Option<PathBuf>,
    },
    /// Print the JSON Schema of flow files (committed as flows/schema.json).
    Schema,
}

fn init_logging(config: &Config, quiet: bool) {
    let default = if quiet { "warn" } else { "info" };
    let filter = EnvFilter::try_from_env("RUST_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        // A closed log pipe must not take the helpline down: tracing would report the failed
        // write with eprintln!, which panics on a broken pipe.
        .log_internal_errors(false)
        .with_writer(std::io::stderr);
    match config.log_format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

async fn users(config: &Config, command: UsersCommand) -> anyhow::Result<()> {
    use teduh::access::{Role, users};
    let store = app::open_store(config).await?;
    let result = async {
        match command {
            UsersCommand::Add { name, role, provider, counselor } => {
                let role = Role::parse(&role)
                    .with_context(|| format!("unknown role `{role}`: use counselor, supervisor or admin"))?;
                let directory = app::directory(&store).await?;
                let user = teduh::store::NewUser {
                    name: &name,
                    role,
                    provider_id: provider.as_deref(),
                    counselor_id: counselor.as_deref(),
                };
                let issued = users::add_user(&store, &directory, &user, SystemClock.now_ms()).await?;
                eprintln!("user `{name}` created as {role}; her API token (shown only now, keep it secret):");
                println!("{}", issued.token);
            }
            UsersCommand::List => {
                println!("name                 role        provider             status");
                for u in store.users().await? {
                    let status = if u.revoked_at.is_some() { "revoked" } else { "active" };
                    let provider = u.provider_id.unwrap_or_else(|| "-".into());
                    println!("{:<20} {:<11} {:<20} {status}", u.name, u.role, provider);
                }
            }
            UsersCommand::Revoke { name } => {
                anyhow::ensure!(
                    store.revoke_user(&name, SystemClock.now_ms()).await?,
                    "no active user named `{name}`"
                );
                eprintln!("access of `{name}` revoked");
            }
            UsersCommand::Token { name } => {
                let issued = users::new_token(&store, &name).await?;
                eprintln!("new API token for `{name}` (the old one no longer works; shown only now):");
                println!("{}", issued.token);
            }
            UsersCommand::Password { name, remove } => {
                let hash = if remove {
                    None
                } else {
                    eprintln!("password for `{name}` (one line, 10 to 256 characters):");
                    let mut line = String::new();
                    std::io::stdin().read_line(&mut line)?;
                    let password = line.trim_end_matches(['\r', '\n']);
                    Some(teduh::access::token::hash_password(password)?)
                };
                if !store.set_password(&name, hash.as_deref()).await? {
                    anyhow::bail!("no user named `{name}`");
                }
                eprintln!("{} for `{name}`", if remove { "password removed" } else { "password set" });
            }
        }
        Ok(())
    }
    .await;
    store.close().await;
    result
}

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    let config = Config::from_env(cli.config.as_deref())?;
    match cli.command.unwrap_or(Command::Serve { insecure_dev: false }) {
        Command::Serve { insecure_dev } => {
            init_logging(&config, false);
            let config = if insecure_dev { insecure(config) } else { config };
            serve(&config).await?;
        }
        Command::Chat { lang, flow, user } => {
            init_logging(&config, true);
            let runtime = app::runtime(&config, flow.as_deref()).await?;
            let options = ConsoleOptions::for_stdin(user, lang);
            let stdin = BufReader::new(tokio::io::stdin());
            console::run(&runtime, &options, stdin, tokio::io::stdout()).await?;
            runtime.store().close().await;
        }
        Command::Flows { command: FlowsCommand::Check { dir, locales, policies } } => {
            // The configured entry flow only has to exist in the configured flows directory.
            let entry = dir.is_none().then_some(config.entry_flow.as_str());
            let flows_dir = dir.unwrap_or_else(|| config.flows_dir.clone());
            let locales_dir = locales.unwrap_or_else(|| config.locales_dir.clone());
            let policies = policies.unwrap_or_else(|| PathBuf::from(teduh::server::POLICIES_PATH));
            return Ok(check_flows(&flows_dir, &locales_dir, &config.default_lang, entry, &policies));
        }
        Command::Flows { command: FlowsCommand::Schema } => {
            print!("{}", schema::flow_schema_json());
        }
        Command::Providers { command: ProvidersCommand::Import { file, check } } => {
            let regions = teduh::directory::Regions::embedded()?;
            let providers = match teduh::directory::provider::read_directory(&file, &regions) {
                Ok(p) => p,
                Err(errors) => {
                    for e in &errors {
                        if e.line > 0 {
                            println!("{}:{}: {}", file.display(), e.line, e.message);
                        } else {
                            println!("{}: {}", file.display(), e.message);
                        }
                    }
                    println!("{} problem(s) found; nothing was imported", errors.len());
                    return Ok(ExitCode::FAILURE);
                }
            };
            let counselors: usize = providers.iter().map(|p| p.counselors.len()).sum();
            if check {
                println!(
                    "{}: {} provider(s), {counselors} counselor(s): no problems",
                    file.display(),
                    providers.len()
                );
                return Ok(ExitCode::SUCCESS);
            }
            let store = app::open_store(&config).await?;
            store.replace_providers(&providers).await?;
            store.close().await;
            println!(
                "imported {} provider(s) and {counselors} counselor(s) from {}",
                providers.len(),
                file.display()
            );
        }
        Command::Providers { command: ProvidersCommand::List } => {
            let store = app::open_store(&config).await?;
            for p in store.providers().await? {
                let region = if p.region.is_empty() { "national" } else { p.region.as_str() };
                println!("{}\t{}\t{}\t{}", p.id, p.kind.as_str(), region, p.name);
            }
            store.close().await;
        }
        Command::Roster { command: RosterCommand::Import { file, check } } => {
            use teduh::escalation::roster::{read_roster, roster_providers};
            let store = app::open_store(&config).await?;
            let providers = store.providers().await?;
            let shifts = match read_roster(&file, &providers) {
                Ok(s) => s,
                Err(errors) => {
                    for e in &errors {
                        if e.line > 0 {
                            println!("{}:{}: {}", file.display(), e.line, e.message);
                        } else {
                            println!("{}: {}", file.display(), e.message);
                        }
                    }
                    println!("{} problem(s) found; nothing was imported", errors.len());
                    store.close().await;
                    return Ok(ExitCode::FAILURE);
                }
            };
            let ids = roster_providers(&shifts);
            if check {
                println!(
                    "{}: {} shift(s) for {} provider(s): no problems",
                    file.display(),
                    shifts.len(),
                    ids.len()
                );
            } else {
                store.replace_roster(&ids, &shifts).await?;
                println!(
                    "imported {} shift(s) for {} provider(s) from {}",
                    shifts.len(),
                    ids.len(),
                    file.display()
                );
            }
            store.close().await;
        }
        Command::Roster { command: RosterCommand::Now { provider } } => {
            let store = app::open_store(&config).await?;
            let (shifts, providers) = (store.roster().await?, store.providers().await?);
            store.close().await;
            let text = teduh::escalation::roster::format_on_call(
                &shifts,
                &providers,
                provider.as_deref(),
                SystemClock.now_ms(),
            )?;
            print!("{text}");
        }
        Command::Cases { command: CasesCommand::Export { period, columns, out } } => {
            let (from, to, offset) = period.range()?;
            let store = app::open_store(&config).await?;
            let directory = app::directory(&store).await?;
            let records = store.cases_between(from, to).await?;
            let csv = teduh::case::export::export_csv(&records, &directory, &columns, offset)?;
            // The operator's exports are on the record like the API's.
            let entry = teduh::access::AuditEntry {
                at: SystemClock.now_ms(),
                actor: "cli".into(),
                role: "operator".into(),
                action: "cases.export".into(),
                subject: None,
                outcome: "ok".into(),
                detail: Some(format!(
                    "from={};to={};tz={};count={}",
                    period.from,
                    period.to,
                    period.tz,
                    records.len()
                )),
            };
            store.audit(&entry).await?;
            store.close().await;
            match out {
                Some(path) => {
                    std::fs::write(&path, csv).with_context(|| format!("cannot write {}", path.display()))?;
                    eprintln!("{} case(s) written to {}", records.len(), path.display());
                }
                None => print!("{csv}"),
            }
        }
        Command::Report { command: ReportCommand::ResponseTimes { period } } => {
            let (from, to, _) = period.range()?;
            let store = app::open_store(&config).await?;
            let records = store.cases_between(from, to).await?;
            store.close().await;
            print!("{}", teduh::case::report::render(&teduh::case::report::response_times(&records)));
        }
        Command::Users { command } => users(&config, command).await?,
        Command::Bench { drain: Some(messages), rate, database_url, redis_url, .. } => {
            anyhow::ensure!((1..=1_000_000).contains(&messages), "--drain must be 1 to 1000000");
            anyhow::ensure!(
                rate.is_finite() && (1.0..=100_000.0).contains(&rate),
                "--rate must be 1 to 100000"
            );
            let options = teduh::bench::DrainOptions { messages, rate, database_url, redis_url };
            let report = teduh::bench::drain(&options).await?;
            print!("{}", report.render());
            anyhow::ensure!(report.passed(), "the drain missed its rate or went above it");
        }
        Command::Bench {
            users,
            seconds,
            think_ms,
            database_url,
            redis_url,
            drain: None,
            inbound_rate,
            compare,
            timeline,
            ..
        } => {
            anyhow::ensure!((1..=20_000).contains(&users), "--users must be 1 to 20000");
            anyhow::ensure!((1..=600).contains(&seconds), "--seconds must be 1 to 600");
            anyhow::ensure!(
                inbound_rate.is_none_or(|r| r.is_finite() && (1.0..=20_000.0).contains(&r)),
                "--inbound-rate must be 1 to 20000"
            );
            let options = teduh::bench::BenchOptions {
                users,
                duration: std::time::Duration::from_secs(seconds),
                think: std::time::Duration::from_millis(think_ms),
                database_url,
                redis_url,
                inbound_rate,
            };
            let runs = if compare {
                let postgres = teduh::bench::BenchOptions {
                    database_url: options.database_url.clone().or(Some(LOCAL_POSTGRES.into())),
                    redis_url: options.redis_url.clone().or(Some(LOCAL_REDIS.into())),
                    ..options.clone()
                };
                vec![teduh::bench::BenchOptions { database_url: None, redis_url: None, ..options }, postgres]
            } else {
                vec![options]
            };
            let mut reports = Vec::new();
            for run in &runs {
                reports.push(teduh::bench::run(run).await?);
            }
            print!("{}", teduh::bench::render_all(&reports));
            if timeline {
                for report in &reports {
                    print!("\n{}", teduh::bench::render_timeline(report));
                }
            }
        }
        Command::Openapi => print!("{}", teduh::api::openapi_json()),
        Command::Audit { case, user, limit } => {
            let store = app::open_store(&config).await?;
            let query = teduh::store::AuditQuery {
                since: None,
                actor: user,
                subject: case.map(|c| c.trim().to_uppercase()),
                limit: limit.clamp(1, 100_000),
            };
            let entries = store.audit_log(&query).await?;
            store.close().await;
            println!(
                "time (UTC)        actor            role        action        subject     outcome  detail"
            );
            for e in entries {
                println!(
                    "{:<17} {:<16} {:<11} {:<13} {:<11} {:<8} {}",
                    teduh::case::time::format_local(e.at, 0),
                    e.actor,
                    e.role,
                    e.action,
                    e.subject.unwrap_or_default(),
                    e.outcome,
                    e.detail.unwrap_or_default()
                );
            }
        }
        Command::Migrate => {
            init_logging(&config, false);
            let store = app::open_store(&config).await?;
            tracing::info!(backend = store.backend(), "migrations applied");
            store.close().await;
        }
        Command::Keys { command: KeysCommand::Add } => {
            if std::env::var("TEDUH_KEYS").is_ok_and(|k| !k.trim().is_empty()) {
                anyhow::bail!(
                    "keys come from TEDUH_KEYS: add the new key there (first), then run `teduh keys rotate`"
                );
            }
            let path = config.effective_key_file();
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read the key file {}", path.display()))?;
            let (id, text) = teduh::vault::Keyring::add_key_text(&text)?;
            teduh::vault::Keyring::write_file(&path, &text)?;
            println!("key `{id}` added to {} and seals from now on; run `teduh keys rotate`", path.display());
        }
        Command::Keys { command: KeysCommand::Rotate } => {
            init_logging(&config, false);
            let store = app::open_store(&config).await?;
            let done = store.rotate_keys().await?;
            store.close().await;
            for (table, count) in &done {
                println!("{table:<18} {count:>8} re-sealed");
            }
            println!(
                "every value is sealed under key `{}`; older keys may be removed from the key file",
                store.vault().current_id()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn check_flows(
    flows_dir: &Path,
    locales_dir: &Path,
    default_lang: &str,
    entry: Option<&str>,
    policies_path: &Path,
) -> ExitCode {
    let policies = if policies_path.exists() {
        teduh::escalation::policy::load_policies(policies_path)
    } else {
        teduh::escalation::policy::Policies::shipped()
    };
    let checked =
        teduh::flow::check_all(flows_dir, locales_dir, default_lang, entry).and_then(|(i18n, set)| {
            let problems: Vec<teduh::flow::Problem> = match &policies {
                Ok(policies) => teduh::flow::check_policy_refs(&set, policies.names()),
                Err(errors) => errors
                    .iter()
                    .map(|e| teduh::flow::Problem {
                        file: policies_path.to_path_buf(),
                        line: e.line,
                        kind: teduh::flow::ProblemKind::InvalidValue,
                        message: format!("escalation policies: {}", e.message),
                    })
                    .collect(),
            };
            if problems.is_empty() { Ok((i18n, set)) } else { Err(teduh::flow::Problems(problems)) }
        });
    match checked {
        Ok((_, set)) => {
            let files = load::flow_files(flows_dir).map(|f| f.len()).unwrap_or(0);
            println!("{} flow(s) in {files} file(s): no problems", set.flows.len());
            ExitCode::SUCCESS
        }
        Err(problems) => {
            println!("{problems}");
            ExitCode::FAILURE
        }
    }
}

/// The configuration with every channel's webhook authentication switched off, loudly.
fn insecure(mut config: Config) -> Config {
    tracing::warn!("--insecure-dev: webhooks are NOT authenticated; never run this where real people write");
    config.telegram = config
        .telegram
        .map(|t| Arc::new(teduh::channel::telegram::TelegramConfig { insecure_dev: true, ..(*t).clone() }));
    config.whatsapp = config
        .whatsapp
        .map(|w| Arc::new(teduh::channel::whatsapp::WhatsAppConfig { insecure_dev: true, ..(*w).clone() }));
    config.sms =
        config.sms.map(|s| Arc::new(teduh::channel::sms::SmsConfig { insecure_dev: true, ..(*s).clone() }));
    config
}

async fn serve(config: &Config) -> anyhow::Result<()> {
    let runtime = app::coordinated(config, app::runtime(config, None).await?).await?;
    let store = runtime.store().clone();
    let channels = config.channels();
    tracing::info!(
        backend = store.backend(),
        flows = runtime.engine().flows().flows.len(),
        providers = runtime.engine().directory().providers.len(),
        channels = %if channels.is_empty() { "none".to_string() } else { channels.join(",") },
        "Teduh starting"
    );
    if channels.is_empty() {
        tracing::warn!(
            "no channels are enabled: set TELEGRAM_BOT_TOKEN, WHATSAPP_ACCESS_TOKEN or SMS variables (docs/channels.md)"
        );
    }

    let policies = teduh::server::policies(std::path::Path::new(teduh::server::POLICIES_PATH))?;
    let server = teduh::server::Server::start(config, runtime, Arc::new(SystemClock), Arc::new(policies))?;
    let listener = tokio::net::TcpListener::bind(config.bind)
        .await
        .with_context(|| format!("cannot listen on {} (set TEDUH_BIND)", config.bind))?;
    tracing::info!(addr = %listener.local_addr()?, "listening");
    axum::serve(listener, server.router()).with_graceful_shutdown(shutdown_signal()).await?;
    // Stop taking work, let in-flight steps and sends finish, then close the database.
    server.stop().await;
    store.close().await;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
