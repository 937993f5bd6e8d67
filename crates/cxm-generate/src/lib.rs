//! `cxm generate`: a realistic demo organisation with known ground truth.
//!
//! The generator writes a whole company in cxm's canonical CSV formats — org units, people,
//! effective-dated memberships, the topic taxonomy, customers, contacts, survey answers,
//! purchases and refunds, customer events — and `ground_truth.json` with every true effect it
//! used (the [`Model`], each agent's latent skill, speed and warmth, the demand shape, the
//! topics' difficulty), so analyses can be checked against the causes that made the data.
//!
//! Customers are simulated one at a time, each from a random stream derived from the seed and
//! the customer's number, in chunks spread over worker threads and written in order: output
//! is byte-identical for a seed whatever the number of threads, and memory does not grow with
//! the number of contacts.

mod calendar;
mod customer;
pub mod model;
mod org;
mod output;
mod text;
pub mod topics;
mod world;

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, mpsc};

use chrono::NaiveDate;
use serde::Serialize;

pub use calendar::ArrivalShape;
use model::MAX_ATTRIBUTES;
pub use model::Model;
pub use org::AgentTruth;

use output::{CUSTOMER_FILES, ChunkOutput, CustomerFile, push_quoted};
use world::World;

/// Customers per chunk of work.
const CHUNK_CUSTOMERS: u64 = 512;
/// Chunks a worker may run ahead of the writer, per worker.
const WINDOW_PER_WORKER: u64 = 4;

/// What to generate.
#[derive(Debug, Clone)]
pub struct GenerateOptions {
    pub out: PathBuf,
    /// Stop after exactly this many contacts (unless `customers` is set).
    pub contacts: u64,
    /// Generate exactly this many customers instead, however many contacts they make.
    pub customers: Option<u64>,
    pub seed: u64,
    /// First day of the period (UTC).
    pub start: NaiveDate,
    pub months: u32,
    /// Share of customer-file rows (customers, contacts, surveys, transactions, events) to
    /// break on purpose; each broken row is listed in `corruptions.csv`.
    pub corrupt: f64,
    /// Worker threads (output does not depend on it).
    pub threads: usize,
    pub model: Model,
}

impl GenerateOptions {
    pub const DEFAULT_CONTACTS: u64 = 250_000;
    pub const DEFAULT_SEED: u64 = 42;
    pub const DEFAULT_MONTHS: u32 = 12;

    /// The default start is fixed (not "a year ago") so that output depends only on the
    /// options.
    pub fn default_start() -> NaiveDate {
        NaiveDate::from_ymd_opt(2025, 1, 1).unwrap_or_default()
    }

    pub fn new(out: impl Into<PathBuf>) -> Self {
        GenerateOptions {
            out: out.into(),
            contacts: Self::DEFAULT_CONTACTS,
            customers: None,
            seed: Self::DEFAULT_SEED,
            start: Self::default_start(),
            months: Self::DEFAULT_MONTHS,
            corrupt: 0.0,
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            model: Model::default(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    #[error("{0}")]
    Options(String),
    #[error("the model is not valid: {0}")]
    Model(String),
    #[error("cannot write {path}: {source}")]
    Write {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// What was written, file by file.
#[derive(Debug, Clone, Default, Serialize)]
pub struct GenerateSummary {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub out: String,
    pub org_units: u64,
    pub people: u64,
    pub memberships: u64,
    pub topics: u64,
    pub customers: u64,
    pub interactions: u64,
    pub survey_responses: u64,
    pub transactions: u64,
    pub customer_events: u64,
    /// Rows broken on purpose (`--corrupt`), listed in `corruptions.csv`.
    pub corrupted_rows: u64,
}

/// The files `generate` writes, with the `cxm ingest` kind of each, in loading order
/// (structure before the facts that refer to it).
pub const FILES: &[(&str, &str)] = &[
    ("org_units.csv", "org-units"),
    ("people.csv", "people"),
    ("memberships.csv", "memberships"),
    ("topics.csv", "topics"),
    ("customers.csv", "customers"),
    ("interactions.csv", "interactions"),
    ("survey_responses.csv", "surveys"),
    ("transactions.csv", "transactions"),
    ("customer_events.csv", "customer-events"),
];

/// Header lines of the customer files, in [`CUSTOMER_FILES`] order.
pub(crate) fn headers(attributes: &[String]) -> [String; 5] {
    let mut surveys =
        "response_id,survey,answered_at,customer_id,interaction_id,csat,nps,ces,comment".to_owned();
    for attribute in attributes {
        surveys.push_str(",rating_");
        surveys.push_str(attribute);
    }
    [
        "customer_id,segment,region,joined_at".to_owned(),
        "interaction_id,customer_id,agent_id,channel,started_at,queue_seconds,talk_seconds,\
         hold_seconds,after_work_seconds,handle_seconds,topics,resolved,transfers"
            .to_owned(),
        surveys,
        "transaction_id,customer_id,occurred_at,amount,kind".to_owned(),
        "customer_id,occurred_at,kind,reason".to_owned(),
    ]
}

struct Writer {
    path: PathBuf,
    inner: BufWriter<File>,
}

impl Writer {
    fn create(dir: &Path, name: &str) -> Result<Writer, GenerateError> {
        let path = dir.join(name);
        let file = File::create(&path).map_err(|source| GenerateError::Write {
            path: path.display().to_string(),
            source,
        })?;
        Ok(Writer {
            path,
            inner: BufWriter::with_capacity(1 << 20, file),
        })
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), GenerateError> {
        self.inner
            .write_all(bytes)
            .map_err(|source| GenerateError::Write {
                path: self.path.display().to_string(),
                source,
            })
    }

    fn finish(mut self) -> Result<(), GenerateError> {
        self.inner.flush().map_err(|source| GenerateError::Write {
            path: self.path.display().to_string(),
            source,
        })
    }
}

/// Writes the organisation described by `options` into `options.out`.
pub fn generate(options: &GenerateOptions) -> Result<GenerateSummary, GenerateError> {
    let world = World::new(options)?;
    if options.customers.is_none() && options.contacts > 0 && world.issues_per_customer() <= 0.0 {
        return Err(GenerateError::Options(
            "the model makes no contacts; ask for a number of customers instead".into(),
        ));
    }
    std::fs::create_dir_all(&options.out).map_err(|source| GenerateError::Write {
        path: options.out.display().to_string(),
        source,
    })?;
    let mut summary = GenerateSummary {
        out: options.out.display().to_string(),
        ..GenerateSummary::default()
    };
    write_structure(&world, &options.out, &mut summary)?;
    let attributes: Vec<String> = world
        .model
        .satisfaction
        .attributes
        .iter()
        .map(|a| a.name.clone())
        .collect();
    let mut sink = Sink {
        writers: Vec::new(),
        rows: [0; 5],
        corruptions: None,
        corrupted: 0,
        contacts: 0,
        customers: 0,
        latent: output::LatentMoments::default(),
    };
    for (file, header) in CUSTOMER_FILES.iter().zip(headers(&attributes)) {
        let mut writer = Writer::create(&options.out, file.file_name())?;
        writer.write(header.as_bytes())?;
        writer.write(b"\n")?;
        sink.writers.push(writer);
    }
    if options.corrupt > 0.0 {
        let mut writer = Writer::create(&options.out, "corruptions.csv")?;
        writer.write(b"file,line,field,value,reason\n")?;
        sink.corruptions = Some(writer);
    }
    run_chunks(&world, options, &mut sink)?;
    summary.customers = sink.rows[CustomerFile::Customers as usize];
    summary.interactions = sink.rows[CustomerFile::Interactions as usize];
    summary.survey_responses = sink.rows[CustomerFile::Surveys as usize];
    summary.transactions = sink.rows[CustomerFile::Transactions as usize];
    summary.customer_events = sink.rows[CustomerFile::CustomerEvents as usize];
    summary.corrupted_rows = sink.corrupted;
    let latent = sink.latent;
    for writer in sink.writers {
        writer.finish()?;
    }
    if let Some(writer) = sink.corruptions {
        writer.finish()?;
    }
    write_ground_truth(&world, options, &summary, &latent)?;
    Ok(summary)
}

/// Receives chunks in order and appends them to the files.
struct Sink {
    writers: Vec<Writer>,
    rows: [u64; 5],
    corruptions: Option<Writer>,
    corrupted: u64,
    contacts: u64,
    customers: u64,
    latent: output::LatentMoments,
}

impl Sink {
    fn append(&mut self, chunk: &ChunkOutput) -> Result<(), GenerateError> {
        if let Some(writer) = self.corruptions.as_mut() {
            let mut line = Vec::with_capacity(96);
            for c in &chunk.corruptions {
                line.clear();
                line.extend_from_slice(c.file.file_name().as_bytes());
                line.push(b',');
                // line 1 is the header
                output::push_int(&mut line, self.rows[c.file as usize] + c.row + 2);
                line.push(b',');
                line.extend_from_slice(c.breakage.field.as_bytes());
                line.push(b',');
                push_quoted(&mut line, c.breakage.value.as_bytes());
                line.push(b',');
                line.extend_from_slice(c.breakage.reason.as_bytes());
                line.push(b'\n');
                writer.write(&line)?;
            }
        }
        self.corrupted += chunk.corruptions.len() as u64;
        for (k, writer) in self.writers.iter_mut().enumerate() {
            writer.write(&chunk.buffers[k])?;
            self.rows[k] += chunk.rows[k];
        }
        self.contacts += chunk.contacts;
        self.customers += chunk.customers;
        self.latent.merge(&chunk.latent);
        Ok(())
    }
}

fn simulate_chunk(world: &World, first: u64, count: u64, budget: Option<u64>) -> ChunkOutput {
    let mut out = ChunkOutput::new();
    let mut left = budget;
    for index in first..first + count {
        if customer::simulate(world, index, &mut out, left.as_mut()) {
            break;
        }
    }
    out
}

/// Simulates chunks of customers on worker threads and appends them to `sink` in order,
/// until the requested contacts (or customers) are reached.
fn run_chunks(
    world: &World,
    options: &GenerateOptions,
    sink: &mut Sink,
) -> Result<(), GenerateError> {
    let wanted_contacts = options.contacts;
    let chunk_len = |k: u64| -> u64 {
        match options.customers {
            Some(total) => total
                .saturating_sub(k * CHUNK_CUSTOMERS)
                .min(CHUNK_CUSTOMERS),
            None => CHUNK_CUSTOMERS,
        }
    };
    let nothing_to_do = match options.customers {
        Some(total) => total == 0,
        None => wanted_contacts == 0,
    };
    if nothing_to_do {
        return Ok(());
    }
    let threads = options.threads.clamp(1, 64) as u64;
    let window = threads * WINDOW_PER_WORKER;
    let next = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    let written = Mutex::new(0u64);
    let advanced = Condvar::new();
    std::thread::scope(|scope| {
        let (tx, rx) = mpsc::sync_channel::<(u64, ChunkOutput)>(window as usize);
        for _ in 0..threads {
            let tx = tx.clone();
            let (next, stop, written, advanced) = (&next, &stop, &written, &advanced);
            scope.spawn(move || {
                loop {
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    {
                        let mut done = written.lock().unwrap_or_else(|e| e.into_inner());
                        while k >= *done + window && !stop.load(Ordering::Relaxed) {
                            done = advanced.wait(done).unwrap_or_else(|e| e.into_inner());
                        }
                    }
                    let count = chunk_len(k);
                    if stop.load(Ordering::Relaxed) || count == 0 {
                        break;
                    }
                    let chunk = simulate_chunk(world, k * CHUNK_CUSTOMERS, count, None);
                    if tx.send((k, chunk)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        let result = (|| {
            let mut pending = BTreeMap::new();
            let mut expected = 0u64;
            while let Ok((k, chunk)) = rx.recv() {
                pending.insert(k, chunk);
                while let Some(chunk) = pending.remove(&expected) {
                    let first = expected * CHUNK_CUSTOMERS;
                    if options.customers.is_none()
                        && sink.contacts + chunk.contacts >= wanted_contacts
                    {
                        let left = wanted_contacts - sink.contacts;
                        let last = if chunk.contacts == left {
                            chunk
                        } else {
                            simulate_chunk(world, first, chunk_len(expected), Some(left))
                        };
                        sink.append(&last)?;
                        return Ok(());
                    }
                    sink.append(&chunk)?;
                    expected += 1;
                    if expected >= 64 && sink.contacts == 0 && options.customers.is_none() {
                        return Err(GenerateError::Options(
                            "the model makes no contacts (is anyone at work?)".into(),
                        ));
                    }
                    *written.lock().unwrap_or_else(|e| e.into_inner()) = expected;
                    advanced.notify_all();
                    if chunk_len(expected) == 0 {
                        return Ok(());
                    }
                }
            }
            Ok(())
        })();
        stop.store(true, Ordering::Relaxed);
        {
            let _guard = written.lock().unwrap_or_else(|e| e.into_inner());
            advanced.notify_all();
        }
        drop(rx);
        result
    })
}

fn write_structure(
    world: &World,
    dir: &Path,
    summary: &mut GenerateSummary,
) -> Result<(), GenerateError> {
    let org = &world.org;
    let cal = &world.calendar;
    let mut buf = Vec::new();

    buf.extend_from_slice(b"unit_id,name,parent_id,level\n");
    for unit in &org.units {
        buf.extend_from_slice(unit.id.as_bytes());
        buf.push(b',');
        push_quoted(&mut buf, unit.name.as_bytes());
        buf.push(b',');
        if let Some(parent) = unit.parent {
            buf.extend_from_slice(org.units[parent].id.as_bytes());
        }
        buf.push(b',');
        buf.extend_from_slice(unit.level.as_str().as_bytes());
        buf.push(b'\n');
    }
    write_file(dir, "org_units.csv", &buf)?;
    summary.org_units = org.units.len() as u64;

    buf.clear();
    buf.extend_from_slice(b"person_id,name,email,role\n");
    for person in &org.people {
        for (k, field) in [
            person.id.as_str(),
            person.name.as_str(),
            person.email.as_str(),
            person.role.as_str(),
        ]
        .iter()
        .enumerate()
        {
            if k > 0 {
                buf.push(b',');
            }
            buf.extend_from_slice(field.as_bytes());
        }
        buf.push(b'\n');
    }
    write_file(dir, "people.csv", &buf)?;
    summary.people = org.people.len() as u64;

    buf.clear();
    buf.extend_from_slice(b"person_id,unit_id,valid_from,valid_to\n");
    for m in &org.memberships {
        buf.extend_from_slice(org.people[m.person].id.as_bytes());
        buf.push(b',');
        buf.extend_from_slice(org.units[m.unit].id.as_bytes());
        buf.push(b',');
        cal.push_timestamp(&mut buf, m.from);
        buf.push(b',');
        if let Some(to) = m.to {
            cal.push_timestamp(&mut buf, to);
        }
        buf.push(b'\n');
    }
    write_file(dir, "memberships.csv", &buf)?;
    summary.memberships = org.memberships.len() as u64;

    buf.clear();
    buf.extend_from_slice(b"code,name,category,kind,keywords\n");
    for topic in topics::TOPICS {
        buf.extend_from_slice(topic.code.as_bytes());
        buf.push(b',');
        push_quoted(&mut buf, topic.name.as_bytes());
        buf.push(b',');
        buf.extend_from_slice(topic.category.as_bytes());
        buf.push(b',');
        buf.extend_from_slice(topic.kind.as_str().as_bytes());
        buf.push(b',');
        push_quoted(&mut buf, topic.keywords.join(";").as_bytes());
        buf.push(b'\n');
    }
    write_file(dir, "topics.csv", &buf)?;
    summary.topics = topics::TOPICS.len() as u64;
    Ok(())
}

fn write_file(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), GenerateError> {
    let mut writer = Writer::create(dir, name)?;
    writer.write(bytes)?;
    writer.finish()
}

/// The true effects behind the data.
#[derive(Serialize)]
struct GroundTruth<'a> {
    generator: GeneratorInfo,
    /// Every parameter of the model (see the `model` module for their meaning).
    model: &'a Model,
    /// Total effect of each operational factor on latent satisfaction (direct plus through
    /// the attributes), per unit of the factor.
    satisfaction_total_effects: model::Effects,
    /// The true importance of each attribute rating for csat, largest first: what a key
    /// driver analysis of csat on the ratings should rank the same way.
    drivers: DriverTruth,
    arrivals: &'a ArrivalShape,
    topics: &'a [topics::TopicSpec],
    agents: &'a [AgentTruth],
    totals: &'a GenerateSummary,
}

/// The attribute ratings' true effects on satisfaction. Latent satisfaction is a weighted
/// sum of the attributes' latent values plus noise (the demo model has no direct effects),
/// so an attribute's standardised effect, weight × sd(attribute) ÷ sd(satisfaction) over
/// every contact, is its true importance; correlated attributes share explained variance
/// in a relative-weights analysis but keep this order when the effects are well apart.
#[derive(Serialize)]
struct DriverTruth {
    outcome: &'static str,
    /// Whether satisfaction has direct operational effects besides the attributes (then
    /// the ratings do not carry all of its explained variance).
    direct_effects: bool,
    ratings: Vec<RatingTruth>,
}

#[derive(Serialize)]
struct RatingTruth {
    /// The driver's name in the analysis: `rating:<attribute>`.
    name: String,
    weight: f64,
    sd: f64,
    standardized_effect: f64,
}

fn driver_truth(model: &Model, latent: &output::LatentMoments) -> DriverTruth {
    let sat = &model.satisfaction;
    let sd_satisfaction = latent.sd(MAX_ATTRIBUTES);
    let mut ratings: Vec<RatingTruth> = sat
        .attributes
        .iter()
        .zip(&sat.attribute_weights)
        .enumerate()
        .map(|(k, (attribute, weight))| {
            let sd = latent.sd(k);
            RatingTruth {
                name: format!("rating:{}", attribute.name),
                weight: *weight,
                sd,
                standardized_effect: if sd_satisfaction > 0.0 {
                    weight * sd / sd_satisfaction
                } else {
                    0.0
                },
            }
        })
        .collect();
    ratings.sort_by(|a, b| b.standardized_effect.total_cmp(&a.standardized_effect));
    DriverTruth {
        outcome: "csat",
        direct_effects: !sat.direct_effects.is_zero(),
        ratings,
    }
}

#[derive(Serialize)]
struct GeneratorInfo {
    version: &'static str,
    seed: u64,
    start: String,
    months: u32,
    /// First instant after the period.
    end: String,
    company: String,
    corrupt: f64,
}

fn write_ground_truth(
    world: &World,
    options: &GenerateOptions,
    summary: &GenerateSummary,
    latent: &output::LatentMoments,
) -> Result<(), GenerateError> {
    let mut end = Vec::new();
    calendar::push_timestamp_slow(&mut end, world.calendar.end);
    let truth = GroundTruth {
        generator: GeneratorInfo {
            version: env!("CARGO_PKG_VERSION"),
            seed: options.seed,
            start: options.start.to_string(),
            months: options.months,
            end: String::from_utf8_lossy(&end).into_owned(),
            company: world.org.company_name.clone(),
            corrupt: options.corrupt,
        },
        model: &world.model,
        satisfaction_total_effects: world.model.satisfaction.total_effects(),
        drivers: driver_truth(&world.model, latent),
        arrivals: &world.arrivals,
        topics: topics::TOPICS,
        agents: &world.org.truth,
        totals: &GenerateSummary {
            out: String::new(),
            ..summary.clone()
        },
    };
    let mut json = serde_json::to_vec_pretty(&truth).map_err(|e| GenerateError::Write {
        path: "ground_truth.json".into(),
        source: e.into(),
    })?;
    json.push(b'\n');
    write_file(&options.out, "ground_truth.json", &json)
}
