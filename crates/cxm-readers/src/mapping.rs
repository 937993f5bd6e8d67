//! Column mappings: how another system's export maps onto the canonical fields.
//!
//! ```toml
//! kind = "interactions"            # optional; checked against the command line
//! [columns]                        # canonical field = source column
//! interaction_id = "CallID"
//! [constants]                      # canonical field = value for every row
//! channel = "phone"
//! [values.channel]                 # source value = canonical value (case-insensitive)
//! "Inbound Voice" = "phone"
//! [timestamps]
//! format = "%m/%d/%Y %H:%M:%S"     # chrono strftime; default RFC 3339
//! default_zone = "America/New_York"
//! [durations]
//! unit = "ms"                      # ms | s | min
//! [lists]
//! separator = "|"
//! [csv]
//! delimiter = ";"
//! [rating_scales]                  # survey kind = scale of its rating_* columns
//! relationship = "0-10"
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use cxm_domain::{
    DurationUnit, ParseContext, RatingScale, RecordKind, SurveyKind, TimestampParser,
};
use serde::Deserialize;

use crate::FileError;

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct MappingFile {
    kind: Option<String>,
    #[serde(default)]
    columns: BTreeMap<String, String>,
    #[serde(default)]
    constants: BTreeMap<String, String>,
    #[serde(default)]
    values: BTreeMap<String, BTreeMap<String, String>>,
    #[serde(default)]
    timestamps: TimestampSection,
    #[serde(default)]
    durations: DurationSection,
    #[serde(default)]
    lists: ListSection,
    #[serde(default)]
    csv: CsvSection,
    #[serde(default)]
    rating_scales: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct TimestampSection {
    format: Option<String>,
    default_zone: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct DurationSection {
    unit: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ListSection {
    separator: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct CsvSection {
    delimiter: Option<String>,
}

/// A validated mapping for one record kind. The default mapping is the identity: canonical
/// column names, RFC 3339 timestamps, seconds, `;` lists, `,` delimiter.
#[derive(Debug, Clone)]
pub struct Mapping {
    kind: RecordKind,
    /// canonical field → source column
    columns: BTreeMap<String, String>,
    constants: BTreeMap<String, String>,
    values: BTreeMap<String, Vec<(String, String)>>,
    context: ParseContext,
    csv_delimiter: Option<u8>,
}

impl Mapping {
    pub fn identity(kind: RecordKind) -> Self {
        Self {
            kind,
            columns: BTreeMap::new(),
            constants: BTreeMap::new(),
            values: BTreeMap::new(),
            context: ParseContext::default(),
            csv_delimiter: None,
        }
    }

    /// Reads and validates a mapping file for `kind`.
    pub fn load(path: &Path, kind: RecordKind) -> Result<Self, FileError> {
        let text = std::fs::read_to_string(path).map_err(|source| FileError::Io {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, kind).map_err(|reason| FileError::Mapping {
            path: path.to_owned(),
            reason,
        })
    }

    /// Parses mapping TOML for `kind`; the error says what is wrong.
    pub fn parse(text: &str, kind: RecordKind) -> Result<Self, String> {
        let file: MappingFile = toml::from_str(text).map_err(|e| e.message().to_owned())?;
        if let Some(declared) = &file.kind
            && RecordKind::from_cli_name(declared) != Some(kind)
        {
            return Err(format!("the mapping is for {declared:?}, not {kind}"));
        }
        let check_field = |name: &str, section: &str| -> Result<(), String> {
            let known = kind.field_index(name).is_some()
                || (kind == RecordKind::Surveys && name.starts_with("rating_"));
            if known {
                Ok(())
            } else {
                let names: Vec<&str> = kind.fields().iter().map(|f| f.name).collect();
                Err(format!(
                    "[{section}] names {name:?}, which is not a field of {kind} (fields: {})",
                    names.join(", ")
                ))
            }
        };
        for name in file.columns.keys() {
            check_field(name, "columns")?;
        }
        let canonical_only = |name: &str, section: &str| -> Result<(), String> {
            if kind.field_index(name).is_none() {
                return Err(format!(
                    "[{section}] names {name:?}; only canonical fields of {kind} can have {section} (map rating columns under [columns])"
                ));
            }
            Ok(())
        };
        for name in file.constants.keys() {
            check_field(name, "constants")?;
            canonical_only(name, "constants")?;
            if file.columns.contains_key(name) {
                return Err(format!("{name:?} is both a column and a constant"));
            }
        }
        for name in file.values.keys() {
            check_field(name, "values")?;
            canonical_only(name, "values")?;
        }
        let mut context = ParseContext::default();
        let default_zone = match &file.timestamps.default_zone {
            Some(zone) => Some(TimestampParser::parse_zone(zone).ok_or_else(|| {
                format!("default_zone {zone:?} is not a time zone name (e.g. Europe/Berlin)")
            })?),
            None => None,
        };
        if let Some(format) = &file.timestamps.format {
            validate_strftime(format)?;
        }
        context.timestamps = TimestampParser::new(file.timestamps.format.clone(), default_zone);
        if let Some(unit) = &file.durations.unit {
            context.duration_unit = DurationUnit::parse_name(unit)
                .ok_or_else(|| format!("duration unit {unit:?} is not ms, s or min"))?;
        }
        if let Some(separator) = &file.lists.separator {
            let mut chars = separator.chars();
            context.list_separator = match (chars.next(), chars.next()) {
                (Some(c), None) => c,
                _ => {
                    return Err(format!(
                        "list separator {separator:?} must be one character"
                    ));
                }
            };
        }
        for (survey, spec) in &file.rating_scales {
            let survey = SurveyKind::parse("rating_scales", survey).map_err(|e| e.reason)?;
            let scale = RatingScale::parse_spec(spec)
                .ok_or_else(|| format!("rating scale {spec:?} is not like \"1-5\" or \"0-10\""))?;
            context.set_rating_scale(survey, scale);
        }
        let csv_delimiter = match file.csv.delimiter.as_deref() {
            None => None,
            Some("\\t" | "\t" | "tab") => Some(b'\t'),
            Some(d) if d.len() == 1 && d.is_ascii() => Some(d.as_bytes()[0]),
            Some(d) => return Err(format!("csv delimiter {d:?} must be one ASCII character")),
        };
        let values = file
            .values
            .into_iter()
            .map(|(field, map)| (field, map.into_iter().collect()))
            .collect();
        Ok(Self {
            kind,
            columns: file.columns,
            constants: file.constants,
            values,
            context,
            csv_delimiter,
        })
    }

    pub fn kind(&self) -> RecordKind {
        self.kind
    }

    /// The source column that feeds canonical field `field`.
    pub fn source_column<'a>(&'a self, field: &'a str) -> &'a str {
        self.columns.get(field).map(String::as_str).unwrap_or(field)
    }

    /// Canonical fields mapped from a differently named source column (e.g. `rating_ease`
    /// from `Q3`), as (canonical, source) pairs.
    pub fn renamed_columns(&self) -> impl Iterator<Item = (&str, &str)> {
        self.columns
            .iter()
            .map(|(canonical, source)| (canonical.as_str(), source.as_str()))
    }

    pub fn constant(&self, field: &str) -> Option<&str> {
        self.constants.get(field).map(String::as_str)
    }

    /// The value map of `field`, if any: source value → canonical value.
    pub fn value_map(&self, field: &str) -> Option<&[(String, String)]> {
        self.values.get(field).map(Vec::as_slice)
    }

    pub fn parse_context(&self) -> &ParseContext {
        &self.context
    }

    pub fn csv_delimiter(&self) -> Option<u8> {
        self.csv_delimiter
    }
}

/// Rejects a strftime format chrono cannot use, so the mistake surfaces once, not per row.
fn validate_strftime(format: &str) -> Result<(), String> {
    use chrono::format::{Item, StrftimeItems};
    if StrftimeItems::new(format).any(|item| matches!(item, Item::Error)) {
        Err(format!(
            "timestamp format {format:?} is not a valid strftime format"
        ))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_full_mapping() {
        let mapping = Mapping::parse(
            r#"
            kind = "interactions"
            [columns]
            interaction_id = "CallID"
            [constants]
            channel = "phone"
            [values.resolved]
            "Y" = "true"
            [timestamps]
            format = "%m/%d/%Y %H:%M:%S"
            default_zone = "America/New_York"
            [durations]
            unit = "ms"
            [lists]
            separator = "|"
            [csv]
            delimiter = ";"
            "#,
            RecordKind::Interactions,
        )
        .unwrap();
        assert_eq!(mapping.source_column("interaction_id"), "CallID");
        assert_eq!(mapping.source_column("agent_id"), "agent_id");
        assert_eq!(mapping.constant("channel"), Some("phone"));
        assert_eq!(mapping.parse_context().list_separator, '|');
        assert_eq!(
            mapping.parse_context().duration_unit,
            DurationUnit::Milliseconds
        );
        assert_eq!(mapping.csv_delimiter(), Some(b';'));
    }

    #[test]
    fn mistakes_are_explained() {
        let error = |text: &str| Mapping::parse(text, RecordKind::Interactions).unwrap_err();
        assert!(error("[columns]\ncsat = \"x\"").contains("not a field of interactions"));
        assert!(error("kind = \"surveys\"").contains("the mapping is for \"surveys\""));
        assert!(error("[durations]\nunit = \"hours\"").contains("is not ms, s or min"));
        assert!(error("[timestamps]\ndefault_zone = \"Mars/Olympus\"").contains("not a time zone"));
        assert!(error("[timestamps]\nformat = \"%Q\"").contains("not a valid strftime"));
        assert!(error("[colums]\na = \"b\"").contains("unknown field"));
        assert!(Mapping::parse("[columns]\nrating_ease = \"Q3\"", RecordKind::Surveys).is_ok());
    }
}
