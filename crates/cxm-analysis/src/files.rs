//! Analysis inputs from CSV files an analyst brings: an RFM summary (one row per
//! customer) and a table of observations (an outcome column and driver columns). A bad
//! row is reported with its line, column, value and reason, and the valid rows are kept.

use std::io::Read;
use std::path::Path;

use crate::AnalysisError;
use crate::clv::Rfm;
use crate::drivers::{Direction, Driver, Observations};

/// A row left out, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct BadRow {
    /// 1-based line of the file (the header is line 1)
    pub line: u64,
    pub column: String,
    pub value: String,
    pub reason: String,
}

impl std::fmt::Display for BadRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "line {}: {} {:?}: {}",
            self.line, self.column, self.value, self.reason
        )
    }
}

/// An RFM summary as read: the customers' ids (the line number when the file has no id
/// column), their summaries, and the rows left out.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub ids: Vec<String>,
    pub rows: Vec<Rfm>,
    pub bad: Vec<BadRow>,
}

/// Column names an RFM summary may use (ours, lifetimes', and Fader & Hardie's).
const FREQUENCY: [&str; 2] = ["frequency", "x"];
const RECENCY: [&str; 2] = ["recency", "t_x"];
const AGE: [&str; 2] = ["T", "age"];
const MONETARY: [&str; 4] = ["monetary_value", "monetary", "zbar", "m"];
const CUSTOMER: [&str; 3] = ["customer_id", "id", "ID"];

fn open(path: &Path) -> Result<csv::Reader<Box<dyn Read>>, AnalysisError> {
    let file = std::fs::File::open(path)
        .map_err(|e| AnalysisError::Input(format!("{}: {e}", path.display())))?;
    Ok(reader(Box::new(file)))
}

fn reader(input: Box<dyn Read>) -> csv::Reader<Box<dyn Read>> {
    csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(input)
}

fn header(
    source: &str,
    reader: &mut csv::Reader<Box<dyn Read>>,
) -> Result<Vec<String>, AnalysisError> {
    let header = reader
        .headers()
        .map_err(|e| AnalysisError::Input(format!("{source}: no readable header row: {e}")))?;
    Ok(header.iter().map(str::to_owned).collect())
}

fn find(header: &[String], names: &[&str]) -> Option<usize> {
    names
        .iter()
        .find_map(|name| header.iter().position(|h| h == name))
}

/// Reads an RFM summary: frequency (or x), recency (t_x), T (age) and optionally
/// monetary_value (zbar) and customer_id (id) columns.
pub fn read_rfm_summary(path: &Path) -> Result<Summary, AnalysisError> {
    parse_rfm_summary(&path.display().to_string(), open(path)?)
}

/// [`read_rfm_summary`] from any reader (tests, fuzzing).
pub fn parse_rfm_summary(
    source: &str,
    mut reader: csv::Reader<Box<dyn Read>>,
) -> Result<Summary, AnalysisError> {
    let header = header(source, &mut reader)?;
    let required = |names: &[&str]| {
        find(&header, names).ok_or_else(|| {
            AnalysisError::Input(format!(
                "{source}: no {} column (header: {})",
                names.join(" or "),
                header.join(",")
            ))
        })
    };
    let (frequency, recency, age) = (required(&FREQUENCY)?, required(&RECENCY)?, required(&AGE)?);
    let monetary = find(&header, &MONETARY);
    let customer = find(&header, &CUSTOMER);
    let (mut ids, mut rows, mut bad) = (Vec::new(), Vec::new(), Vec::new());
    let mut record = csv::StringRecord::new();
    let mut line = 1u64;
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(error) => {
                line += 1;
                bad.push(BadRow {
                    line,
                    column: String::new(),
                    value: String::new(),
                    reason: format!("not readable CSV: {error}"),
                });
                if matches!(error.kind(), csv::ErrorKind::Io(_)) {
                    return Err(AnalysisError::Input(format!("{source}: {error}")));
                }
                continue;
            }
        }
        line = record.position().map_or(line + 1, |p| p.line());
        let number = |index: usize, name: &str| -> Result<f64, BadRow> {
            let text = record.get(index).unwrap_or("");
            text.parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| BadRow {
                    line,
                    column: name.to_owned(),
                    value: text.to_owned(),
                    reason: "is not a number".into(),
                })
        };
        let parsed = (|| {
            let f = number(frequency, &header[frequency])?;
            let r = number(recency, &header[recency])?;
            let t = number(age, &header[age])?;
            let m = match monetary {
                Some(i) => number(i, &header[i])?,
                None => 0.0,
            };
            Rfm::new(f, r, t, if f > 0.0 { m } else { 0.0 }).map_err(|e| BadRow {
                line,
                column: header[frequency].clone(),
                value: record.iter().collect::<Vec<_>>().join(","),
                reason: e.to_string(),
            })
        })();
        match parsed {
            Ok(rfm) => {
                ids.push(match customer {
                    Some(i) => record.get(i).unwrap_or("").to_owned(),
                    None => line.to_string(),
                });
                rows.push(rfm);
            }
            Err(row) => bad.push(row),
        }
    }
    Ok(Summary { ids, rows, bad })
}

/// Reads observations: the `outcome` column and every other column as a candidate driver
/// (empty = missing). Columns named in `lower_is_better` are better when lower.
pub fn read_observations(
    path: &Path,
    outcome: &str,
    lower_is_better: &[String],
) -> Result<(Observations, Vec<BadRow>), AnalysisError> {
    parse_observations(
        &path.display().to_string(),
        open(path)?,
        outcome,
        lower_is_better,
    )
}

/// [`read_observations`] from any reader (tests, fuzzing).
pub fn parse_observations(
    source: &str,
    mut reader: csv::Reader<Box<dyn Read>>,
    outcome: &str,
    lower_is_better: &[String],
) -> Result<(Observations, Vec<BadRow>), AnalysisError> {
    let header = header(source, &mut reader)?;
    let target = header.iter().position(|h| h == outcome).ok_or_else(|| {
        AnalysisError::Input(format!(
            "{source}: no column {outcome:?} (header: {})",
            header.join(",")
        ))
    })?;
    if let Some(unknown) = lower_is_better.iter().find(|c| !header.contains(c)) {
        return Err(AnalysisError::Input(format!(
            "{source}: no column {unknown:?}"
        )));
    }
    let mut columns: Vec<Vec<f64>> = vec![Vec::new(); header.len()];
    let mut bad = Vec::new();
    let mut record = csv::StringRecord::new();
    let mut line = 1u64;
    let mut row = vec![0.0; header.len()];
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(error) => {
                if matches!(error.kind(), csv::ErrorKind::Io(_)) {
                    return Err(AnalysisError::Input(format!("{source}: {error}")));
                }
                line += 1;
                bad.push(BadRow {
                    line,
                    column: String::new(),
                    value: String::new(),
                    reason: format!("not readable CSV: {error}"),
                });
                continue;
            }
        }
        line = record.position().map_or(line + 1, |p| p.line());
        let mut problem = None;
        for (i, value) in row.iter_mut().enumerate() {
            let text = record.get(i).unwrap_or("");
            *value = if text.is_empty() || text.eq_ignore_ascii_case("na") {
                f64::NAN
            } else if let Ok(v) = text
                .parse::<f64>()
                .map_err(|_| ())
                .and_then(|v| if v.is_finite() { Ok(v) } else { Err(()) })
            {
                v
            } else {
                match text {
                    "true" | "TRUE" | "True" => 1.0,
                    "false" | "FALSE" | "False" => 0.0,
                    _ => {
                        problem = Some(BadRow {
                            line,
                            column: header[i].clone(),
                            value: text.to_owned(),
                            reason: "is not a number".into(),
                        });
                        break;
                    }
                }
            };
        }
        match problem {
            Some(problem) => bad.push(problem),
            None => columns.iter_mut().zip(&row).for_each(|(c, v)| c.push(*v)),
        }
    }
    let values = std::mem::take(&mut columns[target]);
    let drivers = header
        .iter()
        .zip(columns)
        .enumerate()
        .filter(|(i, _)| *i != target)
        .map(|(_, (name, values))| Driver {
            direction: if lower_is_better.contains(name) {
                Direction::LowerIsBetter
            } else {
                Direction::HigherIsBetter
            },
            name: name.clone(),
            values,
        })
        .collect();
    Ok((
        Observations {
            outcome: outcome.to_owned(),
            values,
            drivers,
        },
        bad,
    ))
}

/// A CSV reader over bytes in memory.
pub fn bytes_reader(bytes: Vec<u8>) -> csv::Reader<Box<dyn Read>> {
    reader(Box::new(std::io::Cursor::new(bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn summaries_in_lifetimes_and_published_column_names_are_read() {
        let text =
            "ID,x,t_x,T,zbar\n1,2,30.43,38.86,22.35\n2,0,0,38.86,0\n3,1,40,38,5\n4,one,1,2,3\n";
        let Summary { ids, rows, bad } =
            parse_rfm_summary("s.csv", bytes_reader(text.into())).unwrap();
        assert_eq!(ids, ["1", "2"]);
        assert_eq!(rows[0], Rfm::new(2.0, 30.43, 38.86, 22.35).unwrap());
        assert_eq!(bad.len(), 2);
        assert_eq!(bad[0].line, 4);
        assert!(bad[0].reason.contains("recency 40"), "{}", bad[0]);
        assert_eq!(
            (bad[1].line, bad[1].column.as_str(), bad[1].value.as_str()),
            (5, "x", "one")
        );
        let missing = parse_rfm_summary("s.csv", bytes_reader("frequency,recency\n1,2\n".into()));
        assert!(
            matches!(missing, Err(AnalysisError::Input(m)) if m.contains("no T or age column"))
        );
    }

    #[test]
    fn observations_keep_valid_rows_and_mark_missing_values() {
        let text = "csat,hold,ease\n5,10,4\n3,,2\n4,abc,3\n1,90,NA\n";
        let (o, bad) =
            parse_observations("o.csv", bytes_reader(text.into()), "csat", &["hold".into()])
                .unwrap();
        assert_eq!(o.values, [5.0, 3.0, 1.0]);
        assert_eq!(o.drivers[0].name, "hold");
        assert_eq!(o.drivers[0].direction, Direction::LowerIsBetter);
        assert!(o.drivers[0].values[1].is_nan() && o.drivers[1].values[2].is_nan());
        assert_eq!(
            bad,
            [BadRow {
                line: 4,
                column: "hold".into(),
                value: "abc".into(),
                reason: "is not a number".into()
            }]
        );
        assert!(parse_observations("o.csv", bytes_reader(text.into()), "nps", &[]).is_err());
    }

    proptest! {
        #[test]
        fn any_bytes_give_rows_or_a_clear_error(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            if let Ok(summary) = parse_rfm_summary("f", bytes_reader(bytes.clone())) {
                prop_assert_eq!(summary.ids.len(), summary.rows.len());
            }
            if let Ok((o, _)) = parse_observations("f", bytes_reader(bytes), "y", &[]) {
                prop_assert!(o.drivers.iter().all(|d| d.values.len() == o.values.len()));
            }
        }

        #[test]
        fn valid_summaries_round_trip(rows in proptest::collection::vec((0u32..50, 0.0f64..100.0, 0.0f64..1.0, 0.01f64..500.0), 1..30)) {
            let mut text = String::from("frequency,recency,T,monetary_value\n");
            let mut expected = Vec::new();
            for (x, age, share, m) in rows {
                let age = age + 0.5;
                let recency = if x == 0 { 0.0 } else { age * share };
                text.push_str(&format!("{x},{recency},{age},{m}\n"));
                expected.push(Rfm::new(f64::from(x), recency, age, if x == 0 { 0.0 } else { m }).unwrap());
            }
            let summary = parse_rfm_summary("f", bytes_reader(text.into_bytes())).unwrap();
            prop_assert!(summary.bad.is_empty());
            prop_assert_eq!(summary.rows, expected);
        }
    }
}
