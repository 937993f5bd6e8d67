//! The error of one field of one record: which field, which value, and why.

use std::fmt;

/// Why one field of a record is invalid. `value` is the raw text as it arrived (truncated
/// for display), so a person can find and fix it in the source file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// Canonical field name, e.g. `csat` or `started_at`.
    pub field: String,
    /// The offending value as it arrived; empty when the field was missing.
    pub value: String,
    /// A sentence fragment saying why, e.g. `csat 7 is outside 1..=5`.
    pub reason: String,
}

impl FieldError {
    pub fn new(field: &str, value: &str, reason: impl Into<String>) -> Self {
        Self {
            field: field.to_owned(),
            value: truncate(value, 200),
            reason: reason.into(),
        }
    }

    /// A required field that is absent or empty.
    pub fn missing(field: &str) -> Self {
        Self::new(field, "", format!("{field} is required but missing"))
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

impl std::error::Error for FieldError {}

fn truncate(value: &str, max: usize) -> String {
    if value.len() <= max {
        return value.to_owned();
    }
    let mut end = max;
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &value[..end])
}

/// Collects the errors of one record's fields so a row reports every problem at once.
#[derive(Debug, Default)]
pub struct Errors(Vec<FieldError>);

impl Errors {
    pub fn push(&mut self, error: FieldError) {
        self.0.push(error);
    }

    /// Keeps the value of `result`, recording its error.
    pub fn take<T>(&mut self, result: Result<T, FieldError>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(error) => {
                self.0.push(error);
                None
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn into_result<T>(self, build: impl FnOnce() -> T) -> Result<T, Vec<FieldError>> {
        if self.0.is_empty() {
            Ok(build())
        } else {
            Err(self.0)
        }
    }
}
