//! A row that was not accepted, with everything needed to find and fix it.

use cxm_domain::FieldError;
use serde::Serialize;

/// A rejected row: where it was, what was wrong, and the row itself so nothing is lost.
#[derive(Debug, Clone, Serialize)]
pub struct Rejection {
    /// 1-based line of the row in the (decompressed) file; for Parquet, the 1-based row.
    pub line: u64,
    pub errors: Vec<RejectedField>,
    /// The row as read, column name → value (or the raw text when it could not be split).
    pub record: serde_json::Value,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RejectedField {
    pub field: String,
    pub value: String,
    pub reason: String,
}

impl From<FieldError> for RejectedField {
    fn from(error: FieldError) -> Self {
        Self {
            field: error.field,
            value: error.value,
            reason: error.reason,
        }
    }
}

impl Rejection {
    pub fn new(line: u64, errors: Vec<FieldError>, record: serde_json::Value) -> Self {
        Self {
            line,
            errors: errors.into_iter().map(Into::into).collect(),
            record,
        }
    }

    /// A row that could not even be split into fields.
    pub fn malformed(line: u64, reason: String, raw: String) -> Self {
        Self {
            line,
            errors: vec![RejectedField {
                field: String::new(),
                value: String::new(),
                reason,
            }],
            record: serde_json::Value::String(raw),
        }
    }

    /// All reasons in one line, e.g. for a terminal.
    pub fn reasons(&self) -> String {
        self.errors
            .iter()
            .map(|e| e.reason.as_str())
            .collect::<Vec<_>>()
            .join("; ")
    }
}
