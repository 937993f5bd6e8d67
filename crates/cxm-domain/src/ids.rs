//! External identifiers of records (contacts, customers, agents, topics, units).

use std::fmt;

use compact_str::CompactString;

use crate::FieldError;

/// Longest identifier accepted, in bytes.
pub const MAX_ID_LEN: usize = 128;

/// An identifier from an outside system: non-empty after trimming, at most
/// [`MAX_ID_LEN`] bytes, no control characters and no `;` (the list separator).
/// Ids of up to 24 bytes (nearly all) are stored inline, without an allocation.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RecordId(CompactString);

impl RecordId {
    #[inline]
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        Self::check(field, raw).map(Self::from_checked)
    }

    /// The id `raw` holds, as text (trimmed): what [`RecordId::parse`] would store, without
    /// copying it.
    #[inline]
    pub fn check<'a>(field: &str, raw: &'a str) -> Result<&'a str, FieldError> {
        // Inlined into the record readers of other crates: printable ASCII without the
        // list separator is always valid; anything else is checked by `check_written`.
        let id = crate::parse::trim(raw);
        let plain = id.bytes().all(|b| (0x20..0x7f).contains(&b) && b != b';');
        if plain && !id.is_empty() && id.len() <= MAX_ID_LEN {
            return Ok(id);
        }
        Self::check_written(field, raw)
    }

    fn check_written<'a>(field: &str, raw: &'a str) -> Result<&'a str, FieldError> {
        let id = crate::parse::trim(raw);
        if id.is_empty() {
            return Err(FieldError::missing(field));
        }
        if id.len() > MAX_ID_LEN {
            return Err(FieldError::new(
                field,
                raw,
                format!(
                    "{field} is {} bytes long; at most {MAX_ID_LEN} allowed",
                    id.len()
                ),
            ));
        }
        if let Some(bad) = id.chars().find(|c| c.is_control() || *c == ';') {
            return Err(FieldError::new(
                field,
                raw,
                format!("{field} {id:?} contains the character {bad:?}, not allowed in an id"),
            ));
        }
        Ok(id)
    }

    /// An id from text [`RecordId::check`] accepted.
    #[inline]
    pub(crate) fn from_checked(id: &str) -> Self {
        Self(CompactString::new(id))
    }

    #[inline]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0.into_string()
    }
}

impl fmt::Display for RecordId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for RecordId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn trims_and_rejects_empty_and_controls() {
        assert_eq!(
            RecordId::parse("agent_id", "  A-1 ").unwrap().as_str(),
            "A-1"
        );
        assert_eq!(
            RecordId::parse("agent_id", "  ").unwrap_err().reason,
            "agent_id is required but missing"
        );
        assert!(RecordId::parse("agent_id", "A\u{0}1").is_err());
        assert!(RecordId::parse("topics", "a;b").is_err());
        assert!(RecordId::parse("x", &"a".repeat(129)).is_err());
        assert!(RecordId::parse("x", &"a".repeat(128)).is_ok());
        assert_eq!(RecordId::check("agent_id", " A-1\t"), Ok("A-1"));
    }

    proptest! {
        #[test]
        fn parse_never_panics_and_accepts_clean_ids(s in "\\PC*") {
            let _ = RecordId::parse("id", &s);
        }

        #[test]
        fn clean_ids_round_trip(s in "[A-Za-z0-9_.:-]{1,128}") {
            let id = RecordId::parse("id", &s).unwrap();
            prop_assert_eq!(id.as_str(), s.as_str());
        }
    }
}
