//! Property tests of the record readers: whatever the bytes, reading never panics, every
//! row is either a record or a rejection with a reason, and valid rows written by a CSV or
//! JSON writer are read back exactly.

use std::path::PathBuf;
use std::sync::Arc;

use cxm_domain::{Interaction, RecordKind, SurveyResponse};
use cxm_readers::{CsvRows, Mapping, NdjsonRows, RowSource};
use proptest::prelude::*;

fn csv_rows(bytes: Vec<u8>, kind: RecordKind) -> Option<CsvRows> {
    CsvRows::from_reader(
        PathBuf::from("p.csv"),
        Box::new(std::io::Cursor::new(bytes)),
        b',',
        &Mapping::identity(kind),
        Arc::default(),
    )
    .ok()
}

fn ndjson_rows(bytes: Vec<u8>, kind: RecordKind) -> Option<NdjsonRows> {
    NdjsonRows::from_reader(
        PathBuf::from("p.ndjson"),
        Box::new(std::io::Cursor::new(bytes)),
        &Mapping::identity(kind),
        Arc::default(),
    )
    .ok()
}

const HEADER: &str = "interaction_id,customer_id,agent_id,channel,started_at,hold_seconds,topics\n";

/// A valid interaction row's fields, with ids that need CSV quoting sometimes.
fn valid_row() -> impl Strategy<Value = (String, String, u32, Vec<String>)> {
    (
        "[A-Za-z0-9 ,\"'._:-]{1,20}".prop_filter("not blank", |s| !s.trim().is_empty()),
        "[A-Za-z0-9_-]{1,12}",
        0u32..100_000,
        proptest::collection::vec("[a-z]{1,8}", 0..8),
    )
}

proptest! {
    #[test]
    fn arbitrary_csv_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..2_000)) {
        let mut bytes = HEADER.as_bytes().to_vec();
        bytes.extend(body);
        let mut rows = csv_rows(bytes, RecordKind::Interactions).unwrap();
        while let Ok(Some(row)) = rows.next_record::<Interaction>() {
            if let Err(rejection) = row {
                prop_assert!(!rejection.errors.is_empty());
                prop_assert!(rejection.errors.iter().all(|e| !e.reason.is_empty()));
            }
        }
    }

    #[test]
    fn arbitrary_ndjson_lines_never_panic(lines in proptest::collection::vec("\\PC{0,80}", 0..20)) {
        let mut text = String::from("{\"response_id\":\"R\",\"survey\":\"csat\",\"answered_at\":\"2024-01-01T00:00:00Z\",\"customer_id\":\"C\",\"csat\":3}\n");
        for line in lines {
            text.push_str(&line);
            text.push('\n');
        }
        let mut rows = ndjson_rows(text.into_bytes(), RecordKind::Surveys).unwrap();
        let mut first = true;
        while let Ok(Some(row)) = rows.next_record::<SurveyResponse>() {
            if first {
                prop_assert!(row.is_ok());
                first = false;
            }
        }
    }

    #[test]
    fn valid_csv_rows_read_back_exactly(rows in proptest::collection::vec(valid_row(), 1..30)) {
        let mut writer = csv::Writer::from_writer(Vec::new());
        writer.write_record(HEADER.trim_end().split(',')).unwrap();
        for (id, customer, hold, topics) in &rows {
            let hold = hold.to_string();
            let topics = topics.join(";");
            writer.write_record([id.as_str(), customer, "A-1", "chat", "2024-02-29T23:59:59+01:00", &hold, &topics]).unwrap();
        }
        let bytes = writer.into_inner().unwrap();
        let mut reader = csv_rows(bytes, RecordKind::Interactions).unwrap();
        for (id, customer, hold, topics) in &rows {
            let (_, record) = reader.next_record::<Interaction>().unwrap().unwrap().unwrap();
            prop_assert_eq!(record.interaction_id.as_str(), id.trim());
            prop_assert_eq!(record.customer_id.as_str(), customer.as_str());
            prop_assert_eq!(record.hold_seconds.map(|s| s.get()), Some(*hold));
            let mut distinct: Vec<&str> = Vec::new();
            for topic in topics {
                if !distinct.contains(&topic.as_str()) {
                    distinct.push(topic);
                }
            }
            prop_assert_eq!(record.topics.iter().map(|t| t.as_str()).collect::<Vec<_>>(), distinct);
            prop_assert_eq!(record.started_at.to_rfc3339(), "2024-02-29T22:59:59+00:00");
        }
        prop_assert!(reader.next_record::<Interaction>().unwrap().is_none());
    }

    #[test]
    fn valid_ndjson_rows_read_back_exactly(scores in proptest::collection::vec((1u8..=5, "\\PC{0,40}"), 1..30)) {
        let mut text = String::new();
        for (index, (csat, comment)) in scores.iter().enumerate() {
            let row = serde_json::json!({
                "response_id": format!("R{index}"), "survey": "csat", "answered_at": "2024-01-01T00:00:00Z",
                "customer_id": "C", "csat": csat, "comment": comment, "rating_ease": 3,
            });
            text.push_str(&row.to_string());
            text.push('\n');
        }
        let mut reader = ndjson_rows(text.into_bytes(), RecordKind::Surveys).unwrap();
        for (csat, comment) in &scores {
            let (_, record) = reader.next_record::<SurveyResponse>().unwrap().unwrap().unwrap();
            prop_assert_eq!(record.csat.map(|s| s.get()), Some(*csat));
            let expected = comment.trim();
            prop_assert_eq!(record.comment.as_deref(), if expected.is_empty() { None } else { Some(expected) });
            prop_assert_eq!(record.ratings.len(), 1);
        }
    }

    #[test]
    fn mapping_parser_never_panics(text in "\\PC{0,300}") {
        let _ = Mapping::parse(&text, RecordKind::Interactions);
    }
}
