//! The cxm domain: the records an organisation's systems export (contacts, survey answers,
//! purchases, customer events, customers, org structure, people, memberships, topics),
//! validated newtypes for their values, and parsing of canonical field values into them.
//!
//! Pure Rust: no I/O, no async, no storage. Everything that reads outside input parses it
//! into these types at the boundary and trusts them afterwards.

pub mod cases;
pub mod error;
pub mod fields;
pub mod ideas;
pub mod ids;
pub mod kinds;
pub mod metrics;
pub mod notify;
pub mod parse;
pub mod recognition;
pub mod records;
pub mod sentiment;
pub mod stats;
pub mod values;

pub use error::FieldError;
pub use fields::{FieldSource, RecordKind};
pub use ids::RecordId;
pub use kinds::{
    AccessRole, Channel, CustomerEventKind, PersonRole, SurveyKind, TopicKind, TransactionKind,
    UnitLevel,
};
pub use parse::{DurationUnit, ParseContext, TimestampParser};
pub use records::{
    Customer, CustomerEvent, Interaction, InteractionFields, Membership, OrgUnit, Person, Record,
    SurveyResponse, Topic, Topics, Transaction,
};
pub use values::{Amount, CesScore, CsatScore, NpsScore, Rating, RatingScale, Seconds, Transfers};
