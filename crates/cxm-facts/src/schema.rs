//! Column layout of each fact table.

use std::sync::Arc;

use cxm_domain::{Amount, RecordKind};
use deltalake::arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};

/// The four fact tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FactTable {
    Interactions,
    SurveyResponses,
    Transactions,
    CustomerEvents,
}

/// Column holding the content hash that tells a replacement from an unchanged re-delivery.
pub const ROW_HASH: &str = "row_hash";

impl FactTable {
    pub const ALL: [FactTable; 4] = [
        FactTable::Interactions,
        FactTable::SurveyResponses,
        FactTable::Transactions,
        FactTable::CustomerEvents,
    ];

    pub fn for_kind(kind: RecordKind) -> Option<FactTable> {
        match kind {
            RecordKind::Interactions => Some(FactTable::Interactions),
            RecordKind::Surveys => Some(FactTable::SurveyResponses),
            RecordKind::Transactions => Some(FactTable::Transactions),
            RecordKind::CustomerEvents => Some(FactTable::CustomerEvents),
            _ => None,
        }
    }

    /// Table name in SQL and directory name under `DIR/tables`.
    pub fn name(self) -> &'static str {
        match self {
            FactTable::Interactions => "interactions",
            FactTable::SurveyResponses => "survey_responses",
            FactTable::Transactions => "transactions",
            FactTable::CustomerEvents => "customer_events",
        }
    }

    /// Columns with (nearly) a distinct value per row, where a Parquet dictionary costs
    /// time and saves nothing: the key, the content hash, the customer and the time.
    pub fn high_cardinality_columns(self) -> [&'static str; 4] {
        [
            self.key_column(),
            ROW_HASH,
            "customer_id",
            self.time_column(),
        ]
    }

    /// The column that says when the record happened (a UTC timestamp).
    pub fn time_column(self) -> &'static str {
        match self {
            FactTable::Interactions => "started_at",
            FactTable::SurveyResponses => "answered_at",
            FactTable::Transactions | FactTable::CustomerEvents => "occurred_at",
        }
    }

    /// The column that identifies a record; ingestion upserts by it.
    pub fn key_column(self) -> &'static str {
        match self {
            FactTable::Interactions => "interaction_id",
            FactTable::SurveyResponses => "response_id",
            FactTable::Transactions => "transaction_id",
            FactTable::CustomerEvents => "event_id",
        }
    }

    /// The Arrow schema rows are written with (the Delta schema is derived from it).
    pub fn schema(self) -> SchemaRef {
        let text = |name: &str, nullable: bool| Field::new(name, DataType::Utf8, nullable);
        let time = |name: &str| {
            Field::new(
                name,
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                false,
            )
        };
        let seconds = |name: &str| Field::new(name, DataType::Int32, true);
        let hash = Field::new(ROW_HASH, DataType::Int64, false);
        let fields = match self {
            FactTable::Interactions => vec![
                text("interaction_id", false),
                text("customer_id", false),
                text("agent_id", false),
                text("channel", false),
                time("started_at"),
                seconds("queue_seconds"),
                seconds("talk_seconds"),
                seconds("hold_seconds"),
                seconds("after_work_seconds"),
                seconds("handle_seconds"),
                Field::new(
                    "topics",
                    DataType::List(Arc::new(Field::new("element", DataType::Utf8, true))),
                    true,
                ),
                Field::new("resolved", DataType::Boolean, true),
                Field::new("transfers", DataType::Int32, true),
                hash,
            ],
            FactTable::SurveyResponses => vec![
                text("response_id", false),
                text("survey", false),
                time("answered_at"),
                text("customer_id", false),
                text("interaction_id", true),
                Field::new("csat", DataType::Int32, true),
                Field::new("nps", DataType::Int32, true),
                Field::new("ces", DataType::Int32, true),
                Field::new(
                    "ratings",
                    DataType::Map(
                        Arc::new(Field::new(
                            "key_value",
                            DataType::Struct(Fields::from(vec![
                                Field::new("key", DataType::Utf8, false),
                                Field::new("value", DataType::Int32, true),
                            ])),
                            false,
                        )),
                        false,
                    ),
                    true,
                ),
                text("comment", true),
                hash,
            ],
            FactTable::Transactions => vec![
                text("transaction_id", false),
                text("customer_id", false),
                time("occurred_at"),
                Field::new(
                    "amount",
                    DataType::Decimal128(18, Amount::SCALE as i8),
                    false,
                ),
                text("kind", false),
                hash,
            ],
            FactTable::CustomerEvents => vec![
                text("event_id", false),
                text("customer_id", false),
                time("occurred_at"),
                text("kind", false),
                text("reason", true),
                hash,
            ],
        };
        Arc::new(Schema::new(fields))
    }
}
