//! The records behind any number: the contacts and survey answers a metric counted, with
//! the same filters (period, unit subtree, person, channel, topic, segment, region), a
//! visibility restriction from the caller's scope, sorting and paging.

use std::collections::BTreeSet;

use chrono::NaiveDate;
use cxm_facts::arrow::array::RecordBatch;
use cxm_facts::arrow::json::ArrayWriter;
use cxm_facts::datafusion::execution::SendableRecordBatchStream;
use cxm_facts::datafusion::prelude::{ParquetReadOptions, SessionContext};
use serde::Serialize;

use crate::query::Filters;
use crate::rollup::rollup_dir;
use crate::{Engine, MetricsError};

/// Which records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordSet {
    /// Interactions, newest first.
    Contacts,
    /// Survey answers (with comments), newest first or lowest rated first.
    Answers,
}

/// Whose records a caller may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Visible {
    All,
    /// Records attributed (at the time) to one of these units.
    Units(Vec<String>),
    /// Records handled by this agent.
    Agent(String),
}

/// How to order records.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordOrder {
    #[default]
    Newest,
    /// Answers with the lowest CSAT, then NPS, then CES first (for coaching); contacts
    /// with the longest handle time first.
    Worst,
}

impl RecordOrder {
    pub const ALL: [RecordOrder; 2] = [RecordOrder::Newest, RecordOrder::Worst];

    pub fn as_str(self) -> &'static str {
        match self {
            RecordOrder::Newest => "newest",
            RecordOrder::Worst => "worst",
        }
    }

    pub fn parse(text: &str) -> Result<RecordOrder, String> {
        RecordOrder::ALL
            .into_iter()
            .find(|order| order.as_str() == text.trim())
            .ok_or_else(|| format!("order {text:?}: expected newest or worst"))
    }
}

/// A page of records.
#[derive(Debug, Clone, Serialize)]
pub struct RecordPage {
    pub set: RecordSet,
    /// Records matching the filters, on every page.
    pub total: u64,
    pub offset: u64,
    pub limit: u64,
    /// The columns of every row, in display order.
    pub columns: Vec<String>,
    /// Column name → value.
    pub rows: Vec<serde_json::Map<String, serde_json::Value>>,
}

/// Most records on one page.
pub const MAX_PAGE: u64 = 1_000;

const CONTACT_COLUMNS: &[&str] = &[
    "interaction_id",
    "started_at",
    "customer_id",
    "agent_id",
    "team_id",
    "channel",
    "topics",
    "queue_seconds",
    "talk_seconds",
    "hold_seconds",
    "after_work_seconds",
    "handle_seconds",
    "transfers",
    "resolved",
    "is_repeat",
    "followed_by_repeat",
    "complaint",
    "segment",
    "region",
];

const ANSWER_COLUMNS: &[&str] = &[
    "response_id",
    "answered_at",
    "survey",
    "customer_id",
    "interaction_id",
    "agent_id",
    "team_id",
    "channel",
    "topics",
    "csat",
    "nps",
    "ces",
    "comment",
    "segment",
    "region",
];

/// The columns of a record set, in display (and export) order.
pub fn columns(set: RecordSet) -> &'static [&'static str] {
    match set {
        RecordSet::Contacts => CONTACT_COLUMNS,
        RecordSet::Answers => ANSWER_COLUMNS,
    }
}

fn quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

fn list(values: &[String]) -> String {
    values
        .iter()
        .map(|v| quote(v))
        .collect::<Vec<_>>()
        .join(", ")
}

fn date(day: NaiveDate) -> String {
    format!("CAST({} AS DATE)", quote(&day.to_string()))
}

/// A query over one record set, ready to count, page, stream or summarise.
pub(crate) struct Selection {
    pub(crate) ctx: SessionContext,
    pub(crate) table: &'static str,
    columns: &'static [&'static str],
    /// The SQL condition of the filters and the visibility.
    pub(crate) condition: String,
    order: &'static str,
}

impl Selection {
    fn sql(&self) -> String {
        format!(
            "SELECT {} FROM {} WHERE {} ORDER BY {}",
            self.columns.join(", "),
            self.table,
            self.condition,
            self.order
        )
    }
}

impl Engine {
    /// The SQL condition on a derived table's rows that `filters` ask for: the period by
    /// local `day`, a unit's subtree by `team_id`, a person by `agent_id`, channels,
    /// segments, regions and topics. An unknown unit is an error.
    pub fn condition(&self, filters: &Filters) -> Result<String, MetricsError> {
        let org = self.organisation();
        let mut conditions = vec!["TRUE".to_owned()];
        if let Some(from) = filters.from {
            conditions.push(format!("day >= {}", date(from)));
        }
        if let Some(to) = filters.to {
            conditions.push(format!("day <= {}", date(to)));
        }
        if let Some(unit) = &filters.unit {
            if org.unit(unit).is_none() {
                return Err(MetricsError::UnknownUnit(unit.clone()));
            }
            let units: Vec<String> = org.subtree(unit).map(|u| u.id.clone()).collect();
            conditions.push(format!("team_id IN ({})", list(&units)));
        }
        if let Some(person) = &filters.person {
            conditions.push(format!("agent_id = {}", quote(person)));
        }
        for (column, values) in [
            ("channel", &filters.channels),
            ("segment", &filters.segments),
            ("region", &filters.regions),
        ] {
            if !values.is_empty() {
                conditions.push(format!("{column} IN ({})", list(values)));
            }
        }
        if !filters.topics.is_empty() {
            let any = filters
                .topics
                .iter()
                .map(|t| format!("array_has(topics, {})", quote(t)))
                .collect::<Vec<_>>()
                .join(" OR ");
            conditions.push(format!("({any})"));
        }
        Ok(conditions.join(" AND "))
    }

    /// A DataFusion session over this build's derived tables, registered under their
    /// source names (`contacts`, `surveys`, `transactions`, `customers`), for analyses
    /// beyond the metric catalogue.
    pub async fn derived_session(&self) -> Result<SessionContext, MetricsError> {
        let ctx = SessionContext::new();
        let derived = rollup_dir(&self.data_dir).join(&self.header.derived);
        for source in cxm_domain::metrics::Source::ALL {
            let path = derived.join(source.as_str());
            ctx.register_parquet(
                source.as_str(),
                &format!("{}/", path.display()),
                ParquetReadOptions::default(),
            )
            .await?;
        }
        Ok(ctx)
    }

    pub(crate) async fn select(
        &self,
        set: RecordSet,
        filters: &Filters,
        visible: &Visible,
        order: RecordOrder,
    ) -> Result<Selection, MetricsError> {
        let (table, columns, newest, worst) = match set {
            RecordSet::Contacts => (
                "contacts",
                CONTACT_COLUMNS,
                "started_at DESC, interaction_id",
                "handle_seconds DESC NULLS LAST, started_at DESC, interaction_id",
            ),
            RecordSet::Answers => (
                "surveys",
                ANSWER_COLUMNS,
                "answered_at DESC, response_id",
                "csat ASC NULLS LAST, nps ASC NULLS LAST, ces DESC NULLS LAST, answered_at DESC, response_id",
            ),
        };
        let mut conditions = vec![self.condition(filters)?];
        match visible {
            Visible::All => {}
            Visible::Units(units) if units.is_empty() => conditions.push("FALSE".into()),
            Visible::Units(units) => {
                let units: BTreeSet<&String> = units.iter().collect();
                let units: Vec<String> = units.into_iter().cloned().collect();
                conditions.push(format!("team_id IN ({})", list(&units)));
            }
            Visible::Agent(agent) => conditions.push(format!("agent_id = {}", quote(agent))),
        }
        let ctx = SessionContext::new();
        let path = rollup_dir(&self.data_dir)
            .join(&self.header.derived)
            .join(table);
        ctx.register_parquet(
            table,
            &format!("{}/", path.display()),
            ParquetReadOptions::default(),
        )
        .await?;
        Ok(Selection {
            ctx,
            table,
            columns,
            condition: conditions.join(" AND "),
            order: match order {
                RecordOrder::Newest => newest,
                RecordOrder::Worst => worst,
            },
        })
    }

    /// One page of the records matching `filters` that `visible` admits.
    pub async fn records(
        &self,
        set: RecordSet,
        filters: &Filters,
        visible: &Visible,
        order: RecordOrder,
        offset: u64,
        limit: u64,
    ) -> Result<RecordPage, MetricsError> {
        let limit = limit.clamp(1, MAX_PAGE);
        // Counting and ordering scan every matching record: once per engine and page.
        let key = format!("{set:?} {filters:?} {visible:?} {order:?} {offset} {limit}");
        self.record_pages
            .get_or_compute(key, || {
                self.compute_records(set, filters, visible, order, offset, limit)
            })
            .await
    }

    async fn compute_records(
        &self,
        set: RecordSet,
        filters: &Filters,
        visible: &Visible,
        order: RecordOrder,
        offset: u64,
        limit: u64,
    ) -> Result<RecordPage, MetricsError> {
        let selection = self.select(set, filters, visible, order).await?;
        let total_sql = format!(
            "SELECT count(*) AS n FROM {} WHERE {}",
            selection.table, selection.condition
        );
        let counted = selection.ctx.sql(&total_sql).await?.collect().await?;
        let total = counted
            .first()
            .and_then(|batch| {
                batch
                    .column(0)
                    .as_any()
                    .downcast_ref::<cxm_facts::arrow::array::Int64Array>()
                    .map(|a| a.value(0))
            })
            .unwrap_or(0)
            .max(0) as u64;
        let sql = format!("{} LIMIT {limit} OFFSET {offset}", selection.sql());
        let batches = selection.ctx.sql(&sql).await?.collect().await?;
        Ok(RecordPage {
            set,
            total,
            offset,
            limit,
            columns: selection.columns.iter().map(|c| (*c).to_owned()).collect(),
            rows: json_rows(&batches)?,
        })
    }

    /// Every record matching `filters` that `visible` admits, in order, as a stream of
    /// batches (for exports: memory stays bounded whatever the number of records).
    pub async fn record_stream(
        &self,
        set: RecordSet,
        filters: &Filters,
        visible: &Visible,
        order: RecordOrder,
    ) -> Result<SendableRecordBatchStream, MetricsError> {
        let selection = self.select(set, filters, visible, order).await?;
        let frame = selection.ctx.sql(&selection.sql()).await?;
        Ok(frame.execute_stream().await?)
    }
}

/// The header row of a record set's CSV export.
pub fn csv_header(set: RecordSet) -> Result<Vec<u8>, MetricsError> {
    let failed = |e: csv::Error| MetricsError::Internal(format!("CSV export: {e}"));
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(columns(set)).map_err(failed)?;
    writer
        .into_inner()
        .map_err(|e| MetricsError::Internal(format!("CSV export: {e}")))
}

/// A batch of records as CSV rows (RFC 4180): lists joined with `|`, empty fields for
/// missing values.
pub fn csv_rows(batch: &RecordBatch) -> Result<Vec<u8>, MetricsError> {
    use cxm_facts::arrow::array::{Array, AsArray};
    use cxm_facts::arrow::datatypes::DataType;
    use cxm_facts::arrow::util::display::{ArrayFormatter, FormatOptions};
    let failed = |e: csv::Error| MetricsError::Internal(format!("CSV export: {e}"));
    let mut writer = csv::Writer::from_writer(Vec::new());
    let options = FormatOptions::default().with_null("");
    let columns = batch.columns();
    let formatters = columns
        .iter()
        .map(|column| match column.data_type() {
            DataType::List(_) | DataType::LargeList(_) => Ok(None),
            _ => ArrayFormatter::try_new(column.as_ref(), &options).map(Some),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut fields: Vec<String> = vec![String::new(); columns.len()];
    for row in 0..batch.num_rows() {
        for (index, column) in columns.iter().enumerate() {
            let field = &mut fields[index];
            field.clear();
            match &formatters[index] {
                Some(formatter) => {
                    use std::fmt::Write;
                    let _ = write!(field, "{}", formatter.value(row));
                }
                None if column.is_valid(row) => {
                    let items = match column.data_type() {
                        DataType::LargeList(_) => column.as_list::<i64>().value(row),
                        _ => column.as_list::<i32>().value(row),
                    };
                    let item = ArrayFormatter::try_new(items.as_ref(), &options)?;
                    for i in 0..items.len() {
                        if i > 0 {
                            field.push('|');
                        }
                        use std::fmt::Write;
                        let _ = write!(field, "{}", item.value(i));
                    }
                }
                None => {}
            }
        }
        writer.write_record(&fields).map_err(failed)?;
    }
    writer
        .into_inner()
        .map_err(|e| MetricsError::Internal(format!("CSV export: {e}")))
}

/// Rows of batches as JSON objects (nulls kept as `null`).
fn json_rows(
    batches: &[RecordBatch],
) -> Result<Vec<serde_json::Map<String, serde_json::Value>>, MetricsError> {
    let mut writer = ArrayWriter::new(Vec::new());
    let batches: Vec<&RecordBatch> = batches.iter().collect();
    writer.write_batches(&batches)?;
    writer.finish()?;
    let bytes = writer.into_inner();
    if bytes.is_empty() {
        return Ok(Vec::new());
    }
    let mut rows: Vec<serde_json::Map<String, serde_json::Value>> = serde_json::from_slice(&bytes)
        .map_err(|e| MetricsError::Internal(format!("records as JSON: {e}")))?;
    // The writer leaves out nulls: put them back so every row has every column.
    if let Some(schema) = batches.first().map(|b| b.schema()) {
        for row in &mut rows {
            for field in schema.fields() {
                row.entry(field.name().clone())
                    .or_insert(serde_json::Value::Null);
            }
        }
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use cxm_facts::arrow::array::{Int64Array, ListBuilder, StringArray, StringBuilder};

    use super::*;

    #[test]
    fn csv_quotes_text_joins_lists_and_leaves_missing_values_empty() {
        let mut topics = ListBuilder::new(StringBuilder::new());
        topics.values().append_value("billing");
        topics.values().append_value("refund");
        topics.append(true);
        topics.append(false);
        let batch = RecordBatch::try_from_iter([
            ("id", Arc::new(StringArray::from(vec!["R1", "R2"])) as _),
            ("csat", Arc::new(Int64Array::from(vec![Some(2), None])) as _),
            (
                "comment",
                Arc::new(StringArray::from(vec![
                    Some("slow, \"very\" slow\nagain"),
                    None,
                ])) as _,
            ),
            ("topics", Arc::new(topics.finish()) as _),
        ])
        .unwrap();
        let text = String::from_utf8(csv_rows(&batch).unwrap()).unwrap();
        assert_eq!(
            text,
            "R1,2,\"slow, \"\"very\"\" slow\nagain\",billing|refund\nR2,,,\n"
        );
        let header = String::from_utf8(csv_header(RecordSet::Answers).unwrap()).unwrap();
        assert!(
            header.starts_with("response_id,answered_at,survey,"),
            "{header}"
        );
        assert!(header.ends_with(",segment,region\n"), "{header}");
    }
}
