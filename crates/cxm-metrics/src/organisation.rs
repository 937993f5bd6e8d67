//! The reference data the engine attributes facts with: the org tree, effective-dated
//! memberships, customers' segment and region, and the topic taxonomy.

use std::collections::HashMap;

use cxm_domain::{TopicKind, UnitLevel};
use cxm_sql::{ReferenceStore, ReferenceTable};

use crate::MetricsError;

/// One org unit.
#[derive(Debug, Clone, PartialEq)]
pub struct Unit {
    pub id: String,
    pub name: String,
    pub parent: Option<String>,
    pub level: String,
}

/// A person's membership of a unit over `[from, to)` (microseconds since the epoch, UTC).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Tenure {
    from: i64,
    to: Option<i64>,
    unit: usize,
}

/// A customer's attributes used for grouping.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CustomerInfo {
    pub segment: Option<String>,
    pub region: Option<String>,
    /// Microseconds since the epoch, UTC.
    pub joined_at: Option<i64>,
}

/// A topic's name, category and kind.
#[derive(Debug, Clone, PartialEq)]
pub struct TopicInfo {
    /// What people call it (the code when the taxonomy gives no name).
    pub name: String,
    pub category: String,
    pub complaint: bool,
    /// the taxonomy's kind: request, problem, complaint, compliment or sales
    pub kind: String,
}

/// The organisation as the engine sees it.
#[derive(Debug, Clone, Default)]
pub struct Organisation {
    units: Vec<Unit>,
    unit_index: HashMap<String, usize>,
    tenures: HashMap<String, Vec<Tenure>>,
    people: HashMap<String, (String, String)>,
    customers: HashMap<String, CustomerInfo>,
    topics: HashMap<String, TopicInfo>,
}

fn micros(text: &Option<String>) -> Option<i64> {
    text.as_deref()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.timestamp_micros())
}

impl Organisation {
    /// Reads the reference tables.
    pub async fn load(store: &dyn ReferenceStore) -> Result<Organisation, MetricsError> {
        Organisation::read(store, true).await
    }

    /// Reads the org tree, people, memberships and the topic taxonomy, not the customers:
    /// what grouping, filtering and naming need.
    pub async fn load_structure(store: &dyn ReferenceStore) -> Result<Organisation, MetricsError> {
        Organisation::read(store, false).await
    }

    async fn read(
        store: &dyn ReferenceStore,
        everything: bool,
    ) -> Result<Organisation, MetricsError> {
        let mut org = Organisation::default();
        for row in store.rows(ReferenceTable::OrgUnits).await? {
            let [id, name, parent, level] = &row.values[..] else {
                continue;
            };
            let Some(id) = id.clone() else { continue };
            org.unit_index.insert(id.clone(), org.units.len());
            org.units.push(Unit {
                id,
                name: name.clone().unwrap_or_default(),
                parent: parent.clone(),
                level: level.clone().unwrap_or_default(),
            });
        }
        for row in store.rows(ReferenceTable::People).await? {
            if let [Some(id), name, _, role] = &row.values[..] {
                org.people.insert(
                    id.clone(),
                    (
                        name.clone().unwrap_or_default(),
                        role.clone().unwrap_or_default(),
                    ),
                );
            }
        }
        for row in store.rows(ReferenceTable::Memberships).await? {
            let [_, Some(person), Some(unit), from, to] = &row.values[..] else {
                continue;
            };
            let (Some(&unit), Some(from)) = (org.unit_index.get(unit), micros(from)) else {
                continue;
            };
            org.tenures.entry(person.clone()).or_default().push(Tenure {
                from,
                to: micros(to),
                unit,
            });
        }
        for tenures in org.tenures.values_mut() {
            tenures.sort_by_key(|t| t.from);
        }
        for row in store.rows(ReferenceTable::Topics).await? {
            if let [Some(code), name, Some(category), Some(kind), _] = &row.values[..] {
                org.topics.insert(
                    code.clone(),
                    TopicInfo {
                        name: name.clone().unwrap_or_else(|| code.clone()),
                        category: category.clone(),
                        complaint: kind == TopicKind::Complaint.as_str(),
                        kind: kind.clone(),
                    },
                );
            }
        }
        if !everything {
            return Ok(org);
        }
        // Millions of rows: streamed, and only the columns grouping needs.
        let customers = &mut org.customers;
        store
            .each_row(
                ReferenceTable::Customers,
                &["customer_id", "segment", "region", "joined_at"],
                &mut |values| {
                    let mut values = values.into_iter();
                    let (Some(Some(id)), Some(segment), Some(region), Some(joined_at)) =
                        (values.next(), values.next(), values.next(), values.next())
                    else {
                        return;
                    };
                    customers.insert(
                        id,
                        CustomerInfo {
                            segment,
                            region,
                            joined_at: micros(&joined_at),
                        },
                    );
                },
            )
            .await?;
        Ok(org)
    }

    pub fn units(&self) -> &[Unit] {
        &self.units
    }

    pub fn unit(&self, id: &str) -> Option<&Unit> {
        self.unit_index.get(id).map(|&i| &self.units[i])
    }

    /// The unit `person` belonged to at `at` (microseconds, UTC): the membership with the
    /// latest start that covers the instant.
    pub fn unit_of(&self, person: &str, at: i64) -> Option<&str> {
        let tenures = self.tenures.get(person)?;
        tenures
            .iter()
            .rev()
            .find(|t| t.from <= at && t.to.is_none_or(|to| at < to))
            .map(|t| self.units[t.unit].id.as_str())
    }

    /// Every unit `person` has belonged to.
    pub fn units_of(&self, person: &str) -> Vec<&str> {
        let mut units: Vec<&str> = self
            .tenures
            .get(person)
            .into_iter()
            .flatten()
            .map(|t| self.units[t.unit].id.as_str())
            .collect();
        units.dedup();
        units
    }

    /// The unit's current (latest) membership for a person, if any.
    pub fn current_unit_of(&self, person: &str) -> Option<&str> {
        self.tenures
            .get(person)
            .and_then(|t| t.last())
            .map(|t| self.units[t.unit].id.as_str())
    }

    pub fn person(&self, id: &str) -> Option<(&str, &str)> {
        self.people
            .get(id)
            .map(|(name, role)| (name.as_str(), role.as_str()))
    }

    /// Every person: (id, name, role), in no particular order.
    pub fn people(&self) -> impl Iterator<Item = (&str, &str, &str)> {
        self.people
            .iter()
            .map(|(id, (name, role))| (id.as_str(), name.as_str(), role.as_str()))
    }

    /// The chain from `unit` up to the root, starting with `unit` itself.
    pub fn ancestors(&self, unit: &str) -> Vec<&Unit> {
        let mut chain = Vec::new();
        let mut current = self.unit(unit);
        while let Some(u) = current {
            if chain.len() > self.units.len() {
                break; // a cycle in bad reference data
            }
            chain.push(u);
            current = u.parent.as_deref().and_then(|p| self.unit(p));
        }
        chain
    }

    /// The ancestor (or the unit itself) at `level`.
    pub fn ancestor_at(&self, unit: &str, level: &str) -> Option<&Unit> {
        self.ancestors(unit).into_iter().find(|u| u.level == level)
    }

    /// The root of the tree when there is exactly one (the company).
    pub fn root(&self) -> Option<&Unit> {
        let mut roots = self
            .units
            .iter()
            .filter(|u| u.parent.as_deref().is_none_or(|p| self.unit(p).is_none()));
        match (roots.next(), roots.next()) {
            (Some(root), None) => Some(root),
            _ => None,
        }
    }

    /// Whether `unit` lies in the subtree of `top` (itself included).
    pub fn within(&self, unit: &str, top: &str) -> bool {
        self.ancestors(unit).iter().any(|u| u.id == top)
    }

    /// `top` and every unit below it.
    pub fn subtree<'a>(&'a self, top: &'a str) -> impl Iterator<Item = &'a Unit> + 'a {
        self.units.iter().filter(move |u| self.within(&u.id, top))
    }

    /// The unit's children.
    pub fn children(&self, unit: &str) -> Vec<&Unit> {
        self.units
            .iter()
            .filter(|u| u.parent.as_deref() == Some(unit))
            .collect()
    }

    pub fn customer(&self, id: &str) -> Option<&CustomerInfo> {
        self.customers.get(id)
    }

    pub fn customers(&self) -> impl Iterator<Item = (&String, &CustomerInfo)> {
        self.customers.iter()
    }

    pub fn topic(&self, code: &str) -> Option<&TopicInfo> {
        self.topics.get(code)
    }

    /// The unit levels known to the domain, deepest last.
    /// Every topic of the taxonomy: (code, info), in no particular order.
    pub fn topics(&self) -> impl Iterator<Item = (&str, &TopicInfo)> {
        self.topics.iter().map(|(code, info)| (code.as_str(), info))
    }

    pub fn levels() -> impl Iterator<Item = &'static str> {
        UnitLevel::ALL.iter().map(|l| l.as_str())
    }
}
