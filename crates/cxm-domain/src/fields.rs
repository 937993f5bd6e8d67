//! The canonical fields of each record kind (the column names `cxm ingest` reads without a
//! mapping) and the trait through which readers hand field values to the record parsers.

use std::fmt;

/// One canonical field of a record kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldSpec {
    pub name: &'static str,
    /// A file without this column is not a file of this kind.
    pub required: bool,
}

/// Values of one record's canonical fields, by index into [`RecordKind::fields`].
pub trait FieldSource {
    /// The raw text of field `index`; `None` when the column is absent or the value empty.
    fn get(&self, index: usize) -> Option<&str>;

    /// Visits the non-empty values of columns that are not canonical fields of the kind
    /// (e.g. `rating_<attribute>` of surveys, extra customer attributes).
    fn for_each_extra(&self, visit: &mut dyn FnMut(&str, &str));
}

/// The kinds of records `cxm ingest` accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordKind {
    Interactions,
    Surveys,
    Transactions,
    CustomerEvents,
    Customers,
    OrgUnits,
    People,
    Memberships,
    Topics,
}

impl RecordKind {
    pub const ALL: [RecordKind; 9] = [
        RecordKind::Interactions,
        RecordKind::Surveys,
        RecordKind::Transactions,
        RecordKind::CustomerEvents,
        RecordKind::Customers,
        RecordKind::OrgUnits,
        RecordKind::People,
        RecordKind::Memberships,
        RecordKind::Topics,
    ];

    /// The name used on the command line, e.g. `customer-events`.
    pub fn cli_name(self) -> &'static str {
        match self {
            RecordKind::Interactions => "interactions",
            RecordKind::Surveys => "surveys",
            RecordKind::Transactions => "transactions",
            RecordKind::CustomerEvents => "customer-events",
            RecordKind::Customers => "customers",
            RecordKind::OrgUnits => "org-units",
            RecordKind::People => "people",
            RecordKind::Memberships => "memberships",
            RecordKind::Topics => "topics",
        }
    }

    pub fn from_cli_name(name: &str) -> Option<RecordKind> {
        RecordKind::ALL
            .into_iter()
            .find(|kind| kind.cli_name() == name)
    }

    /// The table the records are stored in.
    pub fn table(self) -> &'static str {
        match self {
            RecordKind::Interactions => "interactions",
            RecordKind::Surveys => "survey_responses",
            RecordKind::Transactions => "transactions",
            RecordKind::CustomerEvents => "customer_events",
            RecordKind::Customers => "customers",
            RecordKind::OrgUnits => "org_units",
            RecordKind::People => "people",
            RecordKind::Memberships => "memberships",
            RecordKind::Topics => "topics",
        }
    }

    /// Facts are large and append-mostly (Delta tables); the rest is reference data (SQL).
    pub fn is_fact(self) -> bool {
        matches!(
            self,
            RecordKind::Interactions
                | RecordKind::Surveys
                | RecordKind::Transactions
                | RecordKind::CustomerEvents
        )
    }

    /// Canonical fields in canonical column order.
    pub fn fields(self) -> &'static [FieldSpec] {
        match self {
            RecordKind::Interactions => &[
                FieldSpec {
                    name: "interaction_id",
                    required: true,
                },
                FieldSpec {
                    name: "customer_id",
                    required: true,
                },
                FieldSpec {
                    name: "agent_id",
                    required: true,
                },
                FieldSpec {
                    name: "channel",
                    required: true,
                },
                FieldSpec {
                    name: "started_at",
                    required: true,
                },
                FieldSpec {
                    name: "queue_seconds",
                    required: false,
                },
                FieldSpec {
                    name: "talk_seconds",
                    required: false,
                },
                FieldSpec {
                    name: "hold_seconds",
                    required: false,
                },
                FieldSpec {
                    name: "after_work_seconds",
                    required: false,
                },
                FieldSpec {
                    name: "handle_seconds",
                    required: false,
                },
                FieldSpec {
                    name: "topics",
                    required: false,
                },
                FieldSpec {
                    name: "resolved",
                    required: false,
                },
                FieldSpec {
                    name: "transfers",
                    required: false,
                },
            ],
            RecordKind::Surveys => &[
                FieldSpec {
                    name: "response_id",
                    required: true,
                },
                FieldSpec {
                    name: "survey",
                    required: true,
                },
                FieldSpec {
                    name: "answered_at",
                    required: true,
                },
                FieldSpec {
                    name: "customer_id",
                    required: true,
                },
                FieldSpec {
                    name: "interaction_id",
                    required: false,
                },
                FieldSpec {
                    name: "csat",
                    required: false,
                },
                FieldSpec {
                    name: "nps",
                    required: false,
                },
                FieldSpec {
                    name: "ces",
                    required: false,
                },
                FieldSpec {
                    name: "comment",
                    required: false,
                },
            ],
            RecordKind::Transactions => &[
                FieldSpec {
                    name: "transaction_id",
                    required: true,
                },
                FieldSpec {
                    name: "customer_id",
                    required: true,
                },
                FieldSpec {
                    name: "occurred_at",
                    required: true,
                },
                FieldSpec {
                    name: "amount",
                    required: true,
                },
                FieldSpec {
                    name: "kind",
                    required: true,
                },
            ],
            RecordKind::CustomerEvents => &[
                FieldSpec {
                    name: "customer_id",
                    required: true,
                },
                FieldSpec {
                    name: "occurred_at",
                    required: true,
                },
                FieldSpec {
                    name: "kind",
                    required: true,
                },
                FieldSpec {
                    name: "reason",
                    required: false,
                },
            ],
            RecordKind::Customers => &[
                FieldSpec {
                    name: "customer_id",
                    required: true,
                },
                FieldSpec {
                    name: "segment",
                    required: false,
                },
                FieldSpec {
                    name: "region",
                    required: false,
                },
                FieldSpec {
                    name: "joined_at",
                    required: false,
                },
            ],
            RecordKind::OrgUnits => &[
                FieldSpec {
                    name: "unit_id",
                    required: true,
                },
                FieldSpec {
                    name: "name",
                    required: true,
                },
                FieldSpec {
                    name: "parent_id",
                    required: false,
                },
                FieldSpec {
                    name: "level",
                    required: true,
                },
            ],
            RecordKind::People => &[
                FieldSpec {
                    name: "person_id",
                    required: true,
                },
                FieldSpec {
                    name: "name",
                    required: true,
                },
                FieldSpec {
                    name: "email",
                    required: false,
                },
                FieldSpec {
                    name: "role",
                    required: true,
                },
            ],
            RecordKind::Memberships => &[
                FieldSpec {
                    name: "person_id",
                    required: true,
                },
                FieldSpec {
                    name: "unit_id",
                    required: true,
                },
                FieldSpec {
                    name: "valid_from",
                    required: true,
                },
                FieldSpec {
                    name: "valid_to",
                    required: false,
                },
            ],
            RecordKind::Topics => &[
                FieldSpec {
                    name: "code",
                    required: true,
                },
                FieldSpec {
                    name: "name",
                    required: true,
                },
                FieldSpec {
                    name: "category",
                    required: true,
                },
                FieldSpec {
                    name: "kind",
                    required: true,
                },
                FieldSpec {
                    name: "keywords",
                    required: false,
                },
            ],
        }
    }

    /// Index of the canonical field `name`.
    pub fn field_index(self, name: &str) -> Option<usize> {
        self.fields().iter().position(|field| field.name == name)
    }

    /// Whether an extra (non-canonical) column belongs to the kind's open part: survey
    /// ratings (`rating_<attribute>`) and customer attributes.
    pub fn accepts_extra(self, column: &str) -> bool {
        match self {
            RecordKind::Surveys => column.starts_with("rating_"),
            RecordKind::Customers => true,
            _ => false,
        }
    }
}

impl fmt::Display for RecordKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.cli_name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_names_round_trip() {
        for kind in RecordKind::ALL {
            assert_eq!(RecordKind::from_cli_name(kind.cli_name()), Some(kind));
        }
        assert_eq!(RecordKind::from_cli_name("calls"), None);
    }

    #[test]
    fn each_kind_has_an_identifying_required_field() {
        for kind in RecordKind::ALL {
            assert!(kind.fields()[0].required, "{kind}");
        }
    }
}
