//! Reference records: customers, the org tree, people, memberships and the topic taxonomy.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::{ContentHasher, FieldReader, Record, parse_text};
use crate::fields::{FieldSource, RecordKind};
use crate::{FieldError, ParseContext, PersonRole, RecordId, TopicKind, UnitLevel};

/// A customer of the company.
#[derive(Debug, Clone, PartialEq)]
pub struct Customer {
    pub customer_id: RecordId,
    /// e.g. consumer, small_business, premium.
    pub segment: Option<String>,
    pub region: Option<String>,
    pub joined_at: Option<DateTime<Utc>>,
    /// Any further columns of the export, kept by name.
    pub attributes: BTreeMap<String, String>,
}

impl Record for Customer {
    const KIND: RecordKind = RecordKind::Customers;

    fn parse(source: &impl FieldSource, ctx: &ParseContext) -> Result<Self, Vec<FieldError>> {
        let mut f = FieldReader::new(source, Self::KIND);
        let customer_id = f.required(0, RecordId::parse);
        let segment = f.optional(1, |n, r| parse_text(n, r, 100));
        let region = f.optional(2, |n, r| parse_text(n, r, 100));
        let joined_at = f.optional(3, |n, r| ctx.timestamps.parse_date_or_timestamp(n, r));
        let mut attributes = BTreeMap::new();
        let mut errors = Vec::new();
        source.for_each_extra(&mut |column, raw| match parse_text(column, raw, 1_000) {
            Ok(value) if !value.is_empty() => {
                attributes.insert(column.to_owned(), value);
            }
            Ok(_) => {}
            Err(error) => errors.push(error),
        });
        errors.into_iter().for_each(|error| f.fail(error));
        f.finish(|| {
            Some(Customer {
                customer_id: customer_id?,
                segment,
                region,
                joined_at,
                attributes,
            })
        })
    }

    fn key(&self) -> String {
        self.customer_id.as_str().to_owned()
    }

    fn content_hash(&self) -> u64 {
        let mut h = ContentHasher::default();
        h.str(self.customer_id.as_str())
            .opt_str(self.segment.as_deref())
            .opt_str(self.region.as_deref())
            .opt_u64(self.joined_at.map(|t| t.timestamp_micros() as u64))
            .u64(self.attributes.len() as u64);
        for (name, value) in &self.attributes {
            h.str(name).str(value);
        }
        h.finish()
    }
}

/// A unit of the organisation: company, division, site, department or team.
#[derive(Debug, Clone, PartialEq)]
pub struct OrgUnit {
    pub unit_id: RecordId,
    pub name: String,
    /// The unit above; `None` for the root (the company).
    pub parent_id: Option<RecordId>,
    pub level: UnitLevel,
}

impl Record for OrgUnit {
    const KIND: RecordKind = RecordKind::OrgUnits;

    fn parse(source: &impl FieldSource, _ctx: &ParseContext) -> Result<Self, Vec<FieldError>> {
        let mut f = FieldReader::new(source, Self::KIND);
        let unit_id = f.required(0, RecordId::parse);
        let name = f.required(1, |n, r| parse_text(n, r, 200));
        let parent_id = f.optional(2, RecordId::parse);
        let level = f.required(3, UnitLevel::parse);
        if let (Some(unit), Some(parent)) = (&unit_id, &parent_id)
            && unit == parent
        {
            f.fail(FieldError::new(
                "parent_id",
                parent.as_str(),
                format!("unit {unit} cannot be its own parent"),
            ));
        }
        f.finish(|| {
            Some(OrgUnit {
                unit_id: unit_id?,
                name: name?,
                parent_id,
                level: level?,
            })
        })
    }

    fn key(&self) -> String {
        self.unit_id.as_str().to_owned()
    }

    fn content_hash(&self) -> u64 {
        let mut h = ContentHasher::default();
        h.str(self.unit_id.as_str())
            .str(&self.name)
            .opt_str(self.parent_id.as_ref().map(RecordId::as_str))
            .str(self.level.as_str());
        h.finish()
    }
}

/// An employee: agent, lead, manager, executive or analyst.
#[derive(Debug, Clone, PartialEq)]
pub struct Person {
    pub person_id: RecordId,
    pub name: String,
    pub email: Option<String>,
    pub role: PersonRole,
}

fn parse_email(field: &str, raw: &str) -> Result<String, FieldError> {
    let email = raw.trim();
    let valid = email.len() <= 254
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && !domain.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        });
    if valid {
        Ok(email.to_owned())
    } else {
        Err(FieldError::new(
            field,
            raw,
            format!("{field} {email:?} is not an email address"),
        ))
    }
}

impl Record for Person {
    const KIND: RecordKind = RecordKind::People;

    fn parse(source: &impl FieldSource, _ctx: &ParseContext) -> Result<Self, Vec<FieldError>> {
        let mut f = FieldReader::new(source, Self::KIND);
        let person_id = f.required(0, RecordId::parse);
        let name = f.required(1, |n, r| parse_text(n, r, 200));
        let email = f.optional(2, parse_email);
        let role = f.required(3, PersonRole::parse);
        f.finish(|| {
            Some(Person {
                person_id: person_id?,
                name: name?,
                email,
                role: role?,
            })
        })
    }

    fn key(&self) -> String {
        self.person_id.as_str().to_owned()
    }

    fn content_hash(&self) -> u64 {
        let mut h = ContentHasher::default();
        h.str(self.person_id.as_str())
            .str(&self.name)
            .opt_str(self.email.as_deref())
            .str(self.role.as_str());
        h.finish()
    }
}

/// A person's membership of a unit over a period `[valid_from, valid_to)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Membership {
    pub person_id: RecordId,
    pub unit_id: RecordId,
    pub valid_from: DateTime<Utc>,
    /// End (exclusive); `None` while current.
    pub valid_to: Option<DateTime<Utc>>,
}

impl Membership {
    /// Whether the membership holds at `instant`.
    pub fn covers(&self, instant: DateTime<Utc>) -> bool {
        self.valid_from <= instant && self.valid_to.is_none_or(|end| instant < end)
    }
}

impl Record for Membership {
    const KIND: RecordKind = RecordKind::Memberships;

    fn parse(source: &impl FieldSource, ctx: &ParseContext) -> Result<Self, Vec<FieldError>> {
        let mut f = FieldReader::new(source, Self::KIND);
        let person_id = f.required(0, RecordId::parse);
        let unit_id = f.required(1, RecordId::parse);
        let valid_from = f.required(2, |n, r| ctx.timestamps.parse_date_or_timestamp(n, r));
        let valid_to = f.optional(3, |n, r| ctx.timestamps.parse_date_or_timestamp(n, r));
        if let (Some(from), Some(to)) = (valid_from, valid_to)
            && to <= from
        {
            f.fail(FieldError::new(
                "valid_to",
                &to.to_rfc3339(),
                format!(
                    "valid_to {} is not after valid_from {}",
                    to.to_rfc3339(),
                    from.to_rfc3339()
                ),
            ));
        }
        f.finish(|| {
            Some(Membership {
                person_id: person_id?,
                unit_id: unit_id?,
                valid_from: valid_from?,
                valid_to,
            })
        })
    }

    /// A person joins a unit at most once at one instant (`;` never occurs inside an id).
    fn key(&self) -> String {
        format!(
            "{};{};{}",
            self.person_id,
            self.unit_id,
            self.valid_from.timestamp_micros()
        )
    }

    fn content_hash(&self) -> u64 {
        let mut h = ContentHasher::default();
        h.str(&self.key())
            .opt_u64(self.valid_to.map(|t| t.timestamp_micros() as u64));
        h.finish()
    }
}

/// One topic of the taxonomy customers contact us about.
#[derive(Debug, Clone, PartialEq)]
pub struct Topic {
    pub code: RecordId,
    pub name: String,
    /// e.g. billing, technical, account, sales.
    pub category: String,
    pub kind: TopicKind,
    /// Words that suggest the topic in customers' comments.
    pub keywords: Vec<String>,
}

impl Record for Topic {
    const KIND: RecordKind = RecordKind::Topics;

    fn parse(source: &impl FieldSource, ctx: &ParseContext) -> Result<Self, Vec<FieldError>> {
        let mut f = FieldReader::new(source, Self::KIND);
        let code = f.required(0, RecordId::parse);
        let name = f.required(1, |n, r| parse_text(n, r, 200));
        let category = f.required(2, |n, r| parse_text(n, r, 100));
        let kind = f.required(3, TopicKind::parse);
        let keywords = f
            .optional(4, |n, r| {
                ctx.split_list(r)
                    .map(|k| parse_text(n, k, 100))
                    .collect::<Result<Vec<_>, _>>()
            })
            .unwrap_or_default();
        f.finish(|| {
            Some(Topic {
                code: code?,
                name: name?,
                category: category?,
                kind: kind?,
                keywords,
            })
        })
    }

    fn key(&self) -> String {
        self.code.as_str().to_owned()
    }

    fn content_hash(&self) -> u64 {
        let mut h = ContentHasher::default();
        h.str(self.code.as_str())
            .str(&self.name)
            .str(&self.category)
            .str(self.kind.as_str())
            .u64(self.keywords.len() as u64);
        for keyword in &self.keywords {
            h.str(keyword);
        }
        h.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::test_support::Row;

    fn parse<R: Record>(pairs: &[(&str, &str)]) -> Result<R, Vec<FieldError>> {
        R::parse(&Row::new(R::KIND, pairs), &ParseContext::default())
    }

    #[test]
    fn customers_keep_extra_attributes() {
        let customer: Customer = parse(&[
            ("customer_id", "C-1"),
            ("segment", "premium"),
            ("joined_at", "2020-01-31"),
            ("plan", "gold"),
        ])
        .unwrap();
        assert_eq!(
            customer.attributes.get("plan").map(String::as_str),
            Some("gold")
        );
        assert_eq!(
            customer.joined_at.unwrap().to_rfc3339(),
            "2020-01-31T00:00:00+00:00"
        );
    }

    #[test]
    fn units_people_memberships_topics_validate() {
        assert!(
            parse::<OrgUnit>(&[
                ("unit_id", "T1"),
                ("name", "Team 1"),
                ("parent_id", "T1"),
                ("level", "team")
            ])
            .unwrap_err()[0]
                .reason
                .contains("cannot be its own parent")
        );
        assert!(
            parse::<OrgUnit>(&[("unit_id", "S1"), ("name", "Site"), ("level", "galaxy")]).is_err()
        );
        assert!(
            parse::<Person>(&[
                ("person_id", "A-1"),
                ("name", "Ana"),
                ("email", "ana@example"),
                ("role", "agent")
            ])
            .unwrap_err()[0]
                .reason
                .contains("is not an email address")
        );
        assert!(
            parse::<Person>(&[
                ("person_id", "A-1"),
                ("name", "Ana"),
                ("email", "ana@example.com"),
                ("role", "lead")
            ])
            .is_ok()
        );
        let membership: Membership = parse(&[
            ("person_id", "A-1"),
            ("unit_id", "T1"),
            ("valid_from", "2024-01-01"),
            ("valid_to", "2024-02-01"),
        ])
        .unwrap();
        assert!(membership.covers("2024-01-31T23:59:59Z".parse().unwrap()));
        assert!(!membership.covers("2024-02-01T00:00:00Z".parse().unwrap()));
        assert!(
            parse::<Membership>(&[
                ("person_id", "A-1"),
                ("unit_id", "T1"),
                ("valid_from", "2024-02-01"),
                ("valid_to", "2024-02-01")
            ])
            .unwrap_err()[0]
                .reason
                .contains("is not after valid_from")
        );
        let topic: Topic = parse(&[
            ("code", "billing.refund"),
            ("name", "Refund"),
            ("category", "billing"),
            ("kind", "request"),
            ("keywords", "refund;money back"),
        ])
        .unwrap();
        assert_eq!(topic.keywords, ["refund", "money back"]);
    }
}
