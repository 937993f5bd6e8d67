//! NDJSON: one JSON object per line, streamed line by line.

use std::borrow::Cow;
use std::io::{BufRead, Read};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use cxm_domain::{FieldError, Record};
use serde_json::{Map, Value};

use crate::{ColumnPlan, FileError, Input, Mapping, Rejection, RowResult, RowSource};

/// Longest line accepted (a row is one line); longer lines are rejected, not buffered.
const MAX_LINE_BYTES: usize = 16 * 1024 * 1024;

/// Rows of an NDJSON file as records of one kind. The columns are the keys of the first
/// object plus every source column the kind (or mapping) names.
pub struct NdjsonRows {
    lines: LineReader,
    plan: ColumnPlan,
    mapping: Mapping,
    /// The first object, read to learn the columns and not yet returned.
    pending_first: Option<(u64, Vec<u8>)>,
    consumed: Arc<AtomicU64>,
}

struct LineReader {
    path: PathBuf,
    reader: Box<dyn BufRead + Send>,
    line: Vec<u8>,
    line_no: u64,
}

impl LineReader {
    fn next(&mut self) -> Result<Line, FileError> {
        self.line.clear();
        let mut limited = (&mut self.reader).take(MAX_LINE_BYTES as u64 + 1);
        let read = limited
            .read_until(b'\n', &mut self.line)
            .map_err(|source| FileError::Io {
                path: self.path.clone(),
                source,
            })?;
        if read == 0 {
            return Ok(Line::End);
        }
        self.line_no += 1;
        if self.line.len() > MAX_LINE_BYTES {
            // skip the rest of the over-long line
            let mut rest = Vec::new();
            loop {
                rest.clear();
                let n = (&mut self.reader)
                    .take(1 << 20)
                    .read_until(b'\n', &mut rest)
                    .map_err(|source| FileError::Io {
                        path: self.path.clone(),
                        source,
                    })?;
                if n == 0 || rest.last() == Some(&b'\n') {
                    break;
                }
            }
            return Ok(Line::TooLong);
        }
        Ok(Line::Text)
    }
}

enum Line {
    End,
    TooLong,
    Text,
}

impl std::fmt::Debug for NdjsonRows {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NdjsonRows")
            .field("path", &self.lines.path)
            .field("columns", &self.plan.header())
            .finish()
    }
}

impl NdjsonRows {
    pub fn open(input: Input, mapping: &Mapping) -> Result<Self, FileError> {
        let path = input.path.clone();
        let consumed = input.progress();
        Self::from_reader(path, input.into_reader(), mapping, consumed)
    }

    pub fn from_reader(
        path: PathBuf,
        reader: Box<dyn BufRead + Send>,
        mapping: &Mapping,
        consumed: Arc<AtomicU64>,
    ) -> Result<Self, FileError> {
        let mut lines = LineReader {
            path: path.clone(),
            reader,
            line: Vec::new(),
            line_no: 0,
        };
        let first = loop {
            match lines.next()? {
                Line::End => {
                    return Err(FileError::NotReadable {
                        path,
                        reason: "is empty: no JSON object".to_owned(),
                    });
                }
                Line::TooLong => {
                    return Err(FileError::NotReadable {
                        path,
                        reason: format!("line {} is longer than 16 MiB", lines.line_no),
                    });
                }
                Line::Text if lines.line.iter().all(u8::is_ascii_whitespace) => continue,
                Line::Text => break lines.line.clone(),
            }
        };
        let object: Map<String, Value> =
            serde_json::from_slice(&first).map_err(|error| FileError::NotReadable {
                path: path.clone(),
                reason: format!(
                    "is not NDJSON: line {} is not a JSON object ({error})",
                    lines.line_no
                ),
            })?;
        let mut header: Vec<String> = object.keys().cloned().collect();
        for spec in mapping.kind().fields() {
            let source = mapping.source_column(spec.name);
            if !header.iter().any(|h| h == source)
                && mapping.constant(spec.name).is_none()
                && !spec.required
            {
                header.push(source.to_owned());
            }
        }
        for (_, source) in mapping.renamed_columns() {
            if !header.iter().any(|h| h == source) {
                header.push(source.to_owned());
            }
        }
        let plan = ColumnPlan::resolve(&path, header, mapping)?;
        let pending_first = Some((lines.line_no, first));
        Ok(Self {
            lines,
            plan,
            mapping: mapping.clone(),
            pending_first,
            consumed,
        })
    }

    fn parse_line<R: Record>(&self, line_no: u64, bytes: &[u8]) -> RowResult<R> {
        let text = std::str::from_utf8(bytes).map_err(|_| {
            Rejection::malformed(
                line_no,
                "line is not valid UTF-8 text".to_owned(),
                String::from_utf8_lossy(bytes).into_owned(),
            )
        })?;
        let object: Map<String, Value> = serde_json::from_str(text).map_err(|error| {
            Rejection::malformed(
                line_no,
                format!("line is not a JSON object: {error}"),
                text.trim_end().to_owned(),
            )
        })?;
        parse_object(&self.plan, &self.mapping, line_no, object)
    }

    pub fn plan(&self) -> &ColumnPlan {
        &self.plan
    }
}

/// One JSON object (an NDJSON line, or a record of an API batch) as a record of kind `R`:
/// values become field text, open columns (e.g. `rating_<attribute>`) count wherever they
/// appear, and every invalid field is reported.
pub(crate) fn parse_object<R: Record>(
    plan: &ColumnPlan,
    mapping: &Mapping,
    line_no: u64,
    object: Map<String, Value>,
) -> RowResult<R> {
    let separator = mapping.parse_context().list_separator;
    let mut errors = Vec::new();
    let owned: Vec<Option<Cow<'_, str>>> = plan
        .header()
        .iter()
        .map(|column| match object.get(column) {
            None | Some(Value::Null) => None,
            Some(value) => match json_text(value, separator) {
                Ok(text) => Some(text),
                Err(reason) => {
                    errors.push(FieldError::new(
                        column,
                        &value.to_string(),
                        format!("{column} {reason}"),
                    ));
                    None
                }
            },
        })
        .collect();
    if !errors.is_empty() {
        return Err(Rejection::new(line_no, errors, Value::Object(object)));
    }
    // Open columns (e.g. `rating_<attribute>`) first seen after line 1 still count.
    let kind = plan.kind();
    let mut late_extras: Vec<(&str, Cow<'_, str>)> = Vec::new();
    for (key, value) in &object {
        if kind.accepts_extra(key)
            && kind.field_index(key).is_none()
            && !plan.header().iter().any(|h| h == key)
        {
            match json_text(value, separator) {
                Ok(text) => late_extras.push((key.as_str(), text)),
                Err(reason) => errors.push(FieldError::new(
                    key,
                    &value.to_string(),
                    format!("{key} {reason}"),
                )),
            }
        }
    }
    if !errors.is_empty() {
        return Err(Rejection::new(
            line_no,
            errors,
            Value::Object(object.clone()),
        ));
    }
    let values: Vec<Option<&str>> = owned.iter().map(|v| v.as_deref()).collect();
    let row = WithExtras {
        row: plan.row(&values),
        extras: &late_extras,
    };
    R::parse(&row, mapping.parse_context())
        .map(|record| (line_no, record))
        .map_err(|errors| Rejection::new(line_no, errors, Value::Object(object.clone())))
}

/// A planned row plus open columns the plan did not know about.
struct WithExtras<'a, 'b> {
    row: crate::plan::PlannedRow<'a>,
    extras: &'b [(&'b str, Cow<'b, str>)],
}

impl cxm_domain::FieldSource for WithExtras<'_, '_> {
    fn get(&self, index: usize) -> Option<&str> {
        self.row.get(index)
    }

    fn for_each_extra(&self, visit: &mut dyn FnMut(&str, &str)) {
        self.row.for_each_extra(visit);
        for (name, value) in self.extras {
            visit(name, value);
        }
    }
}

/// A JSON value as field text: strings as they are, numbers and booleans in JSON notation,
/// arrays of scalars joined with the list separator.
fn json_text(value: &Value, separator: char) -> Result<Cow<'_, str>, String> {
    match value {
        Value::String(text) => Ok(Cow::Borrowed(text)),
        Value::Number(number) => Ok(Cow::Owned(number.to_string())),
        Value::Bool(flag) => Ok(Cow::Borrowed(if *flag { "true" } else { "false" })),
        Value::Null => Ok(Cow::Borrowed("")),
        Value::Array(items) => {
            let mut joined = String::new();
            for (index, item) in items.iter().enumerate() {
                let text = match item {
                    Value::String(text) if text.contains(separator) => {
                        return Err(format!(
                            "item {text:?} contains the list separator {separator:?}"
                        ));
                    }
                    Value::Array(_) | Value::Object(_) => {
                        return Err("is a nested list; expected a list of values".to_owned());
                    }
                    other => json_text(other, separator)?,
                };
                if index > 0 {
                    joined.push(separator);
                }
                joined.push_str(&text);
            }
            Ok(Cow::Owned(joined))
        }
        Value::Object(_) => Err("is an object; expected a value or a list".to_owned()),
    }
}

impl RowSource for NdjsonRows {
    fn next_record<R: Record>(&mut self) -> Result<Option<RowResult<R>>, FileError> {
        if let Some((line_no, bytes)) = self.pending_first.take() {
            return Ok(Some(self.parse_line(line_no, &bytes)));
        }
        loop {
            match self.lines.next()? {
                Line::End => return Ok(None),
                Line::TooLong => {
                    return Ok(Some(Err(Rejection::malformed(
                        self.lines.line_no,
                        "line is longer than 16 MiB".to_owned(),
                        String::new(),
                    ))));
                }
                Line::Text if self.lines.line.iter().all(u8::is_ascii_whitespace) => continue,
                Line::Text => {
                    let line = std::mem::take(&mut self.lines.line);
                    let result = self.parse_line(self.lines.line_no, &line);
                    self.lines.line = line;
                    return Ok(Some(result));
                }
            }
        }
    }

    fn bytes_read(&self) -> u64 {
        self.consumed.load(Ordering::Relaxed)
    }

    fn last_row(&self) -> serde_json::Value {
        serde_json::from_slice(&self.lines.line).unwrap_or_else(|_| {
            Value::String(String::from_utf8_lossy(&self.lines.line).into_owned())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cxm_domain::{RecordKind, SurveyResponse};

    fn rows(text: &str) -> Result<NdjsonRows, FileError> {
        NdjsonRows::from_reader(
            PathBuf::from("t.ndjson"),
            Box::new(std::io::Cursor::new(text.as_bytes().to_vec())),
            &Mapping::identity(RecordKind::Surveys),
            Arc::default(),
        )
    }

    #[test]
    fn reads_objects_lists_and_numbers_and_rejects_bad_lines() {
        let mut rows = rows(concat!(
            r#"{"response_id":"R1","survey":"csat","answered_at":"2024-01-01T10:00:00Z","customer_id":"C1","csat":5,"comment":"great"}"#, "\n",
            "\n",
            r#"{"response_id":"R2","survey":"csat","answered_at":"2024-01-01T10:00:00Z","customer_id":"C1","csat":9}"#, "\n",
            "not json\n",
            r#"{"response_id":"R3","survey":"nps","answered_at":"2024-01-01T10:00:00Z","customer_id":{"id":1},"nps":9}"#, "\n",
            r#"{"response_id":"R4","survey":"nps","answered_at":"2024-01-01T10:00:00Z","customer_id":"C9","nps":10}"#,
        ))
        .unwrap();
        let mut results = Vec::new();
        while let Some(row) = rows.next_record::<SurveyResponse>().unwrap() {
            results.push(
                row.map(|(line, r)| (line, r.response_id.to_string()))
                    .map_err(|r| (r.line, r.reasons())),
            );
        }
        assert_eq!(results[0], Ok((1, "R1".to_owned())));
        assert_eq!(results[1], Err((3, "csat 9 is outside 1..=5".to_owned())));
        assert!(
            matches!(&results[2], Err((4, reason)) if reason.starts_with("line is not a JSON object"))
        );
        assert_eq!(
            results[3],
            Err((
                5,
                "customer_id is an object; expected a value or a list".to_owned()
            ))
        );
        assert_eq!(results[4], Ok((6, "R4".to_owned())));
        assert_eq!(results.len(), 5);
    }

    #[test]
    fn ratings_first_seen_after_line_one_are_kept() {
        let mut rows = rows(concat!(
            r#"{"response_id":"R1","survey":"csat","answered_at":"2024-01-01T10:00:00Z","customer_id":"C1","csat":5}"#, "\n",
            r#"{"response_id":"R2","survey":"csat","answered_at":"2024-01-01T10:00:00Z","customer_id":"C1","csat":4,"rating_ease":2}"#, "\n",
        ))
        .unwrap();
        assert!(
            rows.next_record::<SurveyResponse>()
                .unwrap()
                .unwrap()
                .unwrap()
                .1
                .ratings
                .is_empty()
        );
        let (_, second) = rows
            .next_record::<SurveyResponse>()
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(second.ratings.len(), 1);
        assert_eq!(second.ratings[0].score, 2);
    }

    #[test]
    fn first_line_must_be_an_object_with_the_kind_columns() {
        assert!(
            rows("[1,2]\n")
                .unwrap_err()
                .to_string()
                .contains("is not NDJSON")
        );
        assert!(
            rows(r#"{"a":1}"#)
                .unwrap_err()
                .to_string()
                .contains("missing required columns response_id")
        );
        assert!(rows("").unwrap_err().to_string().contains("is empty"));
    }
}
