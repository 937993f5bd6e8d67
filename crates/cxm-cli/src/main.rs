//! `cxm`: the customer experience management platform's command line.
//!
//! Each subcommand calls one library function and prints its result.

mod output;

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
    /// Generate a demo organisation into the data directory and load it: the first command
    /// to run. Explore it with `cxm query`.
    Demo {
        #[command(flatten)]
        shape: GenerateShape,
    },
    /// Rewrite small fact files into large ones and delete unreferenced files.
    Compact {
        /// Keep files older versions need for this many hours (0 deletes everything
        /// unreferenced at once).
        #[arg(long, default_value_t = 168, value_parser = clap::value_parser!(u64).range(0..=876_000))]
        retention_hours: u64,
    },
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
    /// First day of the period, YYYY-MM-DD [default: 2025-01-01 for generate, twelve full
    /// months before today for demo].
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
enum Format {
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
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CXM_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
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
            return ingest(&cli.data_dir, request, json).await;
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
        Command::Demo { shape } => demo(&cli.data_dir, &shape).await,
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

async fn ingest(path: &std::path::Path, request: IngestRequest, json: bool) -> ExitCode {
    let dir = match DataDir::open(path) {
        Ok(dir) => dir,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let summary = match cxm_ingest::ingest(&dir, &request).await {
        Ok(summary) => summary,
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
    if summary.rejected > 0 {
        ExitCode::from(EXIT_QUARANTINED)
    } else {
        ExitCode::SUCCESS
    }
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

/// Twelve full months before today: the first day of the month a year ago.
fn last_twelve_months() -> chrono::NaiveDate {
    use chrono::Datelike;
    let today = chrono::Utc::now().date_naive();
    let this_month = today.with_day(1).unwrap_or(today);
    this_month
        .checked_sub_months(chrono::Months::new(12))
        .unwrap_or(this_month)
}

async fn demo(path: &std::path::Path, shape: &GenerateShape) -> anyhow::Result<()> {
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
    println!(
        "ready: try `cxm --data-dir {} query \"SELECT channel, count(*) AS contacts FROM interactions GROUP BY channel\"`",
        dir.path().display()
    );
    Ok(())
}

async fn compact(path: &std::path::Path, retention_hours: u64) -> anyhow::Result<()> {
    let dir = DataDir::open(path)?;
    let _writer = dir.lock_for_writing()?;
    for report in dir.facts().await?.compact(retention_hours).await? {
        println!(
            "{}: {} files rewritten into {}, {} unreferenced files deleted",
            report.table, report.files_removed, report.files_added, report.files_vacuumed
        );
    }
    Ok(())
}
