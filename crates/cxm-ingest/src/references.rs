//! Referential checks: with `--enforce-references`, a row that names a customer, agent,
//! topic, person or unit the store does not know is rejected ("unknown agent A-991").

use std::collections::{HashMap, HashSet};

use cxm_catalog::DataDir;
use cxm_domain::{
    Customer, CustomerEvent, FieldError, Interaction, Membership, OrgUnit, Person, RecordKind,
    SurveyResponse, Topic, Transaction,
};
use cxm_sql::{ReferenceStore, ReferenceTable};

use crate::IngestError;

/// The ids a record refers to: (field, table, id).
pub(crate) trait Refers {
    fn references(&self) -> Vec<(&'static str, ReferenceTable, &str)>;

    /// The record as an org unit, for the tree check.
    fn as_org_unit(&self) -> Option<&OrgUnit> {
        None
    }
}

impl Refers for Interaction {
    fn references(&self) -> Vec<(&'static str, ReferenceTable, &str)> {
        let mut refs = vec![
            (
                "customer_id",
                ReferenceTable::Customers,
                self.customer_id.as_str(),
            ),
            ("agent_id", ReferenceTable::People, self.agent_id.as_str()),
        ];
        refs.extend(
            self.topics
                .iter()
                .map(|topic| ("topics", ReferenceTable::Topics, topic.as_str())),
        );
        refs
    }
}

impl Refers for SurveyResponse {
    fn references(&self) -> Vec<(&'static str, ReferenceTable, &str)> {
        vec![(
            "customer_id",
            ReferenceTable::Customers,
            self.customer_id.as_str(),
        )]
    }
}

impl Refers for Transaction {
    fn references(&self) -> Vec<(&'static str, ReferenceTable, &str)> {
        vec![(
            "customer_id",
            ReferenceTable::Customers,
            self.customer_id.as_str(),
        )]
    }
}

impl Refers for CustomerEvent {
    fn references(&self) -> Vec<(&'static str, ReferenceTable, &str)> {
        vec![(
            "customer_id",
            ReferenceTable::Customers,
            self.customer_id.as_str(),
        )]
    }
}

impl Refers for Membership {
    fn references(&self) -> Vec<(&'static str, ReferenceTable, &str)> {
        vec![
            ("person_id", ReferenceTable::People, self.person_id.as_str()),
            ("unit_id", ReferenceTable::OrgUnits, self.unit_id.as_str()),
        ]
    }
}

/// Org units check their parents separately (the parent may come in the same batch).
impl Refers for OrgUnit {
    fn references(&self) -> Vec<(&'static str, ReferenceTable, &str)> {
        Vec::new()
    }

    fn as_org_unit(&self) -> Option<&OrgUnit> {
        Some(self)
    }
}

macro_rules! refers_nothing {
    ($($t:ty),*) => {$(
        impl Refers for $t {
            fn references(&self) -> Vec<(&'static str, ReferenceTable, &str)> {
                Vec::new()
            }
        }
    )*};
}
refers_nothing!(Customer, Person, Topic);

/// The known ids of the tables a kind refers to.
pub(crate) struct References {
    known: HashMap<ReferenceTable, HashSet<String>>,
}

fn noun(table: ReferenceTable, field: &str) -> &'static str {
    match (table, field) {
        (ReferenceTable::People, "agent_id") => "agent",
        (ReferenceTable::People, _) => "person",
        (ReferenceTable::Customers, _) => "customer",
        (ReferenceTable::Topics, _) => "topic",
        (ReferenceTable::OrgUnits, _) => "unit",
        (ReferenceTable::Memberships, _) => "membership",
    }
}

impl References {
    pub async fn load(dir: &DataDir, kind: RecordKind) -> Result<Self, IngestError> {
        let tables: &[ReferenceTable] = match kind {
            RecordKind::Interactions => &[
                ReferenceTable::Customers,
                ReferenceTable::People,
                ReferenceTable::Topics,
            ],
            RecordKind::Surveys | RecordKind::Transactions | RecordKind::CustomerEvents => {
                &[ReferenceTable::Customers]
            }
            RecordKind::Memberships => &[ReferenceTable::People, ReferenceTable::OrgUnits],
            _ => &[],
        };
        let store = dir.reference().await?;
        let mut known = HashMap::new();
        for table in tables {
            known.insert(*table, store.keys(*table).await?.into_iter().collect());
        }
        store.close().await;
        Ok(Self { known })
    }

    /// The errors for every unknown id the record names.
    pub fn check(&self, record: &impl Refers) -> Vec<FieldError> {
        record
            .references()
            .into_iter()
            .filter(|(_, table, id)| self.known.get(table).is_some_and(|ids| !ids.contains(*id)))
            .map(|(field, table, id)| {
                FieldError::new(field, id, format!("unknown {} {id}", noun(table, field)))
            })
            .collect()
    }
}
