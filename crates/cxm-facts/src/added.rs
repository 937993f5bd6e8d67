//! Rows an ingest adds, kept in memory as they are written.
//!
//! Alert rules evaluated right after an ingest look at recent records. In a file in random
//! time order every page of every column holds some recent records, so reading them back
//! decompresses the whole table again; keeping the recent ones as the writers see them
//! costs a comparison per row. When every batch of the ingest was appended (no id
//! replaced, none repeated), the table's recent rows are those of the version before the
//! ingest plus the rows kept ([`AddedRows`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use deltalake::arrow::array::{Array, RecordBatch, Scalar, TimestampMicrosecondArray};
use deltalake::arrow::compute::kernels::cmp::gt_eq;
use deltalake::arrow::compute::{filter_record_batch, max};

use crate::{FactError, FactTable};

/// Which rows of an ingest to keep: those whose time is at least `from_micros`, with
/// `columns` only, while they number at most `max_rows`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeepRows {
    pub from_micros: i64,
    pub columns: Vec<String>,
    pub max_rows: usize,
}

/// The rows an ingest added to `table`, from a time on. The table at `version` holds
/// exactly the rows it held at `base_version` and these (every batch was appended).
#[derive(Debug, Clone)]
pub struct AddedRows {
    pub table: FactTable,
    /// the table's version before the ingest
    pub base_version: u64,
    /// the table's version after it
    pub version: u64,
    /// every added row whose time is at least this is in `batches`
    pub from_micros: i64,
    /// the kept columns, as written
    pub batches: Vec<RecordBatch>,
}

impl AddedRows {
    pub fn rows(&self) -> usize {
        self.batches.iter().map(RecordBatch::num_rows).sum()
    }
}

/// Picks the rows to keep from the batches the writers write, on any number of threads.
#[derive(Debug)]
pub struct RowKeeper {
    time: usize,
    projection: Vec<usize>,
    from_micros: i64,
    max_rows: usize,
    kept: AtomicUsize,
    /// more rows than `max_rows` were offered: what is kept is incomplete
    overflowed: AtomicBool,
}

impl RowKeeper {
    /// A keeper of `keep`'s rows of `table`; an error names a column the table lacks.
    pub fn new(table: FactTable, keep: &KeepRows) -> Result<Arc<Self>, FactError> {
        let schema = table.schema();
        let projection = keep
            .columns
            .iter()
            .map(|name| schema.index_of(name))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Arc::new(Self {
            time: schema.index_of(table.time_column())?,
            projection,
            from_micros: keep.from_micros,
            max_rows: keep.max_rows,
            kept: AtomicUsize::new(0),
            overflowed: AtomicBool::new(false),
        }))
    }

    pub fn from_micros(&self) -> i64 {
        self.from_micros
    }

    /// Whether more rows were offered than may be kept.
    pub fn overflowed(&self) -> bool {
        self.overflowed.load(Ordering::Relaxed)
    }

    /// The rows of `batch` (in the table's layout) to keep, with the kept columns only;
    /// `None` when none is, or once more than the most rows to keep were offered.
    pub fn keep(&self, batch: &RecordBatch) -> Result<Option<RecordBatch>, FactError> {
        if self.overflowed() {
            return Ok(None);
        }
        let times = batch
            .column(self.time)
            .as_any()
            .downcast_ref::<TimestampMicrosecondArray>()
            .ok_or_else(|| FactError::Invalid("the time column is not in microseconds".into()))?;
        if max(times).is_none_or(|latest| latest < self.from_micros) {
            return Ok(None);
        }
        let from = TimestampMicrosecondArray::from(vec![self.from_micros])
            .with_timezone_opt(times.timezone().map(str::to_owned));
        let keep = gt_eq(times, &Scalar::new(from))?;
        let count = keep.true_count();
        if count == 0 {
            return Ok(None);
        }
        if self.kept.fetch_add(count, Ordering::Relaxed) + count > self.max_rows {
            self.overflowed.store(true, Ordering::Relaxed);
            return Ok(None);
        }
        let projected = batch.project(&self.projection)?;
        let kept = if count == batch.num_rows() {
            projected
        } else {
            filter_record_batch(&projected, &keep)?
        };
        Ok(Some(kept))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FactBatchBuilder;
    use cxm_domain::{Interaction, ParseContext};
    use deltalake::arrow::array::{AsArray, StringArray};

    fn contacts(starts: &[&str]) -> RecordBatch {
        let kind = cxm_domain::RecordKind::Interactions;
        let mut builder = FactBatchBuilder::<Interaction>::default();
        for (n, start) in starts.iter().enumerate() {
            let id = format!("I{n}");
            let mut values = vec![None; kind.fields().len()];
            for (name, value) in [
                ("interaction_id", id.as_str()),
                ("customer_id", "C1"),
                ("agent_id", "A1"),
                ("channel", "phone"),
                ("started_at", start),
                ("topics", "billing.a;tech.b"),
            ] {
                values[kind.field_index(name).unwrap()] = Some(value);
            }
            builder
                .push_common(&values, &ParseContext::default())
                .expect("a valid contact");
        }
        builder.finish().unwrap()
    }

    fn ids(batch: &RecordBatch) -> Vec<String> {
        let ids = batch
            .column(0)
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap();
        ids.iter().map(|id| id.unwrap().to_owned()).collect()
    }

    fn keeper(from: &str, max_rows: usize) -> Arc<RowKeeper> {
        let from = chrono::DateTime::parse_from_rfc3339(from).unwrap();
        RowKeeper::new(
            FactTable::Interactions,
            &KeepRows {
                from_micros: from.timestamp_micros(),
                columns: vec!["interaction_id".into(), "topics".into()],
                max_rows,
            },
        )
        .unwrap()
    }

    #[test]
    fn keeps_the_rows_from_the_time_on_with_the_columns_asked_for() {
        let batch = contacts(&[
            "2026-01-02T00:00:00Z",
            "2026-01-01T00:00:00Z",
            "2025-12-31T23:59:59Z",
            "2026-03-01T10:00:00Z",
        ]);
        let keeper = keeper("2026-01-01T00:00:00Z", 10);
        let kept = keeper.keep(&batch).unwrap().unwrap();
        assert_eq!(ids(&kept), ["I0", "I1", "I3"]);
        assert_eq!(kept.schema().field(1).name(), "topics");
        let topics = kept.column(1).as_list::<i32>();
        assert_eq!(topics.value(2).as_string::<i32>().value(1), "tech.b");
        // all older: nothing, and nothing counted
        let old = contacts(&["2025-06-01T00:00:00Z"]);
        assert!(keeper.keep(&old).unwrap().is_none());
        assert!(!keeper.overflowed());
    }

    #[test]
    fn more_rows_than_the_limit_keep_nothing_more_and_say_so() {
        let keeper = keeper("2026-01-01T00:00:00Z", 3);
        let batch = contacts(&["2026-01-02T00:00:00Z", "2026-01-03T00:00:00Z"]);
        assert!(keeper.keep(&batch).unwrap().is_some());
        assert!(!keeper.overflowed());
        assert!(keeper.keep(&batch).unwrap().is_none());
        assert!(keeper.overflowed());
        assert!(
            keeper
                .keep(&contacts(&["2026-01-05T00:00:00Z"]))
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn an_unknown_column_is_an_error() {
        let keep = KeepRows {
            from_micros: 0,
            columns: vec!["no_such_column".into()],
            max_rows: 1,
        };
        assert!(RowKeeper::new(FactTable::Interactions, &keep).is_err());
    }
}
