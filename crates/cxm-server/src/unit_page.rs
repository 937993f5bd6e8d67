//! A unit's page, `/units/{unit}`: its scorecard against target, parent and peers; trends
//! over twelve periods; how handle and hold time are spread; its topic mix; and the units
//! below it (within the caller's scope) ranked by CSAT with samples and intervals. Every
//! number links to the records behind it with the same filters.

use axum::extract::State;
use axum::response::Response;
use cxm_domain::metrics::MetricUnit;
use cxm_metrics::distribution::{Duration, Histogram};
use cxm_metrics::query::NO_GROUP;
use cxm_metrics::records::Visible;
use cxm_metrics::{Dimension, Engine, Subject};
use maud::{Markup, PreEscaped, html};

use crate::dashboard::{Dashboard, Page, linked, number};
use crate::pages::scorecard_table;
use crate::record_pages::link;
use crate::scope::Scope;
use crate::{ApiError, AppState};

/// Metrics charted over the trend periods on a unit's page.
const TREND_METRICS: [&str; 3] = ["csat", "repeat_contact_rate", "handle_seconds"];

/// Metrics of the children table on a unit's page.
const CHILD_METRICS: [&str; 3] = ["contacts", "csat", "repeat_contact_rate"];

/// Topics shown in a unit's topic mix.
const TOPIC_MIX: usize = 12;

/// One child unit on its parent's page: each [`CHILD_METRICS`] row.
struct ChildRow {
    id: String,
    name: String,
    rows: [Option<cxm_metrics::MetricRow>; CHILD_METRICS.len()],
}

pub(crate) async fn unit_page(
    State(state): State<AppState>,
    page: Page,
    axum::extract::Path(unit): axum::extract::Path<String>,
) -> Result<Response, ApiError> {
    let (engine, scope, dashboard) = (&page.engine, &page.scope, &page.dashboard);
    let org = page.org();
    let Some(found) = org.unit(&unit) else {
        return Err(ApiError::NotFound(format!("no org unit {unit}")));
    };
    let subject = Subject::Unit(unit.clone());
    scope.check_subject(org, &subject)?;
    let (card, charts) = page
        .scorecard_and_trends(&state, &subject, &TREND_METRICS)
        .await?;
    // An aggregate like any metric: narrowed to the scope (an agent's to their team), so
    // no row visibility on top (which would leave an agent only their own contacts).
    let filters = scope.narrow(org, &dashboard.filters(Some(&subject)), &[])?;
    let mut spreads = Vec::new();
    for duration in [Duration::Handle, Duration::Hold] {
        let histogram = engine.histogram(duration, &filters, &Visible::All).await?;
        spreads.push(histogram_chart(&histogram)?);
    }
    let topics = topic_mix(engine, scope, dashboard, &subject).await?;
    let children = children(engine, scope, dashboard, &unit).await?;
    let pairs = dashboard.pairs(false);
    let body = html! {
        p.breadcrumbs {
            @for ancestor in org.ancestors(&unit).iter().rev() {
                @if scope.sees_unit(org, &ancestor.id) && ancestor.id != unit {
                    a href=(link(&format!("/units/{}", ancestor.id), &pairs)) { (ancestor.name) } " › "
                }
            }
        }
        h1 { (found.name) " · " (card.period) }
        p.role { (found.level) }
        (dashboard.form(&format!("/units/{unit}"), org, scope, false))
        (scorecard_table(&card, scope, org, |metric| dashboard.records_link(engine, Some(&subject), metric, None)))
        section.trends {
            @for chart in &charts { (PreEscaped(chart)) }
        }
        h2 { "How long contacts take" }
        section.trends {
            @for chart in &spreads { (PreEscaped(chart)) }
        }
        (topics)
        @if !children.is_empty() {
            h2 { "Units below, by CSAT" }
            (children_table(engine, dashboard, &children))
        }
    };
    Ok(page.render(&found.name, body))
}

/// A histogram as a bar chart, each bar's hover value its range and contacts.
pub(crate) fn histogram_chart(histogram: &Histogram) -> Result<String, ApiError> {
    let bars: Vec<crate::charts::Bar> = histogram
        .bins
        .iter()
        .map(|bin| {
            let (label, range) = match bin.to {
                Some(to) => (
                    format!("{:.0}", bin.from),
                    // Whole seconds: the bin [from, to) holds from..=to-1.
                    format!("{:.0}–{:.0} s", bin.from, to - 1.0),
                ),
                None => (format!("≥{:.0}", bin.from), format!("≥ {:.0} s", bin.from)),
            };
            crate::charts::Bar {
                label,
                value: bin.contacts as f64,
                note: format!("{range}: {} contacts", bin.contacts),
            }
        })
        .collect();
    crate::charts::bars(
        &format!(
            "{} (contacts: {})",
            histogram.duration.label(),
            histogram.contacts
        ),
        &bars,
        crate::charts::Orientation::Vertical,
    )
    .map_err(ApiError::internal)
}

/// The topics of the subject's contacts in the period: a bar chart of the most frequent
/// and a table of contacts, repeat rate and CSAT per topic, each linked to its records.
async fn topic_mix(
    engine: &Engine,
    scope: &Scope,
    dashboard: &Dashboard,
    subject: &Subject,
) -> Result<Markup, ApiError> {
    let org = engine.organisation();
    let answer = dashboard
        .period_rows(
            engine,
            scope,
            subject,
            &["contacts"],
            vec![Dimension::Topic],
        )
        .await?;
    let mut rows: Vec<(&str, u64)> = answer
        .iter()
        .filter(|r| r.n > 0)
        .filter_map(|r| Some((r.group.get("topic")?.as_str(), r.value? as u64)))
        // Contacts without a topic are no part of the mix.
        .filter(|(topic, _)| *topic != NO_GROUP)
        .collect();
    rows.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    rows.truncate(TOPIC_MIX);
    let name = |code: &str| {
        org.topic(code)
            .map_or_else(|| code.to_owned(), |t| t.name.clone())
    };
    let bars: Vec<crate::charts::Bar> = rows
        .iter()
        .map(|(code, contacts)| crate::charts::Bar {
            label: name(code),
            value: *contacts as f64,
            note: format!("{contacts} contacts"),
        })
        .collect();
    let chart = crate::charts::bars(
        "Topic mix (contacts)",
        &bars,
        crate::charts::Orientation::Horizontal,
    )
    .map_err(ApiError::internal)?;
    let topics_link = link("/topics", &{
        let mut pairs = dashboard.pairs(false);
        if let Subject::Unit(unit) = subject {
            pairs.push(("unit", unit.clone()));
        }
        pairs
    });
    Ok(html! {
        h2 { "Topic mix" }
        @if rows.is_empty() {
            p { "No contacts with topics in this period." }
        } @else {
            section.trends { (PreEscaped(chart)) }
            p { a href=(topics_link) { "Every topic with its repeat contacts and CSAT" } }
            table.topics {
                thead { tr { th { "Topic" } th { "Contacts" } } }
                tbody {
                    @for (code, contacts) in &rows {
                        tr {
                            td { (name(code)) }
                            td.num { (linked(&contacts.to_string(), dashboard.records_link(engine, Some(subject), "contacts", Some(code)), *contacts)) }
                        }
                    }
                }
            }
        }
    })
}

/// The children of `unit` in scope with their [`CHILD_METRICS`], best CSAT first
/// (children without answers last).
async fn children(
    engine: &Engine,
    scope: &Scope,
    dashboard: &Dashboard,
    unit: &str,
) -> Result<Vec<ChildRow>, ApiError> {
    let org = engine.organisation();
    let children: Vec<&cxm_metrics::organisation::Unit> = org
        .children(unit)
        .into_iter()
        .filter(|child| scope.sees_unit(org, &child.id))
        .collect();
    let mut table: Vec<ChildRow> = children
        .iter()
        .map(|c| ChildRow {
            id: c.id.clone(),
            name: c.name.clone(),
            rows: Default::default(),
        })
        .collect();
    if let Some(level) = children.first().map(|c| c.level.clone()) {
        let rows = dashboard
            .period_rows(
                engine,
                scope,
                &Subject::Unit(unit.to_owned()),
                &CHILD_METRICS,
                vec![Dimension::Level(level.clone())],
            )
            .await?;
        for row in rows {
            let (Some(child), Some(metric)) = (
                row.group.get(&level),
                CHILD_METRICS.iter().position(|m| *m == row.metric),
            ) else {
                continue;
            };
            if let Some(entry) = table.iter_mut().find(|entry| &entry.id == child) {
                entry.rows[metric] = Some(row);
            }
        }
    }
    let csat = |c: &ChildRow| c.rows[1].as_ref().and_then(|r| r.value);
    table.sort_by(|a, b| match (csat(a), csat(b)) {
        (Some(x), Some(y)) => y.total_cmp(&x),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a.name.cmp(&b.name),
    });
    Ok(table)
}

fn children_table(engine: &Engine, dashboard: &Dashboard, table: &[ChildRow]) -> Markup {
    let units = [MetricUnit::Count, MetricUnit::Share, MetricUnit::Share];
    let interval = |row: &Option<cxm_metrics::MetricRow>, unit: &MetricUnit| match row
        .as_ref()
        .map(|r| (r.low, r.high))
    {
        Some((Some(low), Some(high))) => {
            format!("{} – {}", number(Some(low), unit), number(Some(high), unit))
        }
        _ => "–".to_owned(),
    };
    html! {
        table.children {
            thead { tr {
                th { "Unit" } th { "Contacts" } th { "CSAT" } th { "n" } th { "CSAT 95% interval" }
                th { "Rank" } th { "Repeat contacts" }
            } }
            tbody {
                @for ChildRow { id, name, rows } in table {
                    @let child = Subject::Unit(id.clone());
                    @let value = |i: usize| rows[i].as_ref().and_then(|r| r.value);
                    @let n = |i: usize| rows[i].as_ref().map_or(0, |r| r.n);
                    tr {
                        td { a href=(link(&format!("/units/{id}"), &dashboard.pairs(false))) { (name) } }
                        td.num {
                            (linked(&number(value(0), &units[0]), dashboard.records_link(engine, Some(&child), CHILD_METRICS[0], None), n(0)))
                        }
                        td.num {
                            (linked(&number(value(1), &units[1]), dashboard.records_link(engine, Some(&child), CHILD_METRICS[1], None), n(1)))
                        }
                        td.num { (n(1)) }
                        td.num { (interval(&rows[1], &units[1])) }
                        td.num {
                            @match rows[1].as_ref().and_then(|r| r.rank.map(|rank| (rank, r.ranked))) {
                                Some((rank, ranked)) => { (rank) " of " (ranked) }
                                None => { "–" }
                            }
                        }
                        td.num { (number(value(2), &units[2])) }
                    }
                }
            }
        }
    }
}
