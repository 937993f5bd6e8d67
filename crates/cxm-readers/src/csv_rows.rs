//! CSV with a header row, streamed record by record.

use std::io::BufRead;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use csv::ByteRecord;
use cxm_domain::{FieldError, Record};

use crate::{ColumnPlan, FileError, Format, Input, Mapping, Rejection, RowResult, RowSource};

/// Rows of a CSV file as records of one kind.
pub struct CsvRows {
    path: PathBuf,
    reader: csv::Reader<Box<dyn BufRead + Send>>,
    plan: ColumnPlan,
    mapping: Mapping,
    record: ByteRecord,
    consumed: Arc<AtomicU64>,
}

impl std::fmt::Debug for CsvRows {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CsvRows")
            .field("path", &self.path)
            .field("columns", &self.plan.header())
            .finish()
    }
}

impl CsvRows {
    /// Reads the header and resolves it against the kind and mapping.
    pub fn open(input: Input, mapping: &Mapping) -> Result<Self, FileError> {
        let delimiter = match input.format {
            Format::Csv { delimiter } => delimiter,
            _ => b',',
        };
        let path = input.path.clone();
        let consumed = input.progress();
        Self::from_reader(path, input.into_reader(), delimiter, mapping, consumed)
    }

    /// CSV from any reader (tests, fuzzing).
    pub fn from_reader(
        path: PathBuf,
        reader: Box<dyn BufRead + Send>,
        delimiter: u8,
        mapping: &Mapping,
        consumed: Arc<AtomicU64>,
    ) -> Result<Self, FileError> {
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .flexible(true)
            .has_headers(true)
            .buffer_capacity(256 * 1024)
            .from_reader(reader);
        let header = reader
            .byte_headers()
            .map_err(|error| csv_error(&path, error))?
            .clone();
        if header.is_empty() || header.iter().all(<[u8]>::is_empty) {
            return Err(FileError::NotReadable {
                path,
                reason: "is empty: no header row".to_owned(),
            });
        }
        let header = header
            .iter()
            .enumerate()
            .map(|(index, column)| {
                std::str::from_utf8(column)
                    .map(|c| c.trim().to_owned())
                    .map_err(|_| FileError::NotReadable {
                        path: path.clone(),
                        reason: format!("header column {} is not UTF-8 text", index + 1),
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let plan = ColumnPlan::resolve(&path, header, mapping)?;
        Ok(Self {
            path,
            reader,
            plan,
            mapping: mapping.clone(),
            record: ByteRecord::new(),
            consumed,
        })
    }

    pub fn plan(&self) -> &ColumnPlan {
        &self.plan
    }
}

fn csv_error(path: &std::path::Path, error: csv::Error) -> FileError {
    match error.into_kind() {
        csv::ErrorKind::Io(source) => FileError::Io {
            path: path.to_owned(),
            source,
        },
        other => FileError::NotReadable {
            path: path.to_owned(),
            reason: format!("is not valid CSV: {other:?}"),
        },
    }
}

/// The row as read, for the quarantine: header name → value.
fn row_as_json(header: &[String], values: &[Option<&str>]) -> serde_json::Value {
    let mut object = serde_json::Map::with_capacity(header.len());
    for (name, value) in header.iter().zip(values) {
        object.insert(
            name.clone(),
            value.map_or(serde_json::Value::Null, |v| {
                serde_json::Value::String(v.to_owned())
            }),
        );
    }
    serde_json::Value::Object(object)
}

impl RowSource for CsvRows {
    fn next_record<R: Record>(&mut self) -> Result<Option<RowResult<R>>, FileError> {
        match self.reader.read_byte_record(&mut self.record) {
            Ok(false) => return Ok(None),
            Ok(true) => {}
            Err(error) => return Err(csv_error(&self.path, error)),
        }
        let line = self.record.position().map_or(0, csv::Position::line);
        let header = self.plan.header();
        let mut values: Vec<Option<&str>> = Vec::with_capacity(header.len());
        let mut invalid_utf8 = None;
        for (index, bytes) in self.record.iter().enumerate() {
            match std::str::from_utf8(bytes) {
                Ok(text) => values.push(if text.is_empty() { None } else { Some(text) }),
                Err(_) => {
                    invalid_utf8.get_or_insert(index);
                    values.push(None);
                }
            }
        }
        if values.len() != header.len() {
            let raw = self
                .record
                .iter()
                .map(String::from_utf8_lossy)
                .collect::<Vec<_>>()
                .join(",");
            let reason = format!(
                "row has {} fields; the header has {}",
                values.len(),
                header.len()
            );
            return Ok(Some(Err(Rejection::malformed(line, reason, raw))));
        }
        if let Some(index) = invalid_utf8 {
            let column = &header[index];
            let value = String::from_utf8_lossy(&self.record[index]).into_owned();
            let error =
                FieldError::new(column, &value, format!("{column} is not valid UTF-8 text"));
            return Ok(Some(Err(Rejection::new(
                line,
                vec![error],
                row_as_json(header, &values),
            ))));
        }
        let result = R::parse(&self.plan.row(&values), self.mapping.parse_context())
            .map(|record| (line, record))
            .map_err(|errors| Rejection::new(line, errors, row_as_json(header, &values)));
        Ok(Some(result))
    }

    fn bytes_read(&self) -> u64 {
        self.consumed.load(Ordering::Relaxed)
    }

    fn last_row(&self) -> serde_json::Value {
        let values: Vec<Option<String>> = self
            .record
            .iter()
            .map(|v| Some(String::from_utf8_lossy(v).into_owned()))
            .collect();
        let values: Vec<Option<&str>> = values.iter().map(|v| v.as_deref()).collect();
        row_as_json(self.plan.header(), &values)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cxm_domain::{Interaction, RecordKind};

    fn rows(text: &str) -> Result<CsvRows, FileError> {
        CsvRows::from_reader(
            PathBuf::from("t.csv"),
            Box::new(std::io::Cursor::new(text.as_bytes().to_vec())),
            b',',
            &Mapping::identity(RecordKind::Interactions),
            Arc::default(),
        )
    }

    #[test]
    fn keeps_valid_neighbours_of_bad_rows() {
        let mut rows = rows(
            "interaction_id,customer_id,agent_id,channel,started_at,hold_seconds,topics\n\
             I1,C1,A1,phone,2024-01-01T10:00:00Z,30,billing;refund\n\
             I2,C1,A1,fax,2024-01-01T11:00:00Z,30,\n\
             I3,C2,A2,chat\n\
             \"I4\",C3,A1,email,2024-01-02T10:00:00+01:00,,\"a;b\"\n",
        )
        .unwrap();
        let mut accepted = Vec::new();
        let mut rejected = Vec::new();
        while let Some(row) = rows.next_record::<Interaction>().unwrap() {
            match row {
                Ok((line, record)) => accepted.push((line, record.interaction_id.to_string())),
                Err(rejection) => rejected.push((rejection.line, rejection.reasons())),
            }
        }
        assert_eq!(accepted, [(2, "I1".to_owned()), (5, "I4".to_owned())]);
        assert_eq!(rejected.len(), 2);
        assert_eq!(rejected[0].0, 3);
        assert!(
            rejected[0]
                .1
                .contains("channel \"fax\" is not a known channel")
        );
        assert_eq!(
            rejected[1],
            (4, "row has 4 fields; the header has 7".to_owned())
        );
    }

    #[test]
    fn invalid_utf8_rejects_only_that_row() {
        let bytes = b"interaction_id,customer_id,agent_id,channel,started_at\nI1,C\xff,A1,phone,2024-01-01T10:00:00Z\nI2,C2,A1,phone,2024-01-01T10:00:00Z\n".to_vec();
        let mut rows = CsvRows::from_reader(
            PathBuf::from("t.csv"),
            Box::new(std::io::Cursor::new(bytes)),
            b',',
            &Mapping::identity(RecordKind::Interactions),
            Arc::default(),
        )
        .unwrap();
        let first = rows
            .next_record::<Interaction>()
            .unwrap()
            .unwrap()
            .unwrap_err();
        assert_eq!(first.reasons(), "customer_id is not valid UTF-8 text");
        assert!(rows.next_record::<Interaction>().unwrap().unwrap().is_ok());
        assert!(rows.next_record::<Interaction>().unwrap().is_none());
    }

    #[test]
    fn empty_file_fails() {
        assert!(rows("").unwrap_err().to_string().contains("no header row"));
    }
}
