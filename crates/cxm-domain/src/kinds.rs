//! The closed vocabularies of the data model (channels, survey kinds, roles, …).
//!
//! Each parses from its canonical lowercase name (case-insensitively, surrounding blanks
//! ignored); a mapping's value map adapts any other spelling before it gets here.

use crate::FieldError;

macro_rules! vocabulary {
    ($(#[$meta:meta])* $name:ident, $what:literal { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The canonical name, as stored.
            #[inline]
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            /// Parses the canonical name of `field`, case-insensitively. Exact canonical
            /// names, by far the most common, are matched here (inlined into other
            /// crates' record readers); any other spelling by `parse_written`.
            #[inline]
            pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
                match raw {
                    $($text => Ok($name::$variant),)+
                    _ => Self::parse_written(field, raw),
                }
            }

            fn parse_written(field: &str, raw: &str) -> Result<Self, FieldError> {
                let text = crate::parse::trim(raw);
                $(if text.eq_ignore_ascii_case($text) {
                    return Ok($name::$variant);
                })+
                if text.is_empty() {
                    return Err(FieldError::missing(field));
                }
                Err(FieldError::new(
                    field,
                    raw,
                    format!(
                        "{field} {text:?} is not a known {}; expected one of {}",
                        $what,
                        [$($text),+].join(", ")
                    ),
                ))
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
pub(crate) use vocabulary;

vocabulary!(
    /// How the customer reached us.
    Channel, "channel" {
        Phone = "phone",
        Email = "email",
        Chat = "chat",
        Messaging = "messaging",
        Sms = "sms",
        Social = "social",
        Web = "web",
        Video = "video",
        InPerson = "in_person",
    }
);

vocabulary!(
    /// The kind of survey an answer belongs to.
    SurveyKind, "survey kind" {
        /// post-contact satisfaction survey (csat 1–5)
        Csat = "csat",
        /// net promoter survey (nps 0–10)
        Nps = "nps",
        /// customer effort survey (ces 1–7, 7 = very easy)
        Ces = "ces",
        /// periodic relationship survey: any of nps, csat, ces and attribute ratings
        Relationship = "relationship",
    }
);

vocabulary!(
    /// Direction of money in a transaction.
    TransactionKind, "transaction kind" {
        Purchase = "purchase",
        Refund = "refund",
    }
);

vocabulary!(
    /// A change of a customer's relationship with the company.
    CustomerEventKind, "customer event kind" {
        Joined = "joined",
        Churned = "churned",
        Reactivated = "reactivated",
    }
);

vocabulary!(
    /// Level of an org unit in the tree, from the top.
    UnitLevel, "unit level" {
        Company = "company",
        Division = "division",
        Site = "site",
        Department = "department",
        Team = "team",
    }
);

vocabulary!(
    /// What a person does in the organisation.
    PersonRole, "role" {
        Agent = "agent",
        Lead = "lead",
        Manager = "manager",
        Executive = "executive",
        Analyst = "analyst",
    }
);

vocabulary!(
    /// What a signed-in user may do and see: agents their own records and their team's
    /// aggregates, leads their team, managers their subtree, executives and analysts
    /// everything; only admins manage users.
    AccessRole, "access role" {
        Agent = "agent",
        Lead = "lead",
        Manager = "manager",
        Executive = "executive",
        Analyst = "analyst",
        Admin = "admin",
    }
);

vocabulary!(
    /// What kind of need a topic stands for.
    TopicKind, "topic kind" {
        Request = "request",
        Problem = "problem",
        Complaint = "complaint",
        Compliment = "compliment",
        Sales = "sales",
    }
);

impl UnitLevel {
    /// Depth of the level: a unit's parent must have a smaller depth.
    pub fn depth(self) -> u8 {
        match self {
            UnitLevel::Company => 0,
            UnitLevel::Division => 1,
            UnitLevel::Site => 2,
            UnitLevel::Department => 3,
            UnitLevel::Team => 4,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_case_insensitively_and_round_trips() {
        for channel in Channel::ALL {
            assert_eq!(
                Channel::parse("channel", channel.as_str()).unwrap(),
                *channel
            );
            let upper = channel.as_str().to_uppercase();
            assert_eq!(Channel::parse("channel", &upper).unwrap(), *channel);
        }
        assert_eq!(
            SurveyKind::parse("survey", " NPS ").unwrap(),
            SurveyKind::Nps
        );
    }

    #[test]
    fn unknown_value_names_the_choices() {
        let error = Channel::parse("channel", "Telephone").unwrap_err();
        assert_eq!(error.field, "channel");
        assert_eq!(error.value, "Telephone");
        assert!(error.reason.starts_with(
            "channel \"Telephone\" is not a known channel; expected one of phone, email"
        ));
        assert_eq!(
            Channel::parse("channel", "").unwrap_err().reason,
            "channel is required but missing"
        );
    }
}
