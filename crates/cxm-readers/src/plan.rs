//! Which source column (or constant) feeds each canonical field, resolved once per file.

use std::path::Path;

use cxm_domain::{FieldSource, RecordKind};

use crate::{FileError, Mapping};

#[derive(Debug, Clone)]
enum Origin {
    Column(usize),
    Constant(String),
    Absent,
}

#[derive(Debug, Clone)]
struct FieldPlan {
    origin: Origin,
    /// source value → canonical value, matched case-insensitively after trimming
    value_map: Vec<(String, String)>,
}

/// How one file's columns map onto the canonical fields of a record kind.
#[derive(Debug, Clone)]
pub struct ColumnPlan {
    kind: RecordKind,
    fields: Vec<FieldPlan>,
    /// columns outside the canonical fields that the kind keeps: (canonical name, column)
    extras: Vec<(String, usize)>,
    header: Vec<String>,
    /// when every field is a column as read (no constant, no value map, no extra column):
    /// each canonical field's column
    direct: Option<Vec<Option<usize>>>,
}

impl ColumnPlan {
    /// Resolves a file's header. Fails when a required field has neither a column nor a
    /// constant: then the file is not a file of this kind.
    pub fn resolve(path: &Path, header: Vec<String>, mapping: &Mapping) -> Result<Self, FileError> {
        let kind = mapping.kind();
        let find = |name: &str| {
            header.iter().position(|column| column == name).or_else(|| {
                header
                    .iter()
                    .position(|column| column.eq_ignore_ascii_case(name))
            })
        };
        let mut fields = Vec::with_capacity(kind.fields().len());
        let mut missing = Vec::new();
        let mut used = vec![false; header.len()];
        for spec in kind.fields() {
            let origin = match mapping.constant(spec.name) {
                Some(value) => Origin::Constant(value.to_owned()),
                None => match find(mapping.source_column(spec.name)) {
                    Some(index) => {
                        used[index] = true;
                        Origin::Column(index)
                    }
                    None => {
                        if spec.required {
                            let source = mapping.source_column(spec.name);
                            missing.push(if source == spec.name {
                                source.to_owned()
                            } else {
                                format!("{} (mapped to {source:?})", spec.name)
                            });
                        }
                        Origin::Absent
                    }
                },
            };
            let value_map = mapping
                .value_map(spec.name)
                .map(<[_]>::to_vec)
                .unwrap_or_default();
            fields.push(FieldPlan { origin, value_map });
        }
        if !missing.is_empty() {
            let hint = RecordKind::ALL
                .into_iter()
                .filter(|other| *other != kind)
                .find(|other| {
                    other
                        .fields()
                        .iter()
                        .filter(|f| f.required)
                        .all(|f| find(f.name).is_some())
                })
                .map(|other| format!(" (this looks like a {other} file)"))
                .unwrap_or_default();
            return Err(FileError::MissingColumns {
                path: path.to_owned(),
                kind: kind.to_string(),
                missing,
                hint,
            });
        }
        let mut extras = Vec::new();
        for (canonical, source) in mapping.renamed_columns() {
            if kind.field_index(canonical).is_none()
                && let Some(index) = find(source)
            {
                used[index] = true;
                extras.push((canonical.to_owned(), index));
            }
        }
        for (index, column) in header.iter().enumerate() {
            if !used[index]
                && kind.accepts_extra(column)
                && !extras.iter().any(|(name, _)| name == column)
            {
                extras.push((column.clone(), index));
            }
        }
        let direct = extras.is_empty().then(|| {
            fields
                .iter()
                .map(|field| match field.origin {
                    Origin::Column(column) if field.value_map.is_empty() => Some(Some(column)),
                    Origin::Absent => Some(None),
                    _ => None,
                })
                .collect::<Option<Vec<_>>>()
        });
        Ok(Self {
            kind,
            fields,
            extras,
            header,
            direct: direct.flatten(),
        })
    }

    /// Each canonical field's column, when the file's values are the fields as read (no
    /// constant, value map or extra column): a row's fields can then be taken straight
    /// from its columns, as [`CanonicalRow`].
    pub fn direct_columns(&self) -> Option<&[Option<usize>]> {
        self.direct.as_deref()
    }

    pub fn kind(&self) -> RecordKind {
        self.kind
    }

    /// Whether column `index` feeds a field or an open column of the kind.
    pub fn uses_column(&self, index: usize) -> bool {
        self.fields
            .iter()
            .any(|f| matches!(f.origin, Origin::Column(c) if c == index))
            || self.extras.iter().any(|(_, c)| *c == index)
    }

    /// The file's column names, in file order.
    pub fn header(&self) -> &[String] {
        &self.header
    }

    /// A row's values in header order (`None` = absent), seen as canonical fields.
    pub fn row<'a>(&'a self, values: &'a [Option<&'a str>]) -> PlannedRow<'a> {
        PlannedRow { plan: self, values }
    }
}

/// One row seen through a [`ColumnPlan`].
pub struct PlannedRow<'a> {
    plan: &'a ColumnPlan,
    values: &'a [Option<&'a str>],
}

impl FieldSource for PlannedRow<'_> {
    fn get(&self, index: usize) -> Option<&str> {
        let field = self.plan.fields.get(index)?;
        let value = match &field.origin {
            Origin::Column(column) => self.values.get(*column).copied().flatten()?,
            Origin::Constant(value) => value.as_str(),
            Origin::Absent => return None,
        };
        if field.value_map.is_empty() {
            return Some(value);
        }
        let trimmed = value.trim();
        Some(
            field
                .value_map
                .iter()
                .find(|(source, _)| source.trim().eq_ignore_ascii_case(trimmed))
                .map(|(_, canonical)| canonical.as_str())
                .unwrap_or(value),
        )
    }

    fn for_each_extra(&self, visit: &mut dyn FnMut(&str, &str)) {
        for (name, column) in &self.plan.extras {
            if let Some(value) = self.values.get(*column).copied().flatten() {
                visit(name, value);
            }
        }
    }
}

/// A row's canonical fields in order (`None` = absent or empty), taken straight from its
/// columns by [`ColumnPlan::direct_columns`]: what a [`PlannedRow`] of the same values
/// gives, without the per-field plan lookup.
pub struct CanonicalRow<'a>(pub &'a [Option<&'a str>]);

impl FieldSource for CanonicalRow<'_> {
    fn get(&self, index: usize) -> Option<&str> {
        self.0.get(index).copied().flatten()
    }

    fn for_each_extra(&self, _visit: &mut dyn FnMut(&str, &str)) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(columns: &[&str]) -> Vec<String> {
        columns.iter().map(|c| (*c).to_owned()).collect()
    }

    #[test]
    fn missing_required_columns_fail_with_a_hint() {
        let error = ColumnPlan::resolve(
            Path::new("x.csv"),
            header(&[
                "response_id",
                "survey",
                "answered_at",
                "customer_id",
                "csat",
            ]),
            &Mapping::identity(RecordKind::Interactions),
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            error,
            "x.csv: missing required columns interaction_id, agent_id, channel, started_at for interactions (this looks like a surveys file)"
        );
    }

    #[test]
    fn mapping_renames_maps_values_and_adds_constants() {
        let mapping = Mapping::parse(
            "[columns]\nresponse_id = \"Id\"\nrating_ease = \"Q3\"\n[constants]\nsurvey = \"csat\"\n[values.csat]\n\"Very satisfied\" = \"5\"",
            RecordKind::Surveys,
        )
        .unwrap();
        let plan = ColumnPlan::resolve(
            Path::new("x.csv"),
            header(&[
                "Id",
                "answered_at",
                "customer_id",
                "csat",
                "Q3",
                "rating_speed",
            ]),
            &mapping,
        )
        .unwrap();
        let values = [
            Some("R1"),
            Some("2024-01-01T00:00:00Z"),
            Some("C1"),
            Some(" very SATISFIED "),
            Some("4"),
            Some("2"),
        ];
        let row = plan.row(&values);
        assert_eq!(row.get(0), Some("R1"));
        assert_eq!(row.get(1), Some("csat"));
        assert_eq!(row.get(5), Some("5"));
        let mut extras = Vec::new();
        row.for_each_extra(&mut |name, value| extras.push(format!("{name}={value}")));
        assert_eq!(extras, ["rating_ease=4", "rating_speed=2"]);
    }
}
