//! Records sent as a JSON array of objects (the HTTP API's ingest batches). Each object is
//! read exactly as one NDJSON line is: the same columns, value rules and validation.

use std::path::Path;

use cxm_domain::{Record, RecordKind};
use serde_json::Value;

use crate::ndjson_rows::parse_object;
use crate::{ColumnPlan, FileError, Mapping, Rejection, RowResult};

/// The columns of one batch: every canonical field of the kind plus every key any object
/// has, so a record that lacks a required field is rejected alone (it cannot make the
/// whole batch "a file of another kind").
#[derive(Debug)]
pub struct JsonRecords {
    plan: ColumnPlan,
    mapping: Mapping,
}

impl JsonRecords {
    pub fn new(kind: RecordKind, records: &[Value]) -> Result<Self, FileError> {
        let mapping = Mapping::identity(kind);
        let mut header: Vec<String> = kind.fields().iter().map(|f| f.name.to_owned()).collect();
        for object in records.iter().filter_map(Value::as_object) {
            for key in object.keys() {
                if !header.iter().any(|h| h == key) {
                    header.push(key.clone());
                }
            }
        }
        let plan = ColumnPlan::resolve(Path::new("request body"), header, &mapping)?;
        Ok(Self { plan, mapping })
    }

    /// Record `number` (1-based) of the batch.
    pub fn parse<R: Record>(&self, number: u64, record: Value) -> RowResult<R> {
        match record {
            Value::Object(object) => parse_object(&self.plan, &self.mapping, number, object),
            other => Err(Rejection::malformed(
                number,
                format!("record {number} is not a JSON object"),
                other.to_string(),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cxm_domain::SurveyResponse;
    use serde_json::json;

    fn parse_all(records: Vec<Value>) -> Vec<RowResult<SurveyResponse>> {
        let reader = JsonRecords::new(RecordKind::Surveys, &records).unwrap();
        records
            .into_iter()
            .zip(1..)
            .map(|(record, number)| reader.parse(number, record))
            .collect()
    }

    fn valid(id: &str) -> Value {
        json!({"response_id": id, "survey": "csat", "customer_id": "C1", "answered_at": "2025-03-04T10:00:00Z",
               "csat": 4, "comment": "fine"})
    }

    #[test]
    fn a_record_missing_a_required_field_is_rejected_alone() {
        let mut missing = valid("R2");
        missing.as_object_mut().unwrap().remove("customer_id");
        let results = parse_all(vec![valid("R1"), missing, valid("R3")]);
        assert!(results[0].is_ok());
        let rejection = results[1].as_ref().unwrap_err();
        assert_eq!(rejection.line, 2);
        assert_eq!(rejection.errors[0].field, "customer_id");
        assert!(results[2].is_ok());
    }

    #[test]
    fn values_are_validated_as_in_files() {
        let mut bad = valid("R1");
        bad["csat"] = json!(7);
        let results = parse_all(vec![bad, json!("not an object"), json!([1, 2])]);
        let rejection = results[0].as_ref().unwrap_err();
        assert!(
            rejection.reasons().contains("csat 7 is outside 1..=5"),
            "{rejection:?}"
        );
        for (index, result) in results[1..].iter().enumerate() {
            let rejection = result.as_ref().unwrap_err();
            assert_eq!(rejection.line, index as u64 + 2);
            assert!(rejection.reasons().contains("is not a JSON object"));
        }
    }

    #[test]
    fn open_columns_in_any_record_count() {
        let mut rated = valid("R2");
        rated["rating_speed"] = json!(5);
        let results = parse_all(vec![valid("R1"), rated]);
        assert!(results.iter().all(Result::is_ok));
    }
}
