//! Turning domain records into Arrow record batches of their fact table.

use std::sync::Arc;

use cxm_domain::{CustomerEvent, Interaction, Record, SurveyResponse, Transaction};
use deltalake::arrow::array::{
    ArrayRef, BooleanBuilder, Decimal128Builder, Int32Builder, Int64Builder, ListBuilder,
    MapBuilder, MapFieldNames, RecordBatch, StringBuilder, TimestampMicrosecondBuilder,
};
use deltalake::arrow::datatypes::{DataType, Field, SchemaRef};

use crate::{FactError, FactTable};

/// A record that lives in a fact table.
pub trait FactRow: Record + Send + 'static {
    const TABLE: FactTable;
    /// The column builders of the table.
    type Columns: Default + Send;
    /// Column builders sized for about `rows` rows (growing a builder row by row copies
    /// its buffers again and again).
    fn columns_for(_rows: usize) -> Self::Columns {
        Self::Columns::default()
    }
    fn append(&self, columns: &mut Self::Columns, row_hash: u64);
    fn finish(columns: &mut Self::Columns) -> Vec<ArrayRef>;
}

/// Accumulates records of one fact table into a record batch.
pub struct FactBatchBuilder<R: FactRow> {
    columns: R::Columns,
    rows: usize,
    schema: SchemaRef,
}

impl<R: FactRow> Default for FactBatchBuilder<R> {
    fn default() -> Self {
        Self {
            columns: R::Columns::default(),
            rows: 0,
            schema: R::TABLE.schema(),
        }
    }
}

impl<R: FactRow> FactBatchBuilder<R> {
    /// A builder with room for about `rows` rows.
    pub fn with_capacity(rows: usize) -> Self {
        Self {
            columns: R::columns_for(rows),
            ..Self::default()
        }
    }

    /// Appends a record with its content hash (see [`Record::content_hash`]).
    pub fn push(&mut self, record: &R, content_hash: u64) {
        record.append(&mut self.columns, content_hash);
        self.rows += 1;
    }

    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// The rows appended so far as a batch; the builder starts empty again.
    pub fn finish(&mut self) -> Result<RecordBatch, FactError> {
        self.rows = 0;
        Ok(RecordBatch::try_new(
            self.schema.clone(),
            R::finish(&mut self.columns),
        )?)
    }
}

fn utc(array: deltalake::arrow::array::TimestampMicrosecondArray) -> ArrayRef {
    Arc::new(array.with_timezone("UTC"))
}

fn hash_value(hash: u64) -> i64 {
    // Delta has no unsigned integers: store the bits.
    hash as i64
}

#[derive(Default)]
pub struct InteractionColumns {
    interaction_id: StringBuilder,
    customer_id: StringBuilder,
    agent_id: StringBuilder,
    channel: StringBuilder,
    started_at: TimestampMicrosecondBuilder,
    durations: [Int32Builder; 5],
    topics: TopicsBuilder,
    resolved: BooleanBuilder,
    transfers: Int32Builder,
    row_hash: Int64Builder,
}

struct TopicsBuilder(ListBuilder<StringBuilder>);

impl Default for TopicsBuilder {
    fn default() -> Self {
        Self::with_capacity(StringBuilder::new(), 0)
    }
}

impl TopicsBuilder {
    fn with_capacity(values: StringBuilder, rows: usize) -> Self {
        let element = Field::new("element", DataType::Utf8, true);
        Self(ListBuilder::with_capacity(values, rows).with_field(Arc::new(element)))
    }
}

impl FactRow for Interaction {
    const TABLE: FactTable = FactTable::Interactions;
    type Columns = InteractionColumns;

    fn columns_for(rows: usize) -> InteractionColumns {
        // typical exported lengths: ids of about 12 bytes, two topics of about 10
        let text = |bytes| StringBuilder::with_capacity(rows, rows * bytes);
        let int = || Int32Builder::with_capacity(rows);
        InteractionColumns {
            interaction_id: text(12),
            customer_id: text(12),
            agent_id: text(8),
            channel: text(6),
            started_at: TimestampMicrosecondBuilder::with_capacity(rows),
            durations: [int(), int(), int(), int(), int()],
            topics: TopicsBuilder::with_capacity(
                StringBuilder::with_capacity(2 * rows, 20 * rows),
                rows,
            ),
            resolved: BooleanBuilder::with_capacity(rows),
            transfers: int(),
            row_hash: Int64Builder::with_capacity(rows),
        }
    }

    fn append(&self, c: &mut InteractionColumns, row_hash: u64) {
        c.interaction_id.append_value(self.interaction_id.as_str());
        c.customer_id.append_value(self.customer_id.as_str());
        c.agent_id.append_value(self.agent_id.as_str());
        c.channel.append_value(self.channel.as_str());
        c.started_at
            .append_value(self.started_at.timestamp_micros());
        let durations = [
            self.queue_seconds,
            self.talk_seconds,
            self.hold_seconds,
            self.after_work_seconds,
            self.handle_seconds,
        ];
        for (builder, duration) in c.durations.iter_mut().zip(durations) {
            builder.append_option(duration.map(|s| s.get() as i32));
        }
        for topic in &self.topics {
            c.topics.0.values().append_value(topic.as_str());
        }
        c.topics.0.append(true);
        c.resolved.append_option(self.resolved);
        c.transfers
            .append_option(self.transfers.map(|t| i32::from(t.get())));
        c.row_hash.append_value(hash_value(row_hash));
    }

    fn finish(c: &mut InteractionColumns) -> Vec<ArrayRef> {
        let mut columns: Vec<ArrayRef> = vec![
            Arc::new(c.interaction_id.finish()),
            Arc::new(c.customer_id.finish()),
            Arc::new(c.agent_id.finish()),
            Arc::new(c.channel.finish()),
            utc(c.started_at.finish()),
        ];
        columns.extend(
            c.durations
                .iter_mut()
                .map(|b| Arc::new(b.finish()) as ArrayRef),
        );
        columns.push(Arc::new(c.topics.0.finish()));
        columns.push(Arc::new(c.resolved.finish()));
        columns.push(Arc::new(c.transfers.finish()));
        columns.push(Arc::new(c.row_hash.finish()));
        columns
    }
}

pub struct SurveyColumns {
    response_id: StringBuilder,
    survey: StringBuilder,
    answered_at: TimestampMicrosecondBuilder,
    customer_id: StringBuilder,
    interaction_id: StringBuilder,
    csat: Int32Builder,
    nps: Int32Builder,
    ces: Int32Builder,
    ratings: MapBuilder<StringBuilder, Int32Builder>,
    comment: StringBuilder,
    row_hash: Int64Builder,
}

impl Default for SurveyColumns {
    fn default() -> Self {
        let names = MapFieldNames {
            entry: "key_value".into(),
            key: "key".into(),
            value: "value".into(),
        };
        Self {
            response_id: StringBuilder::new(),
            survey: StringBuilder::new(),
            answered_at: TimestampMicrosecondBuilder::new(),
            customer_id: StringBuilder::new(),
            interaction_id: StringBuilder::new(),
            csat: Int32Builder::new(),
            nps: Int32Builder::new(),
            ces: Int32Builder::new(),
            ratings: MapBuilder::new(Some(names), StringBuilder::new(), Int32Builder::new()),
            comment: StringBuilder::new(),
            row_hash: Int64Builder::new(),
        }
    }
}

impl FactRow for SurveyResponse {
    const TABLE: FactTable = FactTable::SurveyResponses;
    type Columns = SurveyColumns;

    fn append(&self, c: &mut SurveyColumns, row_hash: u64) {
        c.response_id.append_value(self.response_id.as_str());
        c.survey.append_value(self.survey.as_str());
        c.answered_at
            .append_value(self.answered_at.timestamp_micros());
        c.customer_id.append_value(self.customer_id.as_str());
        c.interaction_id
            .append_option(self.interaction_id.as_ref().map(|id| id.as_str()));
        c.csat.append_option(self.csat.map(|s| i32::from(s.get())));
        c.nps.append_option(self.nps.map(|s| i32::from(s.get())));
        c.ces.append_option(self.ces.map(|s| i32::from(s.get())));
        for rating in &self.ratings {
            c.ratings.keys().append_value(&rating.attribute);
            c.ratings.values().append_value(i32::from(rating.score));
        }
        // Appending an entry count never fails for matching key/value lengths.
        let _ = c.ratings.append(true);
        c.comment.append_option(self.comment.as_deref());
        c.row_hash.append_value(hash_value(row_hash));
    }

    fn finish(c: &mut SurveyColumns) -> Vec<ArrayRef> {
        vec![
            Arc::new(c.response_id.finish()),
            Arc::new(c.survey.finish()),
            utc(c.answered_at.finish()),
            Arc::new(c.customer_id.finish()),
            Arc::new(c.interaction_id.finish()),
            Arc::new(c.csat.finish()),
            Arc::new(c.nps.finish()),
            Arc::new(c.ces.finish()),
            Arc::new(c.ratings.finish()),
            Arc::new(c.comment.finish()),
            Arc::new(c.row_hash.finish()),
        ]
    }
}

pub struct TransactionColumns {
    transaction_id: StringBuilder,
    customer_id: StringBuilder,
    occurred_at: TimestampMicrosecondBuilder,
    amount: Decimal128Builder,
    kind: StringBuilder,
    row_hash: Int64Builder,
}

impl Default for TransactionColumns {
    fn default() -> Self {
        Self {
            transaction_id: StringBuilder::new(),
            customer_id: StringBuilder::new(),
            occurred_at: TimestampMicrosecondBuilder::new(),
            amount: Decimal128Builder::new(),
            kind: StringBuilder::new(),
            row_hash: Int64Builder::new(),
        }
    }
}

impl FactRow for Transaction {
    const TABLE: FactTable = FactTable::Transactions;
    type Columns = TransactionColumns;

    fn append(&self, c: &mut TransactionColumns, row_hash: u64) {
        c.transaction_id.append_value(self.transaction_id.as_str());
        c.customer_id.append_value(self.customer_id.as_str());
        c.occurred_at
            .append_value(self.occurred_at.timestamp_micros());
        c.amount.append_value(i128::from(self.amount.scaled()));
        c.kind.append_value(self.kind.as_str());
        c.row_hash.append_value(hash_value(row_hash));
    }

    fn finish(c: &mut TransactionColumns) -> Vec<ArrayRef> {
        let amount = c
            .amount
            .finish()
            .with_precision_and_scale(18, cxm_domain::Amount::SCALE as i8);
        vec![
            Arc::new(c.transaction_id.finish()),
            Arc::new(c.customer_id.finish()),
            utc(c.occurred_at.finish()),
            match amount {
                Ok(amount) => Arc::new(amount),
                Err(_) => unreachable!("18 digits with scale 4 is a valid decimal type"),
            },
            Arc::new(c.kind.finish()),
            Arc::new(c.row_hash.finish()),
        ]
    }
}

#[derive(Default)]
pub struct CustomerEventColumns {
    event_id: StringBuilder,
    customer_id: StringBuilder,
    occurred_at: TimestampMicrosecondBuilder,
    kind: StringBuilder,
    reason: StringBuilder,
    row_hash: Int64Builder,
}

impl FactRow for CustomerEvent {
    const TABLE: FactTable = FactTable::CustomerEvents;
    type Columns = CustomerEventColumns;

    fn append(&self, c: &mut CustomerEventColumns, row_hash: u64) {
        c.event_id.append_value(&self.event_id);
        c.customer_id.append_value(self.customer_id.as_str());
        c.occurred_at
            .append_value(self.occurred_at.timestamp_micros());
        c.kind.append_value(self.kind.as_str());
        c.reason.append_option(self.reason.as_deref());
        c.row_hash.append_value(hash_value(row_hash));
    }

    fn finish(c: &mut CustomerEventColumns) -> Vec<ArrayRef> {
        vec![
            Arc::new(c.event_id.finish()),
            Arc::new(c.customer_id.finish()),
            utc(c.occurred_at.finish()),
            Arc::new(c.kind.finish()),
            Arc::new(c.reason.finish()),
            Arc::new(c.row_hash.finish()),
        ]
    }
}
