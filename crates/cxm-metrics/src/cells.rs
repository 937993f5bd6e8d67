//! Cells: a source's rows summed by local day, agent, unit and channel (and any extra
//! dimensions a query asks for), carrying each metric's additive components and, for
//! quantiles, the values themselves. Every answer the engine gives is computed from cells,
//! whether they come from the persisted rollup or from a scan of the derived tables.

use std::collections::HashMap;
use std::sync::Arc;

use cxm_domain::metrics::Source;
use cxm_facts::arrow::array::{Array, AsArray, RecordBatch};
use cxm_facts::arrow::compute::cast;
use cxm_facts::arrow::datatypes::{DataType, Date32Type, Float64Type, UInt32Type};
use cxm_facts::datafusion::prelude::SessionContext;

use crate::MetricsError;
use crate::plan::SourcePlan;

/// Marks a missing key value (no unit, no channel, no segment).
pub const NONE: u32 = u32::MAX;

/// Strings of cell keys as small integers.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Dictionary {
    ids: HashMap<String, u32>,
    names: Vec<String>,
}

impl Dictionary {
    pub fn from_names(names: Vec<String>) -> Dictionary {
        let ids = names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.clone(), i as u32))
            .collect();
        Dictionary { ids, names }
    }

    pub fn intern(&mut self, name: Option<&str>) -> u32 {
        let Some(name) = name else { return NONE };
        if let Some(&id) = self.ids.get(name) {
            return id;
        }
        let id = self.names.len() as u32;
        self.ids.insert(name.to_owned(), id);
        self.names.push(name.to_owned());
        id
    }

    pub fn id(&self, name: &str) -> Option<u32> {
        self.ids.get(name).copied()
    }

    pub fn name(&self, id: u32) -> Option<&str> {
        self.names.get(id as usize).map(String::as_str)
    }

    pub fn names(&self) -> &[String] {
        &self.names
    }
}

/// A source's cells as columns.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Cells {
    pub day: Vec<i32>,
    pub agent: Vec<u32>,
    pub unit: Vec<u32>,
    pub channel: Vec<u32>,
    /// One column per extra dimension of the query.
    pub extra: Vec<Vec<u32>>,
    /// One column per component of the source plan.
    pub components: Vec<Vec<f64>>,
    /// Per measure: the values of each cell, cell after cell (`offsets` has one more entry
    /// than there are cells).
    pub values: Vec<Values>,
}

/// The values of one quantile measure, grouped by cell.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Values {
    pub offsets: Vec<u64>,
    pub data: Vec<f64>,
}

impl Values {
    pub fn of_cell(&self, cell: usize) -> &[f64] {
        &self.data[self.offsets[cell] as usize..self.offsets[cell + 1] as usize]
    }
}

impl Cells {
    pub fn len(&self) -> usize {
        self.day.len()
    }

    pub fn is_empty(&self) -> bool {
        self.day.is_empty()
    }
}

/// The SQL of a dimension column of a source, and the FROM clause that provides it.
fn dimension_sql(dimension: &str) -> &str {
    match dimension {
        "topic" => "topic",
        "category" => "category",
        other => other,
    }
}

fn from_clause(source: Source, extra: &[String]) -> String {
    let table = source.as_str();
    // A row without topics stays, as one row with no topic (grouped as `(none)`).
    let unnest = |list: &str, name: &str| {
        format!(
            "(SELECT *, unnest(CASE WHEN cardinality({list}) > 0 THEN {list} \
             ELSE make_array(CAST(NULL AS VARCHAR)) END) AS {name} FROM {table})"
        )
    };
    if extra.iter().any(|d| d == "topic") {
        unnest("topics", "topic")
    } else if extra.iter().any(|d| d == "category") {
        unnest("categories", "category")
    } else {
        table.to_owned()
    }
}

/// Computes a source's cells with DataFusion over its derived table registered in `ctx`,
/// grouped by the base key plus `extra` dimensions (topic, category, segment, region), over
/// rows matching `condition` (SQL, or `TRUE`).
pub async fn scan(
    ctx: &SessionContext,
    source: Source,
    plan: &SourcePlan,
    extra: &[String],
    condition: &str,
    dictionary: &mut Dictionary,
) -> Result<Cells, MetricsError> {
    let keys: Vec<String> = ["day", "agent_id", "team_id", "channel"]
        .iter()
        .map(|k| (*k).to_owned())
        .chain(extra.iter().map(|d| dimension_sql(d).to_owned()))
        .collect();
    let from = from_clause(source, extra);
    let aggregates = if plan.components.is_empty() {
        String::new()
    } else {
        format!(
            ", {}",
            plan.components
                .iter()
                .enumerate()
                .map(|(i, c)| format!("{c} AS c{i}"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let key_list = keys.join(", ");
    let sql =
        format!("SELECT {key_list}{aggregates} FROM {from} WHERE {condition} GROUP BY {key_list}");
    let batches = ctx.sql(&sql).await?.collect().await?;
    let mut cells = Cells {
        extra: vec![Vec::new(); extra.len()],
        components: vec![Vec::new(); plan.components.len()],
        values: vec![Values::default(); plan.measures.len()],
        ..Cells::default()
    };
    let mut index: HashMap<CellKey, usize> = HashMap::new();
    for batch in &batches {
        let key_columns = key_columns(batch, keys.len(), dictionary)?;
        let day = batch.column(0).as_primitive::<Date32Type>();
        let components = (0..plan.components.len())
            .map(|i| cast(batch.column(keys.len() + i), &DataType::Float64))
            .collect::<Result<Vec<_>, _>>()?;
        for row in 0..batch.num_rows() {
            index.insert(cell_key(&key_columns, row), cells.len());
            cells
                .day
                .push(if day.is_valid(row) { day.value(row) } else { 0 });
            cells.agent.push(key_columns[1][row]);
            cells.unit.push(key_columns[2][row]);
            cells.channel.push(key_columns[3][row]);
            for (column, keys) in cells.extra.iter_mut().zip(&key_columns[4..]) {
                column.push(keys[row]);
            }
            for (column, array) in cells.components.iter_mut().zip(&components) {
                let array = array.as_primitive::<Float64Type>();
                column.push(if array.is_valid(row) {
                    array.value(row)
                } else {
                    0.0
                });
            }
        }
    }
    if plan.measures.is_empty() {
        return Ok(cells);
    }
    // Every measure's values in one pass over the rows, each row to its cell.
    let values = plan
        .measures
        .iter()
        .enumerate()
        .map(|(m, measure)| format!("{measure} AS v{m}"))
        .collect::<Vec<_>>()
        .join(", ");
    let any_value = plan
        .measures
        .iter()
        .map(|measure| format!("({measure}) IS NOT NULL"))
        .collect::<Vec<_>>()
        .join(" OR ");
    let sql =
        format!("SELECT {key_list}, {values} FROM {from} WHERE ({condition}) AND ({any_value})");
    let mut per_cell: Vec<Vec<Vec<f64>>> = vec![vec![Vec::new(); cells.len()]; plan.measures.len()];
    for batch in ctx.sql(&sql).await?.collect().await? {
        let key_columns = key_columns(&batch, keys.len(), dictionary)?;
        let measures = (0..plan.measures.len())
            .map(|m| cast(batch.column(keys.len() + m), &DataType::Float64))
            .collect::<Result<Vec<_>, _>>()?;
        for row in 0..batch.num_rows() {
            let Some(&cell) = index.get(&cell_key(&key_columns, row)) else {
                continue;
            };
            for (lists, array) in per_cell.iter_mut().zip(&measures) {
                let array = array.as_primitive::<Float64Type>();
                if array.is_valid(row) {
                    lists[cell].push(array.value(row));
                }
            }
        }
    }
    for (values, lists) in cells.values.iter_mut().zip(per_cell) {
        values.offsets.reserve(lists.len() + 1);
        values.offsets.push(0);
        for list in lists {
            values.data.extend(list);
            values.offsets.push(values.data.len() as u64);
        }
    }
    Ok(cells)
}

/// A cell's key: day, agent, unit, channel and up to four extra dimensions.
type CellKey = [u32; 8];

fn cell_key(columns: &[Vec<u32>], row: usize) -> CellKey {
    let mut key = [NONE; 8];
    for (slot, column) in key.iter_mut().zip(columns) {
        *slot = column[row];
    }
    key
}

/// The key columns of a batch as dictionary ids; the day column (first) as its integer.
/// Text columns are dictionary-encoded first, so each distinct name is interned once.
fn key_columns(
    batch: &RecordBatch,
    count: usize,
    dictionary: &mut Dictionary,
) -> Result<Vec<Vec<u32>>, MetricsError> {
    let mut columns = Vec::with_capacity(count);
    let day = batch.column(0).as_primitive::<Date32Type>();
    columns.push(
        (0..batch.num_rows())
            .map(|r| {
                if day.is_valid(r) {
                    day.value(r) as u32
                } else {
                    0
                }
            })
            .collect(),
    );
    let encoded = DataType::Dictionary(Box::new(DataType::UInt32), Box::new(DataType::Utf8));
    for i in 1..count {
        let column = batch.column(i);
        let array: Arc<dyn Array> = if column.data_type() == &DataType::Utf8 {
            cast(column, &encoded)?
        } else {
            cast(&cast(column, &DataType::Utf8)?, &encoded)?
        };
        let array = array.as_dictionary::<UInt32Type>();
        let names = array.values().as_string::<i32>();
        let ids: Vec<u32> = (0..names.len())
            .map(|v| dictionary.intern(names.is_valid(v).then(|| names.value(v))))
            .collect();
        columns.push(
            (0..batch.num_rows())
                .map(|r| {
                    if array.is_valid(r) {
                        ids[array.keys().value(r) as usize]
                    } else {
                        NONE
                    }
                })
                .collect(),
        );
    }
    Ok(columns)
}
