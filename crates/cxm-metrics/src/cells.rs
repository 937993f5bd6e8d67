//! Cells: a source's rows summed by local day, agent, unit and channel (and any extra
//! dimensions a query asks for), carrying each metric's additive components and, for
//! quantiles, the values themselves. Every answer the engine gives is computed from cells,
//! whether they come from the persisted rollup or from a scan of the derived tables.

use std::collections::HashMap;
use std::sync::Arc;

use cxm_domain::metrics::Source;
use cxm_facts::arrow::array::{Array, AsArray, RecordBatch};
use cxm_facts::arrow::compute::cast;
use cxm_facts::arrow::datatypes::{DataType, Date32Type, Float64Type};
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
    let mut index: HashMap<Vec<u32>, usize> = HashMap::new();
    for batch in &batches {
        let key_columns = key_columns(batch, keys.len(), dictionary)?;
        let day = batch.column(0).as_primitive::<Date32Type>();
        for row in 0..batch.num_rows() {
            let key: Vec<u32> = key_columns.iter().map(|c| c[row]).collect();
            index.insert(key.clone(), cells.len());
            cells
                .day
                .push(if day.is_valid(row) { day.value(row) } else { 0 });
            cells.agent.push(key[1]);
            cells.unit.push(key[2]);
            cells.channel.push(key[3]);
            for (column, value) in cells.extra.iter_mut().zip(&key[4..]) {
                column.push(*value);
            }
            for (i, column) in cells.components.iter_mut().enumerate() {
                let array = cast(batch.column(keys.len() + i), &DataType::Float64)?;
                let array = array.as_primitive::<Float64Type>();
                column.push(if array.is_valid(row) {
                    array.value(row)
                } else {
                    0.0
                });
            }
        }
    }
    for (m, measure) in plan.measures.iter().enumerate() {
        let sql = format!(
            "SELECT {key_list}, {measure} AS v FROM {from} WHERE ({condition}) AND ({measure}) IS NOT NULL"
        );
        let mut per_cell: Vec<Vec<f64>> = vec![Vec::new(); cells.len()];
        for batch in ctx.sql(&sql).await?.collect().await? {
            let key_columns = key_columns(&batch, keys.len(), dictionary)?;
            let day = batch.column(0).as_primitive::<Date32Type>();
            let value = cast(batch.column(keys.len()), &DataType::Float64)?;
            let value = value.as_primitive::<Float64Type>();
            for row in 0..batch.num_rows() {
                let mut key: Vec<u32> = key_columns.iter().map(|c| c[row]).collect();
                key[0] = if day.is_valid(row) {
                    day.value(row) as u32
                } else {
                    0
                };
                if let Some(&cell) = index.get(&key) {
                    per_cell[cell].push(value.value(row));
                }
            }
        }
        let values = &mut cells.values[m];
        values.offsets.push(0);
        for list in per_cell {
            values.data.extend(list);
            values.offsets.push(values.data.len() as u64);
        }
    }
    Ok(cells)
}

/// The key columns of a batch as dictionary ids; the day column (first) as its integer.
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
    for i in 1..count {
        let array: Arc<dyn Array> = cast(batch.column(i), &DataType::Utf8)?;
        let text = array.as_string::<i32>();
        columns.push(
            (0..batch.num_rows())
                .map(|r| dictionary.intern(text.is_valid(r).then(|| text.value(r))))
                .collect(),
        );
    }
    Ok(columns)
}
