//! The records of the data model, each parsed from canonical field values.

mod facts;
mod reference;

pub use facts::{
    CustomerEvent, Interaction, InteractionFields, SurveyResponse, Topics, Transaction,
};
pub use reference::{Customer, Membership, OrgUnit, Person, Topic};

use crate::error::Errors;
use crate::fields::{FieldSource, RecordKind};
use crate::{FieldError, ParseContext};

/// A record of one kind: parsed and validated from field values, with the key that makes
/// ingestion idempotent and a hash of its content that tells replaced from unchanged.
pub trait Record: Sized {
    const KIND: RecordKind;

    /// Parses one record; on failure every invalid field is reported.
    fn parse(source: &impl FieldSource, ctx: &ParseContext) -> Result<Self, Vec<FieldError>>;

    /// The identity of the record: the same key ingested twice is stored once.
    fn key(&self) -> String;

    /// xxh3-64 of [`Record::key`], without building the key when it is a single id.
    fn key_hash(&self) -> u64 {
        xxhash_rust::xxh3::xxh3_64(self.key().as_bytes())
    }

    /// A stable hash of everything stored for the record (stable across releases: it is
    /// persisted to tell an unchanged re-delivery from a replacement).
    fn content_hash(&self) -> u64;
}

/// Reads one record's fields, collecting every error.
struct FieldReader<'a, S: FieldSource> {
    source: &'a S,
    kind: RecordKind,
    errors: Errors,
}

impl<'a, S: FieldSource> FieldReader<'a, S> {
    fn new(source: &'a S, kind: RecordKind) -> Self {
        Self {
            source,
            kind,
            errors: Errors::default(),
        }
    }

    fn name(&self, index: usize) -> &'static str {
        self.kind.fields()[index].name
    }

    fn raw(&self, index: usize) -> Option<&'a str> {
        self.source
            .get(index)
            .filter(|value| !crate::parse::trim(value).is_empty())
    }

    /// A value that must be present and valid.
    fn required<T>(
        &mut self,
        index: usize,
        parse: impl FnOnce(&str, &str) -> Result<T, FieldError>,
    ) -> Option<T> {
        let name = self.name(index);
        match self.raw(index) {
            Some(raw) => self.errors.take(parse(name, raw)),
            None => {
                self.errors.push(FieldError::missing(name));
                None
            }
        }
    }

    /// A value that may be missing; present values must be valid.
    fn optional<T>(
        &mut self,
        index: usize,
        parse: impl FnOnce(&str, &str) -> Result<T, FieldError>,
    ) -> Option<T> {
        let name = self.name(index);
        let raw = self.raw(index)?;
        self.errors.take(parse(name, raw))
    }

    fn fail(&mut self, error: FieldError) {
        self.errors.push(error);
    }

    /// The record when no field failed. `build` sees every required field parsed, so its
    /// `?`s never short-circuit; if one does, the row is rejected rather than a panic.
    fn finish<T>(self, build: impl FnOnce() -> Option<T>) -> Result<T, Vec<FieldError>> {
        let kind = self.kind;
        self.errors.into_result(build)?.ok_or_else(|| {
            vec![FieldError::new(
                kind.fields()[0].name,
                "",
                "record is incomplete",
            )]
        })
    }
}

/// Free text (names, comments, reasons): trimmed, control characters other than line breaks
/// and tabs rejected, length bounded.
fn parse_text(field: &str, raw: &str, max_len: usize) -> Result<String, FieldError> {
    let text = crate::parse::trim(raw);
    if text.len() > max_len {
        return Err(FieldError::new(
            field,
            raw,
            format!(
                "{field} is {} bytes long; at most {max_len} allowed",
                text.len()
            ),
        ));
    }
    if let Some(bad) = text
        .chars()
        .find(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(FieldError::new(
            field,
            raw,
            format!("{field} contains the control character {bad:?}"),
        ));
    }
    Ok(text.to_owned())
}

/// Builds a stable content hash (xxh3-64) of a record's stored values: the values are
/// written into one buffer (length-prefixed, so boundaries count) and hashed once. The
/// buffer is kept per thread, so hashing a row allocates nothing.
struct ContentHasher(Vec<u8>);

thread_local! {
    static HASH_BUFFER: std::cell::Cell<Vec<u8>> = const { std::cell::Cell::new(Vec::new()) };
}

impl Default for ContentHasher {
    fn default() -> Self {
        let mut buffer = HASH_BUFFER.take();
        buffer.clear();
        Self(buffer)
    }
}

impl Drop for ContentHasher {
    fn drop(&mut self) {
        HASH_BUFFER.set(std::mem::take(&mut self.0));
    }
}

impl ContentHasher {
    fn str(&mut self, value: &str) -> &mut Self {
        self.0
            .extend_from_slice(&(value.len() as u64).to_le_bytes());
        self.0.extend_from_slice(value.as_bytes());
        self
    }

    fn opt_str(&mut self, value: Option<&str>) -> &mut Self {
        match value {
            Some(value) => self.u64(1).str(value),
            None => self.u64(0),
        }
    }

    fn u64(&mut self, value: u64) -> &mut Self {
        self.0.extend_from_slice(&value.to_le_bytes());
        self
    }

    fn opt_u64(&mut self, value: Option<u64>) -> &mut Self {
        match value {
            Some(value) => self.u64(1).u64(value),
            None => self.u64(0),
        }
    }

    fn i64(&mut self, value: i64) -> &mut Self {
        self.u64(value as u64)
    }

    fn finish(&self) -> u64 {
        xxhash_rust::xxh3::xxh3_64(&self.0)
    }
}

#[cfg(test)]
pub(crate) mod test_support {
    use crate::fields::{FieldSource, RecordKind};

    /// Field values by canonical name, for tests.
    pub struct Row {
        values: Vec<Option<String>>,
        extras: Vec<(String, String)>,
    }

    impl Row {
        pub fn new(kind: RecordKind, pairs: &[(&str, &str)]) -> Self {
            let mut values = vec![None; kind.fields().len()];
            let mut extras = Vec::new();
            for (name, value) in pairs {
                match kind.field_index(name) {
                    Some(index) => values[index] = Some((*value).to_owned()),
                    None => extras.push(((*name).to_owned(), (*value).to_owned())),
                }
            }
            Self { values, extras }
        }
    }

    impl FieldSource for Row {
        fn get(&self, index: usize) -> Option<&str> {
            self.values[index].as_deref()
        }

        fn for_each_extra(&self, visit: &mut dyn FnMut(&str, &str)) {
            for (name, value) in &self.extras {
                visit(name, value);
            }
        }
    }
}
