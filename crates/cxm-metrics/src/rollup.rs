//! The persisted rollup: every source's cells at the base key (day × agent × unit ×
//! channel) for every metric of the catalogue, written after each change of the data as
//! Arrow IPC files under `DIR/metrics/`, one record batch per local month so that a
//! question about one month reads one batch.
//!
//! `rollup.json` names the configuration and the fact-table versions it was built from;
//! the engine rebuilds when either has changed.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::Datelike;
use cxm_domain::metrics::Source;
use cxm_facts::arrow::array::{
    ArrayRef, AsArray, Float64Array, Int32Array, RecordBatch, UInt32Array, UInt64Array,
};
use cxm_facts::arrow::datatypes::{
    DataType, Field, Float32Type, Float64Type, Int32Type, Schema, UInt32Type, UInt64Type,
};
use cxm_facts::arrow::ipc::reader::FileReader;
use cxm_facts::arrow::ipc::writer::FileWriter;
use serde::{Deserialize, Serialize};

use crate::MetricsError;
use crate::cells::{Cells, Dictionary, Values};
use crate::derive::date_of_day;
use crate::plan::SourcePlan;

pub const ROLLUP_DIR: &str = "metrics";
const HEADER_FILE: &str = "rollup.json";

/// What a rollup was built from and what it holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Header {
    /// The engine configuration's fingerprint.
    pub fingerprint: String,
    /// Versions of the fact tables (interactions, survey_responses, transactions,
    /// customer_events) and a digest of the reference tables.
    pub inputs: BTreeMap<String, String>,
    /// The latest contact start (microseconds, UTC).
    pub horizon: Option<i64>,
    /// The first and last local day with contacts, answers or transactions.
    pub span: Option<(i32, i32)>,
    /// The directory (under `DIR/metrics/`) holding the derived tables as Parquet.
    pub derived: String,
    pub built_at: String,
    pub dictionary: Vec<String>,
    pub sources: BTreeMap<String, SourceHeader>,
    /// Grouping (`agent`, `team`, …) → the answers computed ahead for it.
    #[serde(default)]
    pub answers: BTreeMap<String, crate::answers::AnswersHeader>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceHeader {
    /// The cells file, named after the build so readers of the previous header keep theirs.
    pub file: String,
    pub components: Vec<String>,
    pub measures: Vec<String>,
    pub cells: usize,
    /// Local month (`YYYY-MM`) → record batch index.
    pub months: BTreeMap<String, usize>,
}

/// An Arrow IPC file written beside its final name and renamed into place when finished,
/// so a reader sees the previous file or the whole new one.
pub(crate) struct IpcFile {
    writer: FileWriter<BufWriter<File>>,
    temporary: PathBuf,
    path: PathBuf,
}

impl IpcFile {
    pub(crate) fn create(path: &Path, schema: &Schema) -> Result<IpcFile, MetricsError> {
        let temporary = path.with_extension("arrow.tmp");
        let file = File::create(&temporary).map_err(|source| MetricsError::Io {
            path: temporary.display().to_string(),
            source,
        })?;
        Ok(IpcFile {
            writer: FileWriter::try_new(BufWriter::new(file), schema)?,
            temporary,
            path: path.to_owned(),
        })
    }

    pub(crate) fn write(&mut self, batch: &RecordBatch) -> Result<(), MetricsError> {
        Ok(self.writer.write(batch)?)
    }

    pub(crate) fn finish(mut self) -> Result<(), MetricsError> {
        self.writer.finish()?;
        drop(self.writer);
        std::fs::rename(&self.temporary, &self.path).map_err(|source| MetricsError::Io {
            path: self.path.display().to_string(),
            source,
        })
    }
}

pub fn rollup_dir(data_dir: &Path) -> PathBuf {
    data_dir.join(ROLLUP_DIR)
}

fn cells_file(source: Source, build: &str) -> String {
    format!("{}.{build}.cells.arrow", source.as_str())
}

fn month_of(day: i32) -> String {
    let date = date_of_day(day);
    format!("{:04}-{:02}", date.year(), date.month())
}

/// Writes one source's cells, one record batch per month, and returns its header.
pub fn write_cells(
    dir: &Path,
    build: &str,
    source: Source,
    plan: &SourcePlan,
    cells: &Cells,
) -> Result<SourceHeader, MetricsError> {
    // Cells ordered by day so each month is a contiguous run.
    let mut order: Vec<usize> = (0..cells.len()).collect();
    order.sort_by_key(|&i| {
        (
            cells.day[i],
            cells.unit[i],
            cells.agent[i],
            cells.channel[i],
        )
    });
    let mut fields = vec![
        Field::new("day", DataType::Int32, false),
        Field::new("agent", DataType::UInt32, false),
        Field::new("unit", DataType::UInt32, false),
        Field::new("channel", DataType::UInt32, false),
    ];
    fields.extend(
        (0..plan.components.len()).map(|i| Field::new(format!("c{i}"), DataType::Float64, false)),
    );
    // Values are stored as 32-bit floats when that is exact (whole seconds, scores).
    let compact: Vec<bool> = cells
        .values
        .iter()
        .map(|v| v.data.iter().all(|&x| f64::from(x as f32) == x))
        .collect();
    for (m, &compact) in compact.iter().enumerate() {
        fields.push(Field::new(format!("n{m}"), DataType::UInt64, false));
        fields.push(Field::new(
            format!("v{m}"),
            DataType::List(Arc::new(Field::new(
                "item",
                if compact {
                    DataType::Float32
                } else {
                    DataType::Float64
                },
                false,
            ))),
            false,
        ));
    }
    let schema = Arc::new(Schema::new(fields));
    let file_name = cells_file(source, build);
    let path = dir.join(&file_name);
    let mut writer = IpcFile::create(&path, &schema)?;
    let mut months = BTreeMap::new();
    let mut start = 0;
    while start < order.len() {
        let month = month_of(cells.day[order[start]]);
        let mut end = start + 1;
        while end < order.len() && month_of(cells.day[order[end]]) == month {
            end += 1;
        }
        let rows = &order[start..end];
        let mut columns: Vec<ArrayRef> = vec![
            Arc::new(Int32Array::from_iter_values(
                rows.iter().map(|&i| cells.day[i]),
            )),
            Arc::new(UInt32Array::from_iter_values(
                rows.iter().map(|&i| cells.agent[i]),
            )),
            Arc::new(UInt32Array::from_iter_values(
                rows.iter().map(|&i| cells.unit[i]),
            )),
            Arc::new(UInt32Array::from_iter_values(
                rows.iter().map(|&i| cells.channel[i]),
            )),
        ];
        for component in &cells.components {
            columns.push(Arc::new(Float64Array::from_iter_values(
                rows.iter().map(|&i| component[i]),
            )));
        }
        for (m, values) in cells.values.iter().enumerate() {
            columns.push(Arc::new(UInt64Array::from_iter_values(
                rows.iter()
                    .map(|&i| values.offsets[i + 1] - values.offsets[i]),
            )));
            columns.push(values_list(values, rows, compact[m]));
        }
        writer.write(&RecordBatch::try_new(schema.clone(), columns)?)?;
        months.insert(month, months.len());
        start = end;
    }
    writer.finish()?;
    Ok(SourceHeader {
        file: file_name,
        components: plan.components.clone(),
        measures: plan.measures.clone(),
        cells: cells.len(),
        months,
    })
}

fn values_list(values: &Values, rows: &[usize], compact: bool) -> ArrayRef {
    use cxm_facts::arrow::array::{Float32Builder, Float64Builder, ListBuilder};
    if compact {
        let mut builder = ListBuilder::new(Float32Builder::new()).with_field(Arc::new(Field::new(
            "item",
            DataType::Float32,
            false,
        )));
        for &i in rows {
            builder.values().append_slice(
                &values
                    .of_cell(i)
                    .iter()
                    .map(|&x| x as f32)
                    .collect::<Vec<_>>(),
            );
            builder.append(true);
        }
        Arc::new(builder.finish())
    } else {
        let mut builder = ListBuilder::new(Float64Builder::new()).with_field(Arc::new(Field::new(
            "item",
            DataType::Float64,
            false,
        )));
        for &i in rows {
            builder.values().append_slice(values.of_cell(i));
            builder.append(true);
        }
        Arc::new(builder.finish())
    }
}

/// Which of a source's components and measures a question needs.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Needs {
    pub components: Vec<bool>,
    pub measures: Vec<bool>,
}

impl Needs {
    /// Everything the source holds.
    pub fn all(header: &SourceHeader) -> Needs {
        Needs {
            components: vec![true; header.components.len()],
            measures: vec![true; header.measures.len()],
        }
    }
}

/// Reads a source's cells of the given months (all months when `months` is `None`), with
/// only the components and measures `needs` names: the others are left empty.
pub fn read_cells(
    dir: &Path,
    header: &SourceHeader,
    months: Option<&[String]>,
    needs: &Needs,
) -> Result<Cells, MetricsError> {
    let path = dir.join(&header.file);
    let file = File::open(&path).map_err(|source| MetricsError::Io {
        path: path.display().to_string(),
        source,
    })?;
    // The file's columns: day, agent, unit, channel, then c0…, then n0, v0, n1, v1, …
    let base = 4 + header.components.len();
    let mut projection: Vec<usize> = (0..4).collect();
    projection.extend(
        (0..header.components.len())
            .filter(|&i| needs.components[i])
            .map(|i| 4 + i),
    );
    for m in (0..header.measures.len()).filter(|&m| needs.measures[m]) {
        projection.extend([base + 2 * m, base + 2 * m + 1]);
    }
    // Position of a file column in the projected batch.
    let at = |column: usize| projection.iter().position(|&c| c == column);
    let mut reader = FileReader::try_new(BufReader::new(file), Some(projection.clone()))?;
    let batches: Vec<usize> = match months {
        None => (0..reader.num_batches()).collect(),
        Some(months) => months
            .iter()
            .filter_map(|m| header.months.get(m).copied())
            .collect(),
    };
    let measures = header.measures.len();
    let mut cells = Cells {
        components: vec![Vec::new(); header.components.len()],
        values: vec![
            Values {
                offsets: vec![0],
                data: Vec::new()
            };
            measures
        ],
        ..Cells::default()
    };
    let mut read = Vec::with_capacity(batches.len());
    for index in batches {
        reader.set_index(index)?;
        if let Some(batch) = reader.next().transpose()? {
            read.push(batch);
        }
    }
    // Sized once: growing vectors of tens of millions of values costs more than reading.
    let rows: usize = read.iter().map(RecordBatch::num_rows).sum();
    for column in [&mut cells.agent, &mut cells.unit, &mut cells.channel] {
        column.reserve_exact(rows);
    }
    cells.day.reserve_exact(rows);
    for (i, component) in cells.components.iter_mut().enumerate() {
        if needs.components[i] {
            component.reserve_exact(rows);
        }
    }
    for (m, values) in cells.values.iter_mut().enumerate() {
        let Some(list) = at(base + 2 * m + 1) else {
            continue;
        };
        let items: usize = read
            .iter()
            .map(|b| b.column(list).as_list::<i32>().values().len())
            .sum();
        values.data.reserve_exact(items);
        values.offsets.reserve_exact(rows);
    }
    for batch in read {
        cells
            .day
            .extend(batch.column(0).as_primitive::<Int32Type>().values().iter());
        cells
            .agent
            .extend(batch.column(1).as_primitive::<UInt32Type>().values().iter());
        cells
            .unit
            .extend(batch.column(2).as_primitive::<UInt32Type>().values().iter());
        cells
            .channel
            .extend(batch.column(3).as_primitive::<UInt32Type>().values().iter());
        for (i, component) in cells.components.iter_mut().enumerate() {
            let Some(column) = at(4 + i) else { continue };
            component.extend(
                batch
                    .column(column)
                    .as_primitive::<Float64Type>()
                    .values()
                    .iter(),
            );
        }
        for (m, values) in cells.values.iter_mut().enumerate() {
            let (Some(count_column), Some(list_column)) = (at(base + 2 * m), at(base + 2 * m + 1))
            else {
                continue;
            };
            let counts = batch.column(count_column).as_primitive::<UInt64Type>();
            let list = batch.column(list_column).as_list::<i32>();
            let items = list.values();
            match items.data_type() {
                DataType::Float32 => values.data.extend(
                    items
                        .as_primitive::<Float32Type>()
                        .values()
                        .iter()
                        .map(|&x| f64::from(x)),
                ),
                _ => values
                    .data
                    .extend(items.as_primitive::<Float64Type>().values().iter()),
            }
            let mut offset = *values.offsets.last().unwrap_or(&0);
            for &count in counts.values().iter() {
                offset += count;
                values.offsets.push(offset);
            }
        }
    }
    Ok(cells)
}

pub fn read_header(dir: &Path) -> Result<Option<Header>, MetricsError> {
    let path = dir.join(HEADER_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => Ok(serde_json::from_slice(&bytes).ok()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(MetricsError::Io {
            path: path.display().to_string(),
            source,
        }),
    }
}

pub fn remove_header(dir: &Path) -> Result<(), MetricsError> {
    let path = dir.join(HEADER_FILE);
    match std::fs::remove_file(&path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(MetricsError::Io {
            path: path.display().to_string(),
            source,
        }),
    }
}

/// Writes the header last (atomically), so a reader sees either the old rollup or the new.
pub fn write_header(dir: &Path, header: &Header) -> Result<(), MetricsError> {
    let path = dir.join(HEADER_FILE);
    let temporary = dir.join(format!("{HEADER_FILE}.tmp"));
    let io = |source| MetricsError::Io {
        path: path.display().to_string(),
        source,
    };
    let bytes =
        serde_json::to_vec_pretty(header).map_err(|e| MetricsError::Internal(e.to_string()))?;
    std::fs::write(&temporary, bytes).map_err(io)?;
    std::fs::rename(&temporary, &path).map_err(io)?;
    Ok(())
}

/// The build a rollup file belongs to: `derived-{build}`, `{source}.{build}.cells.arrow`
/// or `answers-{grouping}.{build}.arrow`.
fn build_of(name: &str) -> Option<&str> {
    if let Some(build) = name.strip_prefix("derived-") {
        return Some(build);
    }
    let stem = name
        .strip_suffix(".cells.arrow")
        .or_else(|| name.strip_prefix("answers-")?.strip_suffix(".arrow"))?;
    stem.rsplit_once('.').map(|(_, build)| build)
}

/// Deletes the files of earlier builds, except the newest one before `current`: a reader
/// that opened the previous header while this build was written still finds its files.
pub fn prune(dir: &Path, current: &str) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let entries: Vec<(String, PathBuf)> = entries
        .flatten()
        .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
        .collect();
    // Build names are hexadecimal nanosecond timestamps.
    let age = |build: &str| u128::from_str_radix(build, 16).unwrap_or(0);
    let previous = entries
        .iter()
        .filter_map(|(name, _)| build_of(name))
        .filter(|&build| build != current && age(build) < age(current))
        .max_by_key(|&build| age(build))
        .map(str::to_owned);
    for (name, path) in &entries {
        let Some(build) = build_of(name) else {
            continue;
        };
        if build == current || Some(build) == previous.as_deref() {
            continue;
        }
        let _ = if path.is_dir() {
            std::fs::remove_dir_all(path)
        } else {
            std::fs::remove_file(path)
        };
    }
}

impl Header {
    pub fn dictionary(&self) -> Dictionary {
        Dictionary::from_names(self.dictionary.clone())
    }
}
