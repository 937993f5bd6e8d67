//! The topics page, `/topics`: for every topic and category of the contacts in the
//! caller's scope (or a unit of it), the volume, repeat-contact rate, complaint rate and
//! CSAT in the period with samples, intervals and the change since the previous period;
//! and the trend of the most frequent topics. Every number links to its records.

use axum::response::Response;
use cxm_domain::metrics::MetricUnit;
use cxm_metrics::query::NO_GROUP;
use cxm_metrics::{Dimension, Engine, MetricRow, Query, Subject};
use maud::{Markup, PreEscaped, html};

use crate::ApiError;
use crate::dashboard::{Dashboard, Page, change, linked, number};
use crate::scope::Scope;

/// The columns of the topic tables.
const TOPIC_METRICS: [&str; 4] = ["contacts", "repeat_contact_rate", "complaint_rate", "csat"];

/// Topics whose volume is charted over the trend periods.
const TRENDED: usize = 6;

pub(crate) async fn topics_page(page: Page) -> Result<Response, ApiError> {
    let (engine, scope, dashboard) = (&page.engine, &page.scope, &page.dashboard);
    let org = page.org();
    let subject = page.area()?;
    let name = match &subject {
        Subject::Unit(unit) => org.unit(unit).map_or(unit.clone(), |u| u.name.clone()),
        Subject::Person(person) => org
            .person(person)
            .map_or(person.clone(), |(name, _)| name.to_owned()),
    };
    let period = dashboard.period.to_string();
    let mut tables = Vec::new();
    let mut topic_rows = Vec::new();
    for dimension in [Dimension::Topic, Dimension::Category] {
        let rows = dashboard
            .period_rows(
                engine,
                scope,
                &subject,
                &TOPIC_METRICS,
                vec![dimension.clone()],
            )
            .await?;
        tables.push(table(engine, dashboard, &subject, &dimension, &rows));
        if dimension == Dimension::Topic {
            topic_rows = rows;
        }
    }
    let trend = topic_trends(engine, scope, dashboard, &subject, &topic_rows).await?;
    let body = html! {
        h1 { "Topics · " (name) " · " (period) }
        (dashboard.form("/topics", org, scope, true))
        h2 { "By topic" }
        (tables[0])
        h2 { "By category" }
        (tables[1])
        h2 { "Trend of the most frequent topics" }
        section.trends { @for chart in &trend { (PreEscaped(chart)) } }
    };
    Ok(page.render("Topics", body))
}

/// One row per group, most contacts first: each metric with its sample and change; the
/// interval on hover.
fn table(
    engine: &Engine,
    dashboard: &Dashboard,
    subject: &Subject,
    dimension: &Dimension,
    rows: &[MetricRow],
) -> Markup {
    let org = engine.organisation();
    let mut groups: Vec<&str> = rows
        .iter()
        .filter_map(|r| r.group.get(dimension.name()).map(String::as_str))
        .collect();
    groups.sort_unstable();
    groups.dedup();
    let find = |group: &str, metric: &str| {
        rows.iter().find(|r| {
            r.metric == metric && r.group.get(dimension.name()).map(String::as_str) == Some(group)
        })
    };
    let volume = |group: &str| find(group, "contacts").and_then(|r| r.value).unwrap_or(0.0);
    groups.sort_by(|a, b| volume(b).total_cmp(&volume(a)).then_with(|| a.cmp(b)));
    let units: Vec<MetricUnit> = TOPIC_METRICS
        .iter()
        .map(|m| {
            engine
                .config()
                .catalogue
                .get(m)
                .map_or(MetricUnit::Number, |d| d.unit)
        })
        .collect();
    let label = |group: &str| match dimension {
        _ if group == NO_GROUP => "(no topic)".to_owned(),
        Dimension::Topic => org
            .topic(group)
            .map_or_else(|| group.to_owned(), |t| format!("{} ({group})", t.name)),
        _ => group.to_owned(),
    };
    html! {
        div.scroll {
            table.topics data-by=(dimension.name()) {
                thead { tr {
                    th { (dimension.name()) }
                    th { "Contacts" } th { "Change" }
                    th { "Repeat contacts" } th { "Complaints" }
                    th { "CSAT" } th { "n" } th { "CSAT change" }
                } }
                tbody {
                    @for group in &groups {
                        @let topic = (*dimension == Dimension::Topic && *group != NO_GROUP).then_some(*group);
                        tr data-group=(group) {
                            td { (label(group)) }
                            @for (index, metric) in TOPIC_METRICS.iter().enumerate() {
                                @let row = find(group, metric);
                                @let shown = number(row.and_then(|r| r.value), &units[index]);
                                @let interval = match row.map(|r| (r.low, r.high)) {
                                    Some((Some(low), Some(high))) => format!("95% interval {} – {}", number(Some(low), &units[index]), number(Some(high), &units[index])),
                                    _ => String::new(),
                                };
                                @let n = row.map_or(0, |r| r.n);
                                td.num title=(interval) data-metric=(metric) {
                                    @if topic.is_some() {
                                        (linked(&shown, dashboard.records_link(engine, Some(subject), metric, topic), n))
                                    } @else {
                                        (shown)
                                    }
                                }
                                @if index == 0 || index == 3 {
                                    @if index == 3 { td.num { (n) } }
                                    td.num title=(row.and_then(|r| r.p_value).map(|p| format!("p = {p:.3}")).unwrap_or_default()) {
                                        @match row.and_then(|r| r.change) {
                                            Some(c) => { (change(c, &units[index])) }
                                            None => { "–" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Contacts per trend period of the most frequent topics, one chart each.
async fn topic_trends(
    engine: &Engine,
    scope: &Scope,
    dashboard: &Dashboard,
    subject: &Subject,
    rows: &[MetricRow],
) -> Result<Vec<String>, ApiError> {
    let mut top: Vec<(&str, f64)> = rows
        .iter()
        .filter(|r| r.metric == "contacts")
        .filter_map(|r| Some((r.group.get("topic")?.as_str(), r.value?)))
        .filter(|(topic, _)| *topic != NO_GROUP)
        .collect();
    top.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    top.truncate(TRENDED);
    if top.is_empty() {
        return Ok(Vec::new());
    }
    let org = engine.organisation();
    let periods = dashboard.trend_periods();
    let mut filters = dashboard.trend_filters(Some(subject));
    filters.topics = top.iter().map(|(t, _)| (*t).to_owned()).collect();
    let by = vec![Dimension::Topic];
    let query = Query {
        metrics: vec!["contacts".into()],
        filters: scope.narrow(org, &filters, &by)?,
        by,
        grain: dashboard.grain,
    };
    let answer = engine.query(&query).await?;
    let mut charts = Vec::new();
    for (topic, _) in &top {
        let points: Vec<crate::charts::Point> = periods
            .iter()
            .map(|period| {
                let label = period.to_string();
                let row = answer.rows.iter().find(|r| {
                    r.period == label && r.group.get("topic").map(String::as_str) == Some(*topic)
                });
                crate::charts::Point {
                    label,
                    value: row.and_then(|r| r.value).or(Some(0.0)),
                    n: row.map_or(0, |r| r.n),
                }
            })
            .collect();
        let name = org.topic(topic).map_or(*topic, |t| t.name.as_str());
        charts.push(
            crate::charts::trend(
                &format!("{name}: contacts by {}", dashboard.grain.as_str()),
                &points,
                None,
                &|v| format!("{v:.0}"),
            )
            .map_err(ApiError::internal)?,
        );
    }
    Ok(charts)
}
