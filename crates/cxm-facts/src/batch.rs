//! Turning domain records into Arrow record batches of their fact table.

use std::sync::Arc;

use cxm_domain::{
    CustomerEvent, Interaction, InteractionFields, ParseContext, Record, SurveyResponse,
    Transaction,
};
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

    /// Whether [`FactRow::append_common`] can take rows of this kind.
    const APPENDS_COMMON: bool = false;

    /// Appends a row straight from its canonical field values (in the order of the
    /// kind's fields, `None` for an empty field) when every field is valid in its common
    /// form, without building the record: its key hash and content hash. `None` when a
    /// field is not, and nothing is appended: [`Record::parse`] then gives the record, or
    /// every reason it is rejected. A row appended here is the row `parse` and
    /// [`FactRow::append`] would append.
    fn append_common(
        _columns: &mut Self::Columns,
        _values: &[Option<&str>],
        _ctx: &ParseContext,
    ) -> Option<(u64, u64)> {
        None
    }
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

    /// Appends a row from its canonical field values when they are in their common form
    /// ([`FactRow::append_common`]): its key hash and content hash, or `None` and nothing
    /// appended.
    #[inline]
    pub fn push_common(
        &mut self,
        values: &[Option<&str>],
        ctx: &ParseContext,
    ) -> Option<(u64, u64)> {
        let hashes = R::append_common(&mut self.columns, values, ctx)?;
        self.rows += 1;
        Some(hashes)
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
        append_interaction(c, &self.fields(), row_hash);
    }

    const APPENDS_COMMON: bool = true;

    #[inline]
    fn append_common(
        c: &mut InteractionColumns,
        values: &[Option<&str>],
        ctx: &ParseContext,
    ) -> Option<(u64, u64)> {
        let fields = InteractionFields::parse_common(values, ctx)?;
        let content = fields.content_hash();
        append_interaction(c, &fields, content);
        Some((fields.key_hash(), content))
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

#[inline]
fn append_interaction(c: &mut InteractionColumns, f: &InteractionFields<'_>, row_hash: u64) {
    c.interaction_id.append_value(f.interaction_id);
    c.customer_id.append_value(f.customer_id);
    c.agent_id.append_value(f.agent_id);
    c.channel.append_value(f.channel.as_str());
    c.started_at.append_value(f.started_at.timestamp_micros());
    for (builder, duration) in c.durations.iter_mut().zip(f.durations) {
        builder.append_option(duration.map(|s| s.get() as i32));
    }
    for topic in &f.topics {
        c.topics.0.values().append_value(topic);
    }
    c.topics.0.append(true);
    c.resolved.append_option(f.resolved);
    c.transfers
        .append_option(f.transfers.map(|t| i32::from(t.get())));
    c.row_hash.append_value(hash_value(row_hash));
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

#[cfg(test)]
mod tests {
    use cxm_domain::{DurationUnit, FieldSource};
    use proptest::prelude::*;

    use super::*;

    /// Canonical field values, as a reader hands them to `Record::parse`.
    struct Values<'a>(&'a [Option<&'a str>]);

    impl FieldSource for Values<'_> {
        fn get(&self, index: usize) -> Option<&str> {
            self.0.get(index).copied().flatten()
        }

        fn for_each_extra(&self, _visit: &mut dyn FnMut(&str, &str)) {}
    }

    /// A contact's field in its common form.
    fn common_field(index: usize) -> BoxedStrategy<String> {
        match index {
            0..=2 => "[A-Z]-[0-9]{1,6}".boxed(),
            3 => prop_oneof![
                Just("phone"),
                Just("chat"),
                Just("email"),
                Just("messaging")
            ]
            .prop_map(str::to_owned)
            .boxed(),
            4 => "2024-(0[1-9]|1[0-2])-[0-2][0-9]T[01][0-9]:[0-5][0-9]:[0-5][0-9]Z".boxed(),
            5..=9 => "[0-9]{1,5}".boxed(),
            10 => "(billing\\.[a-c])(;(billing|tech)\\.[a-c]){0,6}".boxed(),
            11 => prop_oneof![Just("true"), Just("false")]
                .prop_map(str::to_owned)
                .boxed(),
            _ => "[0-9]{1,3}".boxed(),
        }
    }

    /// A contact's field as an export might write it: mostly in its common form,
    /// sometimes empty, padded, spelled otherwise or invalid.
    fn field(index: usize) -> BoxedStrategy<Option<String>> {
        let odd = prop_oneof![
            Just(" ".to_owned()),
            Just(" A-1 ".to_owned()),
            Just("A;1".to_owned()),
            Just("\u{e9}t\u{e9}".to_owned()),
            Just("a;b; a;;b ".to_owned()),
            Just("Chat".to_owned()),
            Just("fax".to_owned()),
            Just("2024-02-30T10:00:00Z".to_owned()),
            Just("2024-02-01 10:00:00".to_owned()),
            Just("2024-02-01T10:00:00+01:00".to_owned()),
            Just("1:30".to_owned()),
            Just("-4".to_owned()),
            Just("2.6".to_owned()),
            Just("999999999".to_owned()),
            Just("No".to_owned()),
            Just("TRUE".to_owned()),
            Just("\u{a0}7".to_owned()),
            "\\PC{0,6}",
        ];
        prop_oneof![
            12 => common_field(index).prop_map(Some),
            1 => Just(None),
            2 => odd.prop_map(Some),
        ]
        .boxed()
    }

    fn row() -> impl Strategy<Value = Vec<Option<String>>> {
        (0..13).map(field).collect::<Vec<_>>()
    }

    fn contexts() -> impl Strategy<Value = ParseContext> {
        prop_oneof![
            Just(DurationUnit::Seconds),
            Just(DurationUnit::Milliseconds)
        ]
        .prop_map(|unit| {
            let mut ctx = ParseContext::default();
            ctx.duration_unit = unit;
            ctx
        })
    }

    proptest! {
        /// Whenever a contact's fields are appended straight from the row, they are the
        /// row `Interaction::parse` and `append` give: the same columns, key hash and
        /// content hash. Otherwise nothing is appended.
        #[test]
        fn contacts_appended_straight_are_those_parse_gives(
            rows in proptest::collection::vec(row(), 1..20),
            ctx in contexts(),
        ) {
            let mut straight = FactBatchBuilder::<Interaction>::with_capacity(rows.len());
            let mut parsed = FactBatchBuilder::<Interaction>::with_capacity(rows.len());
            for row in &rows {
                let values: Vec<Option<&str>> = row.iter().map(Option::as_deref).collect();
                let record = Interaction::parse(&Values(&values), &ctx);
                let before = straight.len();
                match straight.push_common(&values, &ctx) {
                    Some((key, content)) => {
                        let record = record.expect("a row appended straight is valid");
                        prop_assert_eq!(key, record.key_hash());
                        prop_assert_eq!(content, record.content_hash());
                        parsed.push(&record, record.content_hash());
                    }
                    None => prop_assert_eq!(straight.len(), before),
                }
            }
            prop_assert_eq!(straight.finish().unwrap(), parsed.finish().unwrap());
        }

        /// Valid rows in their common form are appended straight (so the property
        /// above is not met by appending nothing).
        #[test]
        fn contacts_in_their_common_form_are_appended_straight(
            row in (0..13)
                .map(|index| common_field(index).prop_map(Some))
                .collect::<Vec<_>>(),
        ) {
            let values: Vec<Option<&str>> = row.iter().map(Option::as_deref).collect();
            let ctx = ParseContext::default();
            if Interaction::parse(&Values(&values), &ctx).is_ok() {
                let mut straight = FactBatchBuilder::<Interaction>::with_capacity(1);
                prop_assert!(straight.push_common(&values, &ctx).is_some(), "{values:?}");
            }
        }
    }
}
