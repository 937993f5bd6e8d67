//! The reference tables and how domain records map onto their rows.

use cxm_domain::{Customer, Membership, OrgUnit, Person, Record, RecordKind, Topic};

/// How a reference column's text is to be read by analytics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    Text,
    /// RFC 3339 in UTC
    Timestamp,
    /// a JSON document (object or array)
    Json,
}

/// One reference table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReferenceTable {
    Customers,
    OrgUnits,
    People,
    Memberships,
    Topics,
}

impl ReferenceTable {
    pub const ALL: [ReferenceTable; 5] = [
        ReferenceTable::Customers,
        ReferenceTable::OrgUnits,
        ReferenceTable::People,
        ReferenceTable::Memberships,
        ReferenceTable::Topics,
    ];

    pub fn for_kind(kind: RecordKind) -> Option<ReferenceTable> {
        match kind {
            RecordKind::Customers => Some(ReferenceTable::Customers),
            RecordKind::OrgUnits => Some(ReferenceTable::OrgUnits),
            RecordKind::People => Some(ReferenceTable::People),
            RecordKind::Memberships => Some(ReferenceTable::Memberships),
            RecordKind::Topics => Some(ReferenceTable::Topics),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            ReferenceTable::Customers => "customers",
            ReferenceTable::OrgUnits => "org_units",
            ReferenceTable::People => "people",
            ReferenceTable::Memberships => "memberships",
            ReferenceTable::Topics => "topics",
        }
    }

    /// Columns in table order; the first is the primary key. `row_hash` is not listed.
    pub fn columns(self) -> &'static [(&'static str, ColumnType)] {
        use ColumnType::*;
        match self {
            ReferenceTable::Customers => &[
                ("customer_id", Text),
                ("segment", Text),
                ("region", Text),
                ("joined_at", Timestamp),
                ("attributes", Json),
            ],
            ReferenceTable::OrgUnits => &[
                ("unit_id", Text),
                ("name", Text),
                ("parent_id", Text),
                ("level", Text),
            ],
            ReferenceTable::People => &[
                ("person_id", Text),
                ("name", Text),
                ("email", Text),
                ("role", Text),
            ],
            ReferenceTable::Memberships => &[
                ("membership_id", Text),
                ("person_id", Text),
                ("unit_id", Text),
                ("valid_from", Timestamp),
                ("valid_to", Timestamp),
            ],
            ReferenceTable::Topics => &[
                ("code", Text),
                ("name", Text),
                ("category", Text),
                ("kind", Text),
                ("keywords", Json),
            ],
        }
    }

    pub fn key_column(self) -> &'static str {
        self.columns()[0].0
    }
}

/// One row of a reference table: its values as text (aligned with
/// [`ReferenceTable::columns`]) and its content hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferenceRow {
    pub values: Vec<Option<String>>,
    pub row_hash: i64,
}

impl ReferenceRow {
    pub fn key(&self) -> &str {
        self.values
            .first()
            .and_then(|v| v.as_deref())
            .unwrap_or_default()
    }

    /// The row of a domain record.
    pub fn from_record<R: ToReferenceRow>(record: &R) -> ReferenceRow {
        ReferenceRow {
            values: record.values(),
            row_hash: record.content_hash() as i64,
        }
    }
}

/// Stored timestamp text: RFC 3339, UTC, microseconds (sorts as text).
pub fn timestamp_text(instant: chrono::DateTime<chrono::Utc>) -> String {
    instant.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

fn json_text<T: serde::Serialize + ?Sized>(value: &T) -> String {
    // Maps and lists of strings always serialise.
    serde_json::to_string(value).unwrap_or_default()
}

/// A domain record stored in a reference table.
pub trait ToReferenceRow: Record {
    const TABLE: ReferenceTable;
    fn values(&self) -> Vec<Option<String>>;
}

impl ToReferenceRow for Customer {
    const TABLE: ReferenceTable = ReferenceTable::Customers;
    fn values(&self) -> Vec<Option<String>> {
        vec![
            Some(self.customer_id.to_string()),
            self.segment.clone(),
            self.region.clone(),
            self.joined_at.map(timestamp_text),
            Some(json_text(&self.attributes)),
        ]
    }
}

impl ToReferenceRow for OrgUnit {
    const TABLE: ReferenceTable = ReferenceTable::OrgUnits;
    fn values(&self) -> Vec<Option<String>> {
        vec![
            Some(self.unit_id.to_string()),
            Some(self.name.clone()),
            self.parent_id.as_ref().map(ToString::to_string),
            Some(self.level.to_string()),
        ]
    }
}

impl ToReferenceRow for Person {
    const TABLE: ReferenceTable = ReferenceTable::People;
    fn values(&self) -> Vec<Option<String>> {
        vec![
            Some(self.person_id.to_string()),
            Some(self.name.clone()),
            self.email.clone(),
            Some(self.role.to_string()),
        ]
    }
}

impl ToReferenceRow for Membership {
    const TABLE: ReferenceTable = ReferenceTable::Memberships;
    fn values(&self) -> Vec<Option<String>> {
        vec![
            Some(self.key()),
            Some(self.person_id.to_string()),
            Some(self.unit_id.to_string()),
            Some(timestamp_text(self.valid_from)),
            self.valid_to.map(timestamp_text),
        ]
    }
}

impl ToReferenceRow for Topic {
    const TABLE: ReferenceTable = ReferenceTable::Topics;
    fn values(&self) -> Vec<Option<String>> {
        vec![
            Some(self.code.to_string()),
            Some(self.name.clone()),
            Some(self.category.clone()),
            Some(self.kind.to_string()),
            Some(json_text(self.keywords.as_slice())),
        ]
    }
}
