//! Printing metric rows, scorecards and targets as text tables, CSV or JSON.

use std::io::Write;

use cxm_domain::metrics::{Catalogue, MetricUnit};
use cxm_metrics::{QueryResult, Scorecard};

/// Left-aligned text columns, right-aligned numbers, padded to the widest cell.
fn print_table(
    out: &mut impl Write,
    header: &[String],
    rows: &[Vec<String>],
) -> std::io::Result<()> {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let numeric: Vec<bool> = (0..header.len())
        .map(|c| {
            rows.iter().all(|r| {
                let cell = r[c].trim_end_matches('%');
                cell.is_empty()
                    || cell == "–"
                    || cell.replace(['+', ','], "").parse::<f64>().is_ok()
            }) && !rows.is_empty()
        })
        .collect();
    let line = |cells: &[String]| -> String {
        cells
            .iter()
            .enumerate()
            .map(|(c, cell)| {
                if numeric[c] {
                    format!("{cell:>width$}", width = widths[c])
                } else {
                    format!("{cell:<width$}", width = widths[c])
                }
            })
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_owned()
    };
    writeln!(out, "{}", line(header))?;
    writeln!(
        out,
        "{}",
        widths
            .iter()
            .map(|w| "-".repeat(*w))
            .collect::<Vec<_>>()
            .join("  ")
    )?;
    for row in rows {
        writeln!(out, "{}", line(row))?;
    }
    Ok(())
}

/// A value in its unit: shares as percentages, NPS as points, seconds and scores with
/// one or two decimals.
pub fn format_value(unit: MetricUnit, value: Option<f64>) -> String {
    let Some(v) = value else {
        return "–".to_owned();
    };
    match unit {
        MetricUnit::Share => format!("{:.1}%", 100.0 * v),
        MetricUnit::Count => {
            if v.fract() == 0.0 {
                format!("{v:.0}")
            } else {
                format!("{v:.2}")
            }
        }
        MetricUnit::Seconds | MetricUnit::Points => format!("{v:.1}"),
        MetricUnit::Currency => format!("{v:.2}"),
        MetricUnit::Score | MetricUnit::Number => format!("{v:.2}"),
    }
}

fn format_change(unit: MetricUnit, change: Option<f64>) -> String {
    match change {
        None => "–".to_owned(),
        Some(c) => match unit {
            MetricUnit::Share => format!("{:+.1}", 100.0 * c),
            _ => format!("{c:+.2}"),
        },
    }
}

fn p_value(p: Option<f64>) -> String {
    match p {
        None => "–".to_owned(),
        Some(p) if p < 0.001 => "<0.001".to_owned(),
        Some(p) => format!("{p:.3}"),
    }
}

pub fn metrics_table(
    out: &mut impl Write,
    result: &QueryResult,
    catalogue: &Catalogue,
) -> std::io::Result<()> {
    let dimensions: Vec<String> = result
        .rows
        .first()
        .map(|r| r.group.keys().cloned().collect())
        .unwrap_or_default();
    let mut header: Vec<String> = vec!["metric".into(), "period".into()];
    header.extend(dimensions.iter().cloned());
    header.extend(
        ["value", "n", "95% low", "95% high", "change", "p", "rank"]
            .iter()
            .map(|s| (*s).to_owned()),
    );
    let rows: Vec<Vec<String>> = result
        .rows
        .iter()
        .map(|row| {
            let unit = catalogue
                .get(&row.metric)
                .map(|m| m.unit)
                .unwrap_or(MetricUnit::Number);
            let mut cells = vec![row.metric.clone(), row.period.clone()];
            cells.extend(
                dimensions
                    .iter()
                    .map(|d| row.group.get(d).cloned().unwrap_or_default()),
            );
            cells.push(format_value(unit, row.value));
            cells.push(row.n.to_string());
            cells.push(format_value(unit, row.low));
            cells.push(format_value(unit, row.high));
            cells.push(format_change(unit, row.change));
            cells.push(p_value(row.p_value));
            cells.push(match row.rank {
                Some(rank) => format!("{rank}/{}", row.ranked),
                None => "–".to_owned(),
            });
            cells
        })
        .collect();
    print_table(out, &header, &rows)?;
    for note in &result.notes {
        writeln!(out, "note: {note}")?;
    }
    Ok(())
}

pub fn metrics_csv(out: &mut impl Write, result: &QueryResult) -> anyhow::Result<()> {
    let dimensions: Vec<String> = result
        .rows
        .first()
        .map(|r| r.group.keys().cloned().collect())
        .unwrap_or_default();
    let mut writer = csv::Writer::from_writer(out);
    let mut header = vec!["metric".to_owned(), "period".to_owned()];
    header.extend(dimensions.iter().cloned());
    header.extend(
        [
            "value", "n", "low", "high", "previous", "change", "p_value", "rank", "ranked",
        ]
        .iter()
        .map(|s| (*s).to_owned()),
    );
    writer.write_record(&header)?;
    let number = |v: Option<f64>| v.map(|v| v.to_string()).unwrap_or_default();
    for row in &result.rows {
        let mut record = vec![row.metric.clone(), row.period.clone()];
        record.extend(
            dimensions
                .iter()
                .map(|d| row.group.get(d).cloned().unwrap_or_default()),
        );
        record.push(number(row.value));
        record.push(row.n.to_string());
        record.push(number(row.low));
        record.push(number(row.high));
        record.push(number(row.previous));
        record.push(number(row.change));
        record.push(number(row.p_value));
        record.push(row.rank.map(|r| r.to_string()).unwrap_or_default());
        record.push(row.ranked.to_string());
        writer.write_record(&record)?;
    }
    writer.flush()?;
    Ok(())
}

/// Records as CSV, one column per field (scorecard lines, targets).
pub fn records_csv<T: serde::Serialize>(out: &mut impl Write, records: &[T]) -> anyhow::Result<()> {
    let mut writer = csv::Writer::from_writer(out);
    for record in records {
        writer.serialize(record)?;
    }
    writer.flush()?;
    Ok(())
}

pub fn scorecard_table(out: &mut impl Write, card: &Scorecard) -> std::io::Result<()> {
    writeln!(
        out,
        "{} — {} ({}), {}; parent {}; peers: {}",
        match &card.subject {
            cxm_metrics::Subject::Unit(id) | cxm_metrics::Subject::Person(id) => id,
        },
        card.name,
        card.kind,
        card.period,
        card.parent.as_deref().unwrap_or("–"),
        card.peers
    )?;
    let header: Vec<String> = [
        "metric",
        "actual",
        "n",
        "95% interval",
        "change",
        "p",
        "target",
        "gap",
        "status",
        "endgame",
        "parent",
        "percentile",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    let rows: Vec<Vec<String>> = card
        .lines
        .iter()
        .map(|l| {
            let interval = match (l.low, l.high) {
                (Some(a), Some(b)) => format!(
                    "{}–{}",
                    format_value(l.unit, Some(a)),
                    format_value(l.unit, Some(b))
                ),
                _ => "–".to_owned(),
            };
            vec![
                l.metric.clone(),
                format_value(l.unit, l.actual),
                l.n.to_string(),
                interval,
                format_change(l.unit, l.change),
                p_value(l.p_value),
                format_value(l.unit, l.target),
                format_change(l.unit, l.gap),
                l.status.as_str().to_owned(),
                format_value(l.unit, l.endgame),
                format_value(l.unit, l.parent),
                l.percentile
                    .map(|p| format!("{p:.0}"))
                    .unwrap_or_else(|| "–".into()),
            ]
        })
        .collect();
    print_table(out, &header, &rows)
}

pub fn targets_table(out: &mut impl Write, targets: &[cxm_sql::Target]) -> std::io::Result<()> {
    let header: Vec<String> = ["metric", "scope", "id", "period", "value", "set at"]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    let rows: Vec<Vec<String>> = targets
        .iter()
        .map(|t| {
            vec![
                t.metric.clone(),
                t.scope_kind.as_str().to_owned(),
                t.scope_id.clone(),
                t.period.clone(),
                t.value.to_string(),
                t.set_at.clone(),
            ]
        })
        .collect();
    print_table(out, &header, &rows)
}

pub fn catalogue_table(out: &mut impl Write, catalogue: &Catalogue) -> std::io::Result<()> {
    let header: Vec<String> = [
        "name",
        "label",
        "source",
        "kind",
        "direction",
        "min sample",
        "endgame",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    let rows: Vec<Vec<String>> = catalogue
        .metrics()
        .iter()
        .map(|m| {
            vec![
                m.name.clone(),
                m.label.clone(),
                m.source.as_str().to_owned(),
                m.kind.to_string(),
                format!("{:?}", m.direction).to_lowercase(),
                m.min_sample().to_string(),
                format_value(m.unit, m.endgame),
            ]
        })
        .collect();
    print_table(out, &header, &rows)
}
