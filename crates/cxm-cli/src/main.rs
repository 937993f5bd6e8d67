//! `cxm`: the customer experience management platform's command line.
//!
//! Each subcommand calls one library function and prints its result.

mod accounts;
mod cases;
mod ideas;
mod insight;
mod output;
mod recognition;
mod report;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use cxm_catalog::DataDir;
use cxm_domain::RecordKind;
use cxm_generate::GenerateOptions;
use cxm_ingest::{IngestRequest, IngestSummary};

/// mimalloc: ingest allocates small strings on one thread and frees them on another, where
/// glibc's allocator is slow.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Turns transparent huge pages off for this process (Linux). mimalloc asks for huge pages
/// for its arenas, and the kernel then zeroes 2 MiB at the first touch of any byte of one:
/// 18% of the CPU samples of a 2-million-contact ingest and 29% of a day's batch with the
/// alert rules, most of it for memory barely used (docs/benchmarks.md). Elsewhere a no-op.
fn without_huge_pages() {
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_THP_DISABLE takes integer arguments only and touches no memory of ours;
    // a kernel without it returns an error, which leaves the process as it was.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}

/// Exit status when some rows were quarantined.
const EXIT_QUARANTINED: u8 = 3;
/// Exit status on a usage or file error.
const EXIT_USAGE: u8 = 2;

#[derive(Parser)]
#[command(
    name = "cxm",
    version,
    about = "Customer experience management: measure, understand, act, lead."
)]
struct Cli {
    /// The data directory: fact tables, reference data, quarantine.
    #[arg(
        long,
        global = true,
        env = "CXM_DATA_DIR",
        default_value = "./cxm-data"
    )]
    data_dir: PathBuf,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create a data directory (idempotent).
    Init {
        /// Keep reference and workflow data in PostgreSQL (`postgres://…`) instead of SQLite.
        #[arg(long, env = "CXM_DATABASE_URL")]
        database_url: Option<String>,
    },
    /// Load records from CSV, NDJSON or Parquet files (optionally gzip-compressed).
    ///
    /// Exit status: 0 when every row was accepted, 3 when some were quarantined, 2 on a
    /// usage or file error (then nothing was stored).
    Ingest {
        /// What the files hold.
        #[arg(value_parser = parse_kind)]
        kind: RecordKind,
        /// The files to read; all of them form one atomic batch.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// A TOML file mapping another export's columns, formats and values (see examples/).
        #[arg(long)]
        mapping: Option<PathBuf>,
        /// Validate and count without storing anything. Reference kinds also report what
        /// would be inserted, replaced or unchanged; fact kinds report validation only.
        #[arg(long)]
        dry_run: bool,
        /// Print the summary as JSON.
        #[arg(long)]
        json: bool,
        /// Reject rows naming customers, agents, topics, people or units not loaded yet.
        #[arg(long)]
        enforce_references: bool,
        /// Most rows per atomic batch; larger inputs commit in several batches.
        #[arg(long, default_value_t = IngestRequest::DEFAULT_BATCH_ROWS)]
        batch_rows: u64,
        /// Do not rebuild the metric rollup now, only mark it out of date (when loading
        /// several files in a row; the next question or `cxm refresh` rebuilds it).
        #[arg(long)]
        no_refresh: bool,
        /// Do not evaluate the alert rules after storing contacts or survey answers (run
        /// `cxm alerts run` later).
        #[arg(long)]
        no_alerts: bool,
    },
    /// Run read-only SQL over every table (facts and reference data can be joined).
    Query {
        /// One SELECT statement.
        sql: String,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Write a realistic demo organisation with known ground truth (canonical CSV files and
    /// ground_truth.json). Same options and seed, byte-identical files.
    Generate {
        /// The directory to write into (created if missing; our files are overwritten).
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        shape: GenerateShape,
        /// Break this share of the customer, contact, survey, transaction and event rows on
        /// purpose (e.g. 0.01), listing each in corruptions.csv, for ingestion tests.
        #[arg(long, default_value_t = 0.0)]
        corrupt: f64,
        /// Worker threads (the output does not depend on it).
        #[arg(long)]
        threads: Option<usize>,
        /// Print the summary as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Generate a demo organisation into the data directory, load it, create one demo user
    /// per role and serve it: the first command to run.
    Demo {
        #[command(flatten)]
        shape: GenerateShape,
        /// Where to serve the demo.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: std::net::SocketAddr,
        /// Load and create the users, but do not serve.
        #[arg(long)]
        no_serve: bool,
    },
    /// Serve the web UI and the HTTP API (OpenAPI at /api/v1/openapi.json).
    Serve {
        #[arg(long, env = "CXM_LISTEN", default_value = "127.0.0.1:8080")]
        listen: std::net::SocketAddr,
        /// Mark session cookies Secure (when users reach cxm over TLS, e.g. behind a proxy).
        #[arg(long, env = "CXM_SECURE_COOKIES")]
        secure_cookies: bool,
    },
    /// Add, list, change and disable the people who sign in.
    Users {
        #[command(subcommand)]
        action: accounts::UserAction,
    },
    /// API tokens for machines (e.g. a telephony platform sending contacts).
    Tokens {
        #[command(subcommand)]
        action: accounts::TokenAction,
    },
    /// The audit log: sign-ins, ingests, role changes, tokens; newest first.
    Audit {
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Compute metrics by any grouping, time grain and filter, with sample sizes, 95%
    /// intervals, change against the previous period and ranks.
    Metrics {
        /// Metrics to compute, comma-separated [default: the whole catalogue].
        #[arg(long, value_delimiter = ',')]
        metric: Vec<String>,
        /// Group by: agent, team, site, division, company, channel, topic, category,
        /// segment, region (comma-separated).
        #[arg(long, value_delimiter = ',', value_parser = cxm_metrics::Dimension::parse)]
        by: Vec<cxm_metrics::Dimension>,
        /// day, week, month, quarter, year or all.
        #[arg(long, default_value = "month", value_parser = cxm_domain::metrics::Grain::parse)]
        grain: cxm_domain::metrics::Grain,
        #[command(flatten)]
        filters: FilterArgs,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
        /// List the metric catalogue instead.
        #[arg(long)]
        list: bool,
    },
    /// A unit's or person's metrics for a period against targets, endgame, parent and peers.
    Scorecard {
        /// The org unit.
        #[arg(long, conflicts_with = "person", required_unless_present = "person")]
        unit: Option<String>,
        /// The person (agent).
        #[arg(long)]
        person: Option<String>,
        /// 2025, 2025-Q1, 2025-03, 2025-W10 or 2025-03-04 [default: the latest complete
        /// month of data].
        #[arg(long, value_parser = cxm_domain::metrics::Period::parse)]
        period: Option<cxm_domain::metrics::Period>,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Set, list and remove targets.
    Targets {
        #[command(subcommand)]
        action: TargetAction,
    },
    /// Rebuild the metric rollup from the stored data (ingest does this by itself).
    Refresh,
    /// Evaluate the alert rules and open follow-up cases.
    Alerts {
        #[command(subcommand)]
        action: cases::AlertAction,
    },
    /// List, add, enable and disable alert rules.
    Rules {
        #[command(subcommand)]
        action: cases::RuleAction,
    },
    /// Follow-up cases: list, show with their timeline, and work them.
    Cases {
        #[command(subcommand)]
        action: cases::CaseAction,
    },
    /// Webhooks that receive case events: add, list, remove, see deliveries, send.
    Webhooks {
        #[command(subcommand)]
        action: cases::WebhookAction,
    },
    /// Front-line ideas: list, show, submit, vote, comment, and move them through triage
    /// and decision.
    Ideas {
        #[command(subcommand)]
        action: ideas::IdeaAction,
    },
    /// Initiatives approved ideas became, and their measured impact.
    Initiatives {
        #[command(subcommand)]
        action: ideas::InitiativeAction,
    },
    /// Kudos between colleagues and from customers' praise.
    Kudos {
        #[command(subcommand)]
        action: recognition::KudosAction,
    },
    /// The success-story library.
    Stories {
        #[command(subcommand)]
        action: recognition::StoryAction,
    },
    /// Customer lifetime value: BG/NBD and Gamma-Gamma fitted by maximum likelihood on
    /// purchase histories, each customer's discounted value over a horizon, by segment,
    /// team and NPS group.
    Clv(insight::ClvArgs),
    /// Key driver analysis: which operational measures, attribute ratings and topics move
    /// an outcome (relative weights, Shapley values, coefficients, 95% bootstrap
    /// intervals, importance × performance).
    Drivers(insight::DriverArgs),
    /// Attrition by month, segment and team; retention curves by experience group; churn
    /// drivers.
    Attrition(insight::AttritionArgs),
    /// What experience is worth: purchases, net revenue and attrition after a cut date of
    /// customers grouped by NPS group, lowest CSAT, repeat contact and complaint; revenue
    /// at risk; the value of moving customers to a better group.
    Experience(insight::ExperienceArgs),
    /// Topics ranked by the repeat contacts, complaints and dissatisfaction they bring
    /// beyond other contacts; emerging topics.
    RootCauses(insight::RootCauseArgs),
    /// Rewrite small fact files into large ones and delete unreferenced files.
    Compact {
        /// Keep files older versions need for this many hours (0 deletes everything
        /// unreferenced at once).
        #[arg(long, default_value_t = 168, value_parser = clap::value_parser!(u64).range(0..=876_000))]
        retention_hours: u64,
    },
}

/// Which rows `cxm metrics` considers.
#[derive(clap::Args, Clone)]
pub(crate) struct FilterArgs {
    /// First local day, YYYY-MM-DD [default: the first with data].
    #[arg(long)]
    from: Option<chrono::NaiveDate>,
    /// Last local day, YYYY-MM-DD, inclusive [default: the latest with data].
    #[arg(long)]
    to: Option<chrono::NaiveDate>,
    /// Only this org unit's subtree.
    #[arg(long)]
    unit: Option<String>,
    /// Only this person's contacts.
    #[arg(long)]
    person: Option<String>,
    #[arg(long, value_delimiter = ',')]
    channel: Vec<String>,
    #[arg(long, value_delimiter = ',')]
    topic: Vec<String>,
    #[arg(long, value_delimiter = ',')]
    segment: Vec<String>,
    #[arg(long, value_delimiter = ',')]
    region: Vec<String>,
}

impl FilterArgs {
    pub(crate) fn into_filters(self) -> cxm_metrics::Filters {
        cxm_metrics::Filters {
            from: self.from,
            to: self.to,
            unit: self.unit,
            person: self.person,
            channels: self.channel,
            topics: self.topic,
            segments: self.segment,
            regions: self.region,
        }
    }
}

#[derive(Subcommand)]
enum TargetAction {
    /// Set (or replace) a target.
    Set {
        #[command(flatten)]
        key: TargetKey,
        /// The value (shares as 0–1, e.g. 0.9 for 90%).
        #[arg(long, required_unless_present = "endgame", conflicts_with = "endgame")]
        value: Option<f64>,
        /// The metric's endgame: 100% satisfied, zero complaints, zero attrition.
        #[arg(long)]
        endgame: bool,
    },
    /// List every target.
    List {
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Remove a target.
    Remove {
        #[command(flatten)]
        key: TargetKey,
    },
}

/// What identifies a target: metric, scope (a unit or a person) and period.
#[derive(clap::Args)]
struct TargetKey {
    #[arg(long)]
    metric: String,
    #[arg(long, conflicts_with = "person", required_unless_present = "person")]
    unit: Option<String>,
    #[arg(long)]
    person: Option<String>,
    /// A period label (2025, 2025-Q1, 2025-03, …) or * for every period.
    #[arg(long, default_value = "*")]
    period: String,
}

impl TargetKey {
    fn scope(&self) -> (cxm_sql::ScopeKind, String) {
        match (&self.unit, &self.person) {
            (Some(unit), _) => (cxm_sql::ScopeKind::Unit, unit.clone()),
            (None, Some(person)) => (cxm_sql::ScopeKind::Person, person.clone()),
            (None, None) => unreachable!("clap requires --unit or --person"),
        }
    }
}

/// The size and period of a generated organisation.
#[derive(clap::Args)]
struct GenerateShape {
    /// Contacts (interactions) to generate, exactly.
    #[arg(long, default_value_t = GenerateOptions::DEFAULT_CONTACTS)]
    contacts: u64,
    /// Generate this many customers instead, however many contacts they make.
    #[arg(long, conflicts_with = "contacts")]
    customers: Option<u64>,
    #[arg(long, default_value_t = GenerateOptions::DEFAULT_SEED)]
    seed: u64,
    /// First day of the period, YYYY-MM-DD [default: 2025-01-01 for generate, for demo
    /// twelve months that end a week before today].
    #[arg(long)]
    start: Option<chrono::NaiveDate>,
    /// Length of the period in months.
    #[arg(long, default_value_t = GenerateOptions::DEFAULT_MONTHS)]
    months: u32,
}

impl GenerateShape {
    fn options(&self, out: PathBuf, start: chrono::NaiveDate) -> GenerateOptions {
        let mut options = GenerateOptions::new(out);
        options.contacts = self.contacts;
        options.customers = self.customers;
        options.seed = self.seed;
        options.start = self.start.unwrap_or(start);
        options.months = self.months;
        options
    }
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum Format {
    Table,
    Csv,
    Json,
}

fn parse_kind(name: &str) -> Result<RecordKind, String> {
    RecordKind::from_cli_name(name).ok_or_else(|| {
        let kinds: Vec<&str> = RecordKind::ALL.iter().map(|k| k.cli_name()).collect();
        format!(
            "unknown kind {name:?}; expected one of {}",
            kinds.join(", ")
        )
    })
}

fn main() -> ExitCode {
    without_huge_pages();
    let cli = Cli::parse();
    // A server logs every request; other commands only warnings.
    let default_level = match cli.command {
        Command::Serve { .. }
        | Command::Demo {
            no_serve: false, ..
        } => "info",
        _ => "warn",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CXM_LOG")
                .unwrap_or_else(|_| default_level.into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(cli))
}

async fn run(cli: Cli) -> ExitCode {
    let result = match cli.command {
        Command::Init { database_url } => init(&cli.data_dir, database_url).await,
        Command::Ingest {
            kind,
            files,
            mapping,
            dry_run,
            json,
            enforce_references,
            batch_rows,
            no_refresh,
            no_alerts,
        } => {
            let request = IngestRequest {
                kind,
                files,
                mapping,
                dry_run,
                enforce_references,
                progress: std::io::stderr().is_terminal() && !json,
                batch_rows,
            };
            return ingest(&cli.data_dir, request, json, !no_refresh, !no_alerts).await;
        }
        Command::Query { sql, format } => query(&cli.data_dir, &sql, format).await,
        Command::Compact { retention_hours } => compact(&cli.data_dir, retention_hours).await,
        Command::Generate {
            out,
            shape,
            corrupt,
            threads,
            json,
        } => {
            let mut options = shape.options(out, GenerateOptions::default_start());
            options.corrupt = corrupt;
            if let Some(threads) = threads {
                options.threads = threads;
            }
            generate(options, json).await
        }
        Command::Demo {
            shape,
            listen,
            no_serve,
        } => demo(&cli.data_dir, &shape, (!no_serve).then_some(listen)).await,
        Command::Serve {
            listen,
            secure_cookies,
        } => serve(&cli.data_dir, listen, secure_cookies).await,
        Command::Users { action } => match DataDir::open(&cli.data_dir) {
            Ok(dir) => accounts::users(&dir, action).await,
            Err(error) => Err(error.into()),
        },
        Command::Tokens { action } => match DataDir::open(&cli.data_dir) {
            Ok(dir) => accounts::tokens(&dir, action).await,
            Err(error) => Err(error.into()),
        },
        Command::Audit { limit } => match DataDir::open(&cli.data_dir) {
            Ok(dir) => accounts::audit_log(&dir, limit).await,
            Err(error) => Err(error.into()),
        },
        Command::Metrics {
            metric,
            by,
            grain,
            filters,
            format,
            list,
        } => {
            let query = cxm_metrics::Query {
                metrics: metric,
                by,
                grain,
                filters: filters.into_filters(),
            };
            metrics(&cli.data_dir, &query, format, list).await
        }
        Command::Scorecard {
            unit,
            person,
            period,
            format,
        } => {
            let subject = match (unit, person) {
                (Some(unit), _) => cxm_metrics::Subject::Unit(unit),
                (None, Some(person)) => cxm_metrics::Subject::Person(person),
                (None, None) => unreachable!("clap requires --unit or --person"),
            };
            scorecard(&cli.data_dir, &subject, period, format).await
        }
        Command::Targets { action } => targets(&cli.data_dir, action).await,
        Command::Refresh => refresh(&cli.data_dir).await,
        Command::Alerts { action } => cases::alerts(&cli.data_dir, action).await,
        Command::Rules { action } => cases::rules(&cli.data_dir, action).await,
        Command::Cases { action } => cases::cases(&cli.data_dir, action).await,
        Command::Webhooks { action } => cases::webhooks(&cli.data_dir, action).await,
        Command::Ideas { action } => ideas::ideas(&cli.data_dir, action).await,
        Command::Initiatives { action } => ideas::initiatives(&cli.data_dir, action).await,
        Command::Kudos { action } => recognition::kudos(&cli.data_dir, action).await,
        Command::Stories { action } => recognition::stories(&cli.data_dir, action).await,
        Command::Clv(args) => insight::clv(&cli.data_dir, args).await,
        Command::Drivers(args) => insight::drivers(&cli.data_dir, args).await,
        Command::Attrition(args) => insight::attrition(&cli.data_dir, args).await,
        Command::Experience(args) => insight::experience(&cli.data_dir, args).await,
        Command::RootCauses(args) => insight::root_causes(&cli.data_dir, args).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn init(path: &std::path::Path, database_url: Option<String>) -> anyhow::Result<()> {
    let dir = DataDir::init(path, database_url).await?;
    println!("initialised cxm data directory {}", dir.path().display());
    Ok(())
}

async fn ingest(
    path: &std::path::Path,
    request: IngestRequest,
    json: bool,
    refresh: bool,
    alerts: bool,
) -> ExitCode {
    let dir = match DataDir::open(path) {
        Ok(dir) => dir,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    // The contacts the rules will look at are kept as they are written, so the rules need
    // not read back what was just stored (without them the rules read the table).
    let keep = if alerts && !request.dry_run && request.kind == RecordKind::Interactions {
        cxm_loop::contacts_to_keep(&dir, chrono::Utc::now())
            .await
            .unwrap_or_else(|error| {
                tracing::warn!(%error, "the alert rules could not be read before the ingest");
                None
            })
    } else {
        None
    };
    let (summary, added) = match cxm_ingest::ingest_keeping(&dir, &request, keep.as_ref()).await {
        Ok(ingested) => ingested,
        Err(error) => {
            eprintln!("error: {error}");
            return if error.is_input_error() {
                ExitCode::from(EXIT_USAGE)
            } else {
                ExitCode::FAILURE
            };
        }
    };
    if json {
        println!("{}", serde_json::to_string(&summary).unwrap_or_default());
    } else {
        print_summary(&summary, request.dry_run);
    }
    if !request.dry_run
        && let Err(error) = audit_ingest(&dir, &summary).await
    {
        eprintln!("error: the data was stored but the audit log could not record it: {error}");
        return ExitCode::FAILURE;
    }
    if !refresh
        && !request.dry_run
        && summary.inserted + summary.replaced > 0
        && let Err(error) = cxm_metrics::mark_stale(&dir)
    {
        eprintln!(
            "error: the data was stored but the metric rollup could not be marked out of date: {error}"
        );
        return ExitCode::FAILURE;
    }
    if refresh && !request.dry_run && summary.inserted + summary.replaced > 0 {
        // Keep the metric rollup current with what was just stored.
        match refresh_rollup(&dir).await {
            Ok(report) if !json => println!("metrics refreshed in {:.2} s", report.seconds),
            Ok(_) => {}
            Err(error) => {
                eprintln!(
                    "error: the data was stored but the metric rollup could not be refreshed: {error}"
                );
                return ExitCode::FAILURE;
            }
        }
    }
    let changed = !request.dry_run && summary.inserted + summary.replaced > 0;
    if alerts && changed {
        // The rules that watch this kind of record (`Scope` knows which: contacts and
        // answers open cases, the taxonomy and purchases change what stored ones match).
        // Only records from the earliest one stored on can open cases (repeat-contact
        // windows reach back from there).
        let since = summary
            .earliest_micros
            .and_then(chrono::DateTime::from_timestamp_micros);
        let scope = cxm_loop::Scope::ingested(request.kind, since);
        match cxm_loop::evaluate_after(&dir, &scope, chrono::Utc::now(), added.as_ref()).await {
            // Said only when a rule watches this kind of record.
            Ok(run) if !json && !run.rules.is_empty() => {
                println!("alerts: {} cases opened", run.opened);
                for rule in run.rules.iter().filter(|r| r.note.is_some()) {
                    println!(
                        "  rule {}: {}",
                        rule.rule_id,
                        rule.note.as_deref().unwrap_or("")
                    );
                }
            }
            Ok(_) => {}
            Err(error) => {
                eprintln!(
                    "error: the data was stored but the alert rules could not be evaluated: {error}"
                );
                return ExitCode::FAILURE;
            }
        }
    }
    if summary.rejected > 0 {
        ExitCode::from(EXIT_QUARANTINED)
    } else {
        ExitCode::SUCCESS
    }
}

/// Records a stored batch in the audit log: what, from which files, with what outcome.
async fn audit_ingest(dir: &DataDir, summary: &IngestSummary) -> anyhow::Result<()> {
    let store = dir.reference().await?;
    let detail = format!(
        "{} from {}: {} read, {} inserted, {} replaced, {} unchanged, {} rejected",
        summary.kind,
        summary.files.join(", "),
        summary.read,
        summary.inserted,
        summary.replaced,
        summary.unchanged,
        summary.rejected
    );
    let result = cxm_server::accounts::audit_cli(&store, "ingest", detail).await;
    store.close().await;
    result.map_err(|e| anyhow::anyhow!(e.public_message()))
}

fn print_summary(summary: &IngestSummary, dry_run: bool) {
    let verb = if dry_run {
        "validated (dry run, nothing stored)"
    } else {
        "ingested"
    };
    println!(
        "{verb} {}: {} read, {} accepted ({} inserted, {} replaced, {} unchanged), {} rejected",
        summary.kind,
        summary.read,
        summary.accepted,
        summary.inserted,
        summary.replaced,
        summary.unchanged,
        summary.rejected
    );
    if let Some(path) = &summary.quarantine {
        println!("rejected rows with their reasons: {path}");
    } else if dry_run && summary.rejected > 0 {
        println!("run without --dry-run to write the rejected rows to the quarantine");
    }
}

async fn query(path: &std::path::Path, sql: &str, format: Format) -> anyhow::Result<()> {
    let dir = DataDir::open(path)?;
    let batches = cxm_catalog::read_only_query(&dir, sql).await?;
    let mut stdout = std::io::stdout().lock();
    match format {
        Format::Table => output::table(&mut stdout, &batches)?,
        Format::Csv => output::csv(&mut stdout, &batches)?,
        Format::Json => output::json(&mut stdout, &batches)?,
    }
    Ok(())
}

async fn generate(options: GenerateOptions, json: bool) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let summary = tokio::task::spawn_blocking(move || cxm_generate::generate(&options)).await??;
    if json {
        println!("{}", serde_json::to_string(&summary)?);
    } else {
        println!(
            "generated {} in {:.1} s: {} org units, {} people, {} memberships, {} topics, \
             {} customers, {} interactions, {} survey responses, {} transactions, \
             {} customer events",
            summary.out,
            started.elapsed().as_secs_f64(),
            summary.org_units,
            summary.people,
            summary.memberships,
            summary.topics,
            summary.customers,
            summary.interactions,
            summary.survey_responses,
            summary.transactions,
            summary.customer_events
        );
        if summary.corrupted_rows > 0 {
            println!(
                "{} rows broken on purpose, listed in corruptions.csv",
                summary.corrupted_rows
            );
        }
    }
    Ok(())
}

/// The start of twelve months that end a week before today: the survey answers and
/// purchases that follow the last contacts still lie in the past, and the alert rules
/// (which act on records at most 14 days old) have a week of contacts to act on, whatever
/// the day of the month.
fn last_twelve_months() -> chrono::NaiveDate {
    let end = chrono::Utc::now().date_naive() - chrono::Days::new(7);
    end.checked_sub_months(chrono::Months::new(12))
        .unwrap_or(end)
}

async fn demo(
    path: &std::path::Path,
    shape: &GenerateShape,
    listen: Option<std::net::SocketAddr>,
) -> anyhow::Result<()> {
    let dir = DataDir::init(path, None).await?;
    let generated = dir.path().join("generated");
    let options = shape.options(generated.clone(), last_twelve_months());
    println!(
        "generating a demo organisation ({} contacts from {}, {} months) into {}",
        options.contacts,
        options.start,
        options.months,
        generated.display()
    );
    generate(options, false).await?;
    for (file, kind) in cxm_generate::FILES {
        let kind = RecordKind::from_cli_name(kind)
            .ok_or_else(|| anyhow::anyhow!("unknown kind {kind}"))?;
        let request = IngestRequest::new(kind, vec![generated.join(file)]);
        let summary = cxm_ingest::ingest(&dir, &request).await?;
        print_summary(&summary, false);
        if summary.rejected > 0 {
            anyhow::bail!("the generated {file} had rejected rows: this is a bug in cxm");
        }
    }
    let report = refresh_rollup(&dir).await?;
    println!("metrics computed in {:.1} s", report.seconds);
    // The demo's history ended before today: its cases are due an SLA from now.
    let run = cxm_loop::evaluate(&dir, &cxm_loop::Scope::default(), chrono::Utc::now()).await?;
    println!("alert rules opened {} follow-up cases", run.opened);
    let sign_ins = cxm_server::accounts::demo_users(&dir)
        .await
        .map_err(|e| anyhow::anyhow!(e.public_message()))?;
    println!("sign in as (user / password: sees):");
    for sign_in in &sign_ins {
        println!(
            "  {:<16} / {:<20}: {}",
            sign_in.username, sign_in.password, sign_in.sees
        );
    }
    println!(
        "or ask from the command line: `cxm --data-dir {0} metrics --metric contacts,csat,repeat_contact_rate --by site`, `cxm --data-dir {0} scorecard --unit S01`",
        dir.path().display()
    );
    match listen {
        Some(listen) => serve(dir.path(), listen, false).await,
        None => Ok(()),
    }
}

async fn serve(
    path: &std::path::Path,
    listen: std::net::SocketAddr,
    secure_cookies: bool,
) -> anyhow::Result<()> {
    let dir = DataDir::open(path)?;
    let config = cxm_server::ServerConfig {
        secure_cookies,
        ..cxm_server::ServerConfig::default()
    };
    let state = cxm_server::AppState::open(dir, config)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {listen}: {e}"))?;
    println!(
        "serving on http://{} (Ctrl-C stops)",
        listener.local_addr()?
    );
    cxm_server::serve(listener, state, cxm_server::shutdown_signal()).await?;
    Ok(())
}

async fn refresh_rollup(dir: &DataDir) -> anyhow::Result<cxm_metrics::RefreshReport> {
    let _writer = dir.lock_for_writing().await?;
    Ok(cxm_metrics::refresh(dir).await?)
}

async fn refresh(path: &std::path::Path) -> anyhow::Result<()> {
    let dir = DataDir::open(path)?;
    let report = refresh_rollup(&dir).await?;
    println!(
        "metric rollup rebuilt in {:.2} s: {}",
        report.seconds,
        report
            .rows
            .iter()
            .map(|(source, rows)| format!(
                "{rows} {source} ({} cells)",
                report.cells.get(source).copied().unwrap_or(0)
            ))
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(())
}

async fn metrics(
    path: &std::path::Path,
    query: &cxm_metrics::Query,
    format: Format,
    list: bool,
) -> anyhow::Result<()> {
    let dir = DataDir::open(path)?;
    let mut stdout = std::io::stdout().lock();
    if list {
        let config = cxm_metrics::EngineConfig::load(dir.path())?;
        match format {
            Format::Json => {
                serde_json::to_writer_pretty(&mut stdout, config.catalogue.metrics())?;
                use std::io::Write;
                writeln!(stdout)?;
            }
            _ => report::catalogue_table(&mut stdout, &config.catalogue)?,
        }
        return Ok(());
    }
    let engine = cxm_metrics::Engine::open(&dir).await?;
    let result = engine.query(query).await?;
    match format {
        Format::Table => report::metrics_table(&mut stdout, &result, &engine.config().catalogue)?,
        Format::Csv => report::metrics_csv(&mut stdout, &result)?,
        Format::Json => {
            serde_json::to_writer(&mut stdout, &result)?;
            use std::io::Write;
            writeln!(stdout)?;
        }
    }
    Ok(())
}

async fn scorecard(
    path: &std::path::Path,
    subject: &cxm_metrics::Subject,
    period: Option<cxm_domain::metrics::Period>,
    format: Format,
) -> anyhow::Result<()> {
    use cxm_sql::TargetStore;
    let dir = DataDir::open(path)?;
    let engine = cxm_metrics::Engine::open(&dir).await?;
    let store = dir.reference().await?;
    let targets = store.targets().await?;
    store.close().await;
    let period = period.unwrap_or_else(|| cxm_metrics::scorecard::default_period(&engine));
    let card = cxm_metrics::scorecard::scorecard(&engine, subject, period, &targets).await?;
    let mut stdout = std::io::stdout().lock();
    match format {
        Format::Json => {
            serde_json::to_writer(&mut stdout, &card)?;
            use std::io::Write;
            writeln!(stdout)?;
        }
        Format::Csv => report::records_csv(&mut stdout, &card.lines)?,
        Format::Table => report::scorecard_table(&mut stdout, &card)?,
    }
    Ok(())
}

async fn targets(path: &std::path::Path, action: TargetAction) -> anyhow::Result<()> {
    use cxm_sql::TargetStore;
    let dir = DataDir::open(path)?;
    let store = dir.reference().await?;
    match action {
        TargetAction::Set {
            key,
            value,
            endgame,
        } => {
            let metric = key.metric.clone();
            let config = cxm_metrics::EngineConfig::load(dir.path())?;
            let definition = config.catalogue.get(&metric)?;
            let value = match (value, endgame) {
                (Some(value), _) => value,
                (None, _) => definition.endgame.ok_or_else(|| {
                    anyhow::anyhow!("metric {metric} has no endgame; give --value")
                })?,
            };
            let (scope_kind, scope_id) = key.scope();
            let target = cxm_sql::Target {
                metric,
                scope_kind,
                scope_id,
                period: cxm_metrics::targets::canonical_period(&key.period)?,
                value,
                set_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            };
            let org = cxm_metrics::Organisation::load_structure(&store).await?;
            cxm_metrics::targets::validate(&config.catalogue, &org, &target)?;
            store.set_target(&target).await?;
            println!(
                "target set: {} for {} {} in {} = {}",
                target.metric,
                target.scope_kind.as_str(),
                target.scope_id,
                target.period,
                report::format_value(definition.unit, Some(target.value))
            );
        }
        TargetAction::List { format } => {
            let targets = store.targets().await?;
            let mut stdout = std::io::stdout().lock();
            match format {
                Format::Json => {
                    serde_json::to_writer(&mut stdout, &targets)?;
                    use std::io::Write;
                    writeln!(stdout)?;
                }
                Format::Csv => report::records_csv(&mut stdout, &targets)?,
                Format::Table => report::targets_table(&mut stdout, &targets)?,
            }
        }
        TargetAction::Remove { key } => {
            let (kind, id) = key.scope();
            let metric = &key.metric;
            let period = cxm_metrics::targets::canonical_period(&key.period)?;
            if !store.remove_target(metric, kind, &id, &period).await? {
                anyhow::bail!("no target {metric} for {} {id} in {period}", kind.as_str());
            }
            println!("target removed");
        }
    }
    store.close().await;
    Ok(())
}

async fn compact(path: &std::path::Path, retention_hours: u64) -> anyhow::Result<()> {
    let dir = DataDir::open(path)?;
    let _writer = dir.lock_for_writing().await?;
    for report in dir.facts().await?.compact(retention_hours).await? {
        println!(
            "{}: {} files rewritten into {}, {} unreferenced files deleted",
            report.table, report.files_removed, report.files_added, report.files_vacuumed
        );
    }
    Ok(())
}
