//! The executive overview, `/overview`: the five front-line metrics, NPS, attrition and
//! revenue of a unit (the company for executives) against their targets and the endgame,
//! each with its change, its trend and a link to the records behind it; and the biggest
//! movers among the units (or, in a team, the agents) below it.

use axum::extract::State;
use axum::response::Response;
use cxm_domain::metrics::MetricUnit;
use cxm_metrics::movers::{Mover, movers};
use cxm_metrics::{Dimension, Engine, ScoreLine, Subject};
use maud::{Markup, PreEscaped, html};

use crate::dashboard::{Dashboard, Page, change, linked, number};
use crate::record_pages::link;
use crate::scope::Scope;
use crate::{ApiError, AppState};

/// The overview's cards, in order: the five front-line metrics, then NPS, attrition and
/// revenue.
pub const OVERVIEW_METRICS: [&str; 8] = [
    "repeat_contact_rate",
    "topics_per_contact",
    "hold_seconds",
    "handle_seconds",
    "csat",
    "nps",
    "attrition_rate",
    "revenue",
];

/// Metrics whose biggest movers are shown.
const MOVER_METRICS: [&str; 2] = ["csat", "repeat_contact_rate"];

/// Movers shown each way.
const MOVERS: usize = 5;

pub(crate) async fn overview(
    State(state): State<AppState>,
    page: Page,
) -> Result<Response, ApiError> {
    let (engine, scope, dashboard) = (&page.engine, &page.scope, &page.dashboard);
    let org = page.org();
    let subject = page.area()?;
    let Subject::Unit(unit) = &subject else {
        return Err(scope_refusal(scope));
    };
    let name = org.unit(unit).map_or(unit.as_str(), |u| u.name.as_str());
    let (card, charts) = page
        .scorecard_and_trends(&state, &subject, &OVERVIEW_METRICS)
        .await?;
    let lines: Vec<&ScoreLine> = OVERVIEW_METRICS
        .iter()
        .filter_map(|metric| card.lines.iter().find(|l| l.metric == *metric))
        .collect();
    let movers = movers_section(engine, scope, dashboard, unit).await?;
    let body = html! {
        h1 { "Overview · " (name) " · " (card.period) }
        (dashboard.form("/overview", org, scope, true))
        section.cards {
            @for (line, chart) in lines.iter().zip(&charts) {
                (metric_card(line, chart, dashboard.records_link(engine, Some(&subject), &line.metric, None)))
            }
        }
        (movers)
        p { a href=(link(&format!("/units/{unit}"), &dashboard.pairs(false))) { "The whole scorecard of " (name) } }
    };
    Ok(page.render("Overview", body))
}

fn scope_refusal(scope: &Scope) -> ApiError {
    match scope {
        Scope::Nothing { reason } => ApiError::Forbidden(reason.clone()),
        _ => ApiError::Forbidden("you have no unit to overview".into()),
    }
}

/// One metric's card: value (linked to its records), sample, change, target, endgame,
/// status and trend.
fn metric_card(line: &ScoreLine, chart: &str, records: Option<String>) -> Markup {
    let status = crate::api::name_of(&line.status);
    html! {
        article.card data-metric=(line.metric) {
            h3 { (line.label) }
            div class=(format!("value status-{status}")) {
                (linked(&number(line.actual, &line.unit), records, line.n))
            }
            div.meta {
                "n = " (line.n)
                @if let Some(c) = line.change {
                    " · " span class=(direction_class(line, c)) { (change(c, &line.unit)) }
                    @if let Some(p) = line.p_value { " (p = " (format!("{p:.3}")) ")" }
                }
            }
            div.meta {
                "Target " (number(line.target, &line.unit))
                " · endgame " (number(line.endgame, &line.unit))
                " · " (line.status.as_str())
            }
            (PreEscaped(chart))
        }
    }
}

/// `up` for a change for the better, `down` for the worse, nothing for neutral metrics.
fn direction_class(line: &ScoreLine, change: f64) -> &'static str {
    use cxm_domain::metrics::Direction;
    match line.direction {
        Direction::Higher if change > 0.0 => "up",
        Direction::Lower if change < 0.0 => "up",
        Direction::Neutral => "",
        _ if change == 0.0 => "",
        _ => "down",
    }
}

/// The units below `unit` (teams; in a team, its agents) whose CSAT and repeat contacts
/// moved most since the previous period, within the caller's scope.
async fn movers_section(
    engine: &Engine,
    scope: &Scope,
    dashboard: &Dashboard,
    unit: &str,
) -> Result<Markup, ApiError> {
    let org = engine.organisation();
    let level = org.unit(unit).map(|u| u.level.as_str());
    let dimension = if level == Some("team") {
        if matches!(scope, Scope::Own { .. }) {
            // Agents see their team's aggregates, not their colleagues' figures.
            return Ok(html! {});
        }
        Dimension::Agent
    } else {
        Dimension::Level("team".to_owned())
    };
    let rows = dashboard
        .period_rows(
            engine,
            scope,
            &Subject::Unit(unit.to_owned()),
            &MOVER_METRICS,
            vec![dimension.clone()],
        )
        .await?;
    let what = match &dimension {
        Dimension::Agent => "agents",
        _ => "teams",
    };
    // A mover's name, and its page when the caller may open it (an agent who has since
    // moved out of the team is listed, not linked).
    let place = |group: &str| -> (String, Option<String>) {
        match &dimension {
            Dimension::Agent => (
                org.person(group)
                    .map_or(group.to_owned(), |(name, _)| name.to_owned()),
                scope
                    .sees_person(org, group)
                    .then(|| format!("/people/{group}")),
            ),
            _ => (
                org.unit(group).map_or(group.to_owned(), |u| u.name.clone()),
                scope
                    .sees_unit(org, group)
                    .then(|| format!("/units/{group}")),
            ),
        }
    };
    let pairs = dashboard.pairs(false);
    let table = |title: &str, list: &[Mover], unit: &MetricUnit| {
        html! {
            div.movers {
                h3 { (title) }
                @if list.is_empty() {
                    p.meta { "None with enough answers in both periods." }
                } @else {
                    table {
                        thead { tr { th { "" } th { "Now" } th { "Change" } th { "p" } th { "n" } } }
                        tbody {
                            @for mover in list {
                                @let (name, href) = place(&mover.group);
                                tr {
                                    td {
                                        @match &href {
                                            Some(href) => { a href=(link(href, &pairs)) { (name) } }
                                            None => { (name) }
                                        }
                                    }
                                    td.num { (number(Some(mover.value), unit)) }
                                    td.num { (change(mover.change, unit)) }
                                    td.num { @if let Some(p) = mover.p_value { (format!("{p:.3}")) } @else { "–" } }
                                    td.num { (mover.n) }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(html! {
        h2 { "Biggest movers among " (what) " since the previous " (dashboard.period.grain.as_str()) }
        section.movers {
            @for metric in MOVER_METRICS {
                @if let Ok(definition) = engine.config().catalogue.get(metric) {
                    @let (improved, worsened) = movers(&rows, definition, dimension.name(), MOVERS);
                    (table(&format!("{}: most improved", definition.label), &improved, &definition.unit))
                    (table(&format!("{}: most worsened", definition.label), &worsened, &definition.unit))
                }
            }
        }
    })
}
