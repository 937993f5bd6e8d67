//! Row-level scope: what each person may see, enforced where data is read.
//!
//! - agent: their own contacts, survey answers and scorecard, and only aggregates of their
//!   team (no breakdown by agent, no other person);
//! - lead: their team; manager: their unit's subtree (the unit they are responsible for,
//!   or else their current membership's unit);
//! - executive, analyst, admin and read tokens: everything.
//!
//! Every metric query, scorecard and record listing passes through [`Scope::narrow`] or
//! one of its siblings, which either tighten the request to the scope or refuse it.

use cxm_domain::AccessRole;
use cxm_metrics::records::Visible;
use cxm_metrics::{Dimension, Filters, Organisation, Subject};
use cxm_sql::User;

use crate::ApiError;
use crate::auth::Principal;

/// What one principal may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Everything.
    All,
    /// A unit and everything below it.
    Subtree { unit: String },
    /// One person's own records, and aggregates of their team.
    Own {
        person: String,
        team: Option<String>,
    },
    /// Nothing (a lead or manager without a unit, an agent without a person).
    Nothing { reason: String },
}

impl Scope {
    /// The scope of a principal in an organisation.
    pub fn of(principal: &Principal, org: &Organisation) -> Scope {
        match principal {
            Principal::Token(_) => Scope::All,
            Principal::User { user, .. } => Scope::of_user(user, org),
        }
    }

    pub fn of_user(user: &User, org: &Organisation) -> Scope {
        let unit_of_person = || {
            user.person_id
                .as_deref()
                .and_then(|person| org.current_unit_of(person))
                .map(str::to_owned)
        };
        match user.role {
            AccessRole::Executive | AccessRole::Analyst | AccessRole::Admin => Scope::All,
            AccessRole::Lead | AccessRole::Manager => {
                match user.unit_id.clone().or_else(unit_of_person) {
                    Some(unit) if org.unit(&unit).is_some() => Scope::Subtree { unit },
                    Some(unit) => Scope::Nothing {
                        reason: format!("your unit {unit} is not in the org tree"),
                    },
                    None => Scope::Nothing {
                        reason: format!(
                            "{} has no unit: set one with `cxm users set-role --unit`",
                            user.username
                        ),
                    },
                }
            }
            AccessRole::Agent => match &user.person_id {
                Some(person) => Scope::Own {
                    person: person.clone(),
                    team: unit_of_person(),
                },
                None => Scope::Nothing {
                    reason: format!("{} is not linked to a person", user.username),
                },
            },
        }
    }

    fn refuse(&self, what: &str) -> ApiError {
        match self {
            Scope::Nothing { reason } => ApiError::Forbidden(reason.clone()),
            _ => ApiError::Forbidden(format!("{what} is outside your scope")),
        }
    }

    /// Whether `unit` may be seen as an aggregate.
    pub fn sees_unit(&self, org: &Organisation, unit: &str) -> bool {
        match self {
            Scope::All => true,
            Scope::Subtree { unit: top } => org.within(unit, top),
            Scope::Own { team, .. } => team.as_deref() == Some(unit),
            Scope::Nothing { .. } => false,
        }
    }

    /// Whether a person's own records and scorecard may be seen: for a lead or manager,
    /// the people currently in their subtree (a person's scorecard covers all their
    /// contacts, so someone who moved in from elsewhere brings theirs along, and someone
    /// who moved away is no longer theirs to see).
    pub fn sees_person(&self, org: &Organisation, person: &str) -> bool {
        match self {
            Scope::All => true,
            Scope::Subtree { unit: top } => org
                .current_unit_of(person)
                .is_some_and(|unit| org.within(unit, top)),
            Scope::Own { person: own, .. } => own == person,
            Scope::Nothing { .. } => false,
        }
    }

    /// Narrows a metric query's filters to the scope, or refuses it. A lead's or manager's
    /// query is always limited to their subtree (also when it names a person, so contacts
    /// a person made elsewhere stay hidden); an agent asks about themselves, or about their
    /// team as a whole.
    pub fn narrow(
        &self,
        org: &Organisation,
        filters: &Filters,
        by: &[Dimension],
    ) -> Result<Filters, ApiError> {
        let mut narrowed = filters.clone();
        match self {
            Scope::All => {}
            Scope::Nothing { .. } => return Err(self.refuse("this")),
            Scope::Subtree { unit: top } => {
                match &filters.unit {
                    Some(unit) if !org.within(unit, top) => {
                        return Err(self.refuse(&format!("unit {unit}")));
                    }
                    Some(_) => {}
                    None => narrowed.unit = Some(top.clone()),
                }
                if let Some(person) = &filters.person
                    && !self.sees_person(org, person)
                {
                    return Err(self.refuse(&format!("person {person}")));
                }
            }
            Scope::Own { person, team } => match &filters.person {
                Some(asked) if asked != person => {
                    return Err(self.refuse(&format!("person {asked}")));
                }
                Some(_) => {}
                None => {
                    if by.contains(&Dimension::Agent) {
                        return Err(ApiError::Forbidden(
                            "agents see their team's aggregates, not other agents' figures".into(),
                        ));
                    }
                    let Some(team) = team else {
                        return Err(ApiError::Forbidden(
                            "you have no team; ask about yourself (person=<your id>)".into(),
                        ));
                    };
                    match &filters.unit {
                        Some(unit) if unit != team => {
                            return Err(self.refuse(&format!("unit {unit}")));
                        }
                        _ => narrowed.unit = Some(team.clone()),
                    }
                }
            },
        }
        Ok(narrowed)
    }

    /// Refuses a scorecard outside the scope.
    pub fn check_subject(&self, org: &Organisation, subject: &Subject) -> Result<(), ApiError> {
        let (seen, what) = match subject {
            Subject::Unit(unit) => (self.sees_unit(org, unit), format!("unit {unit}")),
            Subject::Person(person) => (self.sees_person(org, person), format!("person {person}")),
        };
        if seen {
            Ok(())
        } else {
            Err(self.refuse(&what))
        }
    }

    /// Which contacts and answers may be listed: all, those attributed to a unit of the
    /// subtree, or the agent's own.
    pub fn visible_records(&self, org: &Organisation) -> Result<Visible, ApiError> {
        match self {
            Scope::All => Ok(Visible::All),
            Scope::Subtree { unit: top } => Ok(Visible::Units(
                org.subtree(top).map(|u| u.id.clone()).collect(),
            )),
            Scope::Own { person, .. } => Ok(Visible::Agent(person.clone())),
            Scope::Nothing { .. } => Err(self.refuse("records")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(role: AccessRole, person: Option<&str>, unit: Option<&str>) -> User {
        User {
            username: "u".into(),
            display_name: "U".into(),
            role,
            person_id: person.map(str::to_owned),
            unit_id: unit.map(str::to_owned),
            disabled: false,
            created_at: String::new(),
        }
    }

    #[test]
    fn roles_without_a_place_see_nothing() {
        let org = Organisation::default();
        assert!(matches!(
            Scope::of_user(&user(AccessRole::Lead, None, None), &org),
            Scope::Nothing { .. }
        ));
        assert!(matches!(
            Scope::of_user(&user(AccessRole::Agent, None, None), &org),
            Scope::Nothing { .. }
        ));
        assert_eq!(
            Scope::of_user(&user(AccessRole::Analyst, None, None), &org),
            Scope::All
        );
    }

    #[test]
    fn agents_ask_about_themselves_or_their_whole_team() {
        let org = Organisation::default();
        let scope = Scope::Own {
            person: "A-1".into(),
            team: Some("T1".into()),
        };
        let mine = Filters {
            person: Some("A-1".into()),
            ..Filters::default()
        };
        assert_eq!(
            scope.narrow(&org, &mine, &[Dimension::Agent]).unwrap(),
            mine
        );
        let team = scope.narrow(&org, &Filters::default(), &[]).unwrap();
        assert_eq!(team.unit.as_deref(), Some("T1"));
        let other = Filters {
            person: Some("A-2".into()),
            ..Filters::default()
        };
        assert!(scope.narrow(&org, &other, &[]).is_err());
        assert!(
            scope
                .narrow(&org, &Filters::default(), &[Dimension::Agent])
                .is_err()
        );
        let elsewhere = Filters {
            unit: Some("T2".into()),
            ..Filters::default()
        };
        assert!(scope.narrow(&org, &elsewhere, &[]).is_err());
    }
}
