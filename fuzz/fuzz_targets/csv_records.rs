//! Any bytes as a CSV file of any kind must give records or rejections, never a panic.
#![no_main]

use std::path::PathBuf;
use std::sync::Arc;

use cxm_domain::{Customer, Interaction, RecordKind, SurveyResponse, Transaction};
use cxm_readers::{CsvRows, Mapping, RowSource};
use libfuzzer_sys::fuzz_target;

fn drain<R: cxm_domain::Record>(kind: RecordKind, data: &[u8]) {
    let reader = Box::new(std::io::Cursor::new(data.to_vec()));
    let Ok(mut rows) = CsvRows::from_reader(PathBuf::from("fuzz.csv"), reader, b',', &Mapping::identity(kind), Arc::default()) else {
        return;
    };
    while let Ok(Some(row)) = rows.next_record::<R>() {
        if let Err(rejection) = row {
            assert!(!rejection.errors.is_empty());
        }
        let _ = rows.last_row();
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((selector, body)) = data.split_first() else { return };
    match selector % 4 {
        0 => drain::<Interaction>(RecordKind::Interactions, body),
        1 => drain::<SurveyResponse>(RecordKind::Surveys, body),
        2 => drain::<Transaction>(RecordKind::Transactions, body),
        _ => drain::<Customer>(RecordKind::Customers, body),
    }
});
