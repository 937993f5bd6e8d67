//! The analysis pages, each about the caller's area (or a unit of it) within their scope:
//!
//! - `/drivers`: what moves CSAT, NPS, CES or a rating — relative weights with 95%
//!   intervals, the importance × performance matrix and the full table;
//! - `/value`: customer lifetime value — the fitted models, the distribution of values,
//!   value by segment, team and NPS group, and the most valuable customers — and what
//!   experience is worth (purchases, revenue and churn after good and bad experiences);
//! - `/retention`: attrition by month and segment, retention curves by experience group,
//!   churn drivers;
//! - `/root-causes`: topics by the repeat contacts, complaints and dissatisfaction they
//!   bring, with growth and emerging topics, linked to their contacts.

use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use cxm_domain::metrics::MetricUnit;
use cxm_insight::drivers::{DriverReport, DriverSettings, Quadrant};
use cxm_insight::experience::{ExperienceReport, ExperienceRequest};
use cxm_insight::reports::{ClvRequest, DriverRequest, TimeUnit};
use cxm_insight::sources::{Candidates, Outcome};
use cxm_metrics::{Filters, Subject};
use maud::{Markup, PreEscaped, html};
use serde::Deserialize;

use crate::api::Params;
use crate::charts::analysis::{Curve, Estimate, MatrixPoint, interval_bars, matrix, step_curves};
use crate::charts::{Bar, Orientation, Point, bars, trend};
use crate::dashboard::{Page, linked, number};
use crate::scope::Scope;
use crate::{ApiError, AppState};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/drivers", get(drivers_page))
        .route("/value", get(value_page))
        .route("/retention", get(retention_page))
        .route("/root-causes", get(root_causes_page))
}

/// The area's name and the filters of its period and slice, narrowed to the scope.
fn area(page: &Page) -> Result<(Subject, String, Filters), ApiError> {
    let org = page.org();
    let subject = page.area()?;
    let name = match &subject {
        Subject::Unit(unit) => org.unit(unit).map_or(unit.clone(), |u| u.name.clone()),
        Subject::Person(person) => org
            .person(person)
            .map_or(person.clone(), |(n, _)| n.to_owned()),
    };
    let filters = page
        .scope
        .narrow(org, &page.dashboard.filters(Some(&subject)), &[])?;
    Ok((subject, name, filters))
}

fn percent(value: f64) -> String {
    if value.is_finite() {
        format!("{:.1}%", value * 100.0)
    } else {
        "–".into()
    }
}

fn interval(low: f64, high: f64, show: &dyn Fn(f64) -> String) -> String {
    if low.is_finite() && high.is_finite() {
        format!("[{}, {}]", show(low), show(high))
    } else {
        String::new()
    }
}

fn query_string(pairs: &[(&str, String)]) -> String {
    let encoded: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", url_escape(v)))
        .collect();
    encoded.join("&")
}

fn url_escape(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[derive(Debug, Default, Deserialize)]
struct OutcomeParam {
    outcome: Option<String>,
}

async fn drivers_page(
    page: Page,
    Params(asked): Params<OutcomeParam>,
) -> Result<Response, ApiError> {
    let (_, name, filters) = area(&page)?;
    let outcome = match asked
        .outcome
        .as_deref()
        .map(str::trim)
        .filter(|o| !o.is_empty())
    {
        Some(text) => {
            crate::api::plain_text("outcome", text)?;
            Outcome::parse(text)?
        }
        None => Outcome::Csat,
    };
    let request = DriverRequest {
        filters,
        outcome: outcome.clone(),
        candidates: Candidates::default(),
        settings: DriverSettings {
            resamples: 200,
            ..DriverSettings::default()
        },
    };
    let pairs = page.dashboard.pairs(true);
    let choices = html! {
        p.choices { "Explain: "
            @for (label, value) in [("CSAT", "csat"), ("NPS", "nps"), ("CES", "ces")] {
                @let with: Vec<(&str, String)> = pairs.iter().cloned().chain([("outcome", value.to_owned())]).collect();
                @if outcome.name() == value { strong { (label) } } @else { a href=(format!("/drivers?{}", query_string(&with))) { (label) } }
                " "
            }
        }
    };
    let body = match cxm_insight::reports::drivers(&page.engine, &request).await {
        Ok(report) => driver_body(&report)?,
        Err(cxm_insight::InsightError::Input(reason)) => {
            html! { p.note { "No driver analysis here: " (reason) } }
        }
        Err(other) => return Err(other.into()),
    };
    let title = format!("Drivers of {}", outcome.name());
    let body = html! {
        h1 { (title) " · " (name) " · " (page.dashboard.period.to_string()) }
        (page.dashboard.form("/drivers", page.org(), &page.scope, true))
        (choices)
        (body)
    };
    Ok(page.render(&title, body))
}

fn driver_body(report: &DriverReport) -> Result<Markup, ApiError> {
    let estimates: Vec<Estimate> = report
        .drivers
        .iter()
        .map(|d| Estimate {
            label: d.name.clone(),
            value: d.relative_weight.value,
            low: d.relative_weight.low,
            high: d.relative_weight.high,
            note: format!(
                "{} of the variance {}; {} of what the model explains",
                percent(d.relative_weight.value),
                interval(d.relative_weight.low, d.relative_weight.high, &percent),
                percent(d.share)
            ),
        })
        .collect();
    let chart = interval_bars(
        &format!(
            "Relative weights with 95% intervals (R² = {:.3})",
            report.r_squared.value
        ),
        &estimates,
        &percent,
    )
    .map_err(ApiError::internal)?;
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        if v.is_empty() { 0.0 } else { v[v.len() / 2] }
    };
    let points: Vec<MatrixPoint> = report
        .drivers
        .iter()
        .map(|d| MatrixPoint {
            label: d.name.clone(),
            x: d.performance,
            y: d.share,
            fix_first: d.quadrant == Quadrant::FixFirst,
            note: format!(
                "importance {}, performance {:.0}",
                percent(d.share),
                d.performance
            ),
        })
        .collect();
    let grid = matrix(
        "Importance × performance",
        &points,
        median(report.drivers.iter().map(|d| d.performance).collect()),
        median(report.drivers.iter().map(|d| d.share).collect()),
    )
    .map_err(ApiError::internal)?;
    let quadrant = |q: Quadrant| match q {
        Quadrant::FixFirst => "fix first",
        Quadrant::Maintain => "maintain",
        Quadrant::Monitor => "monitor",
        Quadrant::Reconsider => "reconsider",
    };
    Ok(html! {
        p { (report.n) " answers with every driver known (" (report.incomplete) " left out); R² "
            (format!("{:.3}", report.r_squared.value)) " " (interval(report.r_squared.low, report.r_squared.high, &|v| format!("{v:.3}")))
            "; " (report.resamples) " bootstrap resamples." }
        section.charts { (PreEscaped(chart)) (PreEscaped(grid)) }
        div.scroll { table.drivers {
            thead { tr { th { "Rank" } th { "Driver" } th { "Relative weight" } th { "95% interval" } th { "Share" }
                         th { "Shapley" } th { "Coefficient" } th { "95% interval" } th { "p" } th { "Mean" } th { "Performance" } th { "Quadrant" } } }
            tbody { @for d in &report.drivers {
                tr data-driver=(d.name) data-quadrant=(quadrant(d.quadrant)) {
                    td.num { (d.rank) } td { (d.name) }
                    td.num { (percent(d.relative_weight.value)) }
                    td.num { (interval(d.relative_weight.low, d.relative_weight.high, &percent)) }
                    td.num { (percent(d.share)) }
                    td.num { (d.shapley.map(|s| percent(s.value)).unwrap_or_else(|| "–".into())) }
                    td.num { (format!("{:+.3}", d.coefficient.value)) }
                    td.num { (interval(d.coefficient.low, d.coefficient.high, &|v| format!("{v:+.3}"))) }
                    td.num { (d.p_value.map(|p| format!("{p:.3}")).unwrap_or_else(|| "–".into())) }
                    td.num { (format!("{:.2}", d.mean)) }
                    td.num { (format!("{:.0}", d.performance)) }
                    td { (quadrant(d.quadrant)) }
                }
            } }
        } }
        @for (driver, reason) in &report.excluded { p.note { "Left out: " (driver) ": " (reason) } }
    })
}

async fn value_page(
    state: axum::extract::State<AppState>,
    page: Page,
) -> Result<Response, ApiError> {
    let (_, name, filters) = area(&page)?;
    // What experience is worth: every experience of the area, followed for 180 days.
    let worth = match cxm_insight::experience::experience_value(
        state.dir(),
        &page.engine,
        &ExperienceRequest {
            filters: Filters {
                from: None,
                to: None,
                ..filters.clone()
            },
            ..ExperienceRequest::default()
        },
    )
    .await
    {
        Ok(report) => experience_body(&report)?,
        Err(cxm_insight::InsightError::Input(reason)) => {
            html! { p.note { "No experience groups to compare: " (reason) } }
        }
        Err(other) => return Err(other.into()),
    };
    let request = ClvRequest {
        end: filters.to,
        filters: Filters {
            from: None,
            ..filters
        },
        unit: TimeUnit::Week,
        ..ClvRequest::default()
    };
    let report = match cxm_insight::reports::clv(&page.engine, &request).await {
        Ok(report) => report,
        Err(cxm_insight::InsightError::Input(reason)) => {
            let body = html! { h1 { "Customer value · " (name) } p.note { "No customer values here: " (reason) } (worth) };
            return Ok(page.render("Customer value", body));
        }
        Err(other) => return Err(other.into()),
    };
    let money = |v: f64| format!("{v:.2}");
    // the distribution of values, up to the 95th percentile, the rest in the last bar
    let mut values: Vec<f64> = report.values.iter().map(|c| c.value).collect();
    values.sort_by(f64::total_cmp);
    let cap = values
        .get(values.len() * 95 / 100)
        .copied()
        .unwrap_or(0.0)
        .max(1.0);
    let width = cap / 15.0;
    let mut counts = [0u64; 16];
    for v in &values {
        counts[((v / width).floor().max(0.0) as usize).min(15)] += 1;
    }
    let histogram: Vec<Bar> = counts
        .iter()
        .enumerate()
        .map(|(i, &n)| Bar {
            label: format!("{:.0}", i as f64 * width),
            value: n as f64,
            note: if i == 15 {
                format!("{n} customers worth {:.0} or more", i as f64 * width)
            } else {
                format!(
                    "{n} customers worth {:.0}–{:.0}",
                    i as f64 * width,
                    (i + 1) as f64 * width
                )
            },
        })
        .collect();
    let chart = bars(
        "Customers by 12-month value",
        &histogram,
        Orientation::Vertical,
    )
    .map_err(ApiError::internal)?;
    let org = page.org();
    let agents_only = matches!(page.scope, Scope::Own { .. });
    let p = &report.purchases;
    let s = &report.spend;
    let body = html! {
        h1 { "Customer value · " (name) " · to " (report.end.to_string()) }
        (page.dashboard.form("/value", org, &page.scope, true))
        p { (report.customers) " customers; expected margin over " (report.settings.months) " months, discounted "
            (format!("{}%", report.settings.monthly_discount * 100.0)) " a month: total "
            strong { (money(report.total_value)) } ", mean " (money(report.mean_value)) " per customer." }
        p.note { "BG/NBD (weeks): r = " (format!("{:.4}", p.model.r)) ", α = " (format!("{:.4}", p.model.alpha))
            ", a = " (format!("{:.4}", p.model.a)) ", b = " (format!("{:.4}", p.model.b))
            "; log-likelihood " (format!("{:.1}", p.log_likelihood)) " (" (p.convergence.method) "). "
            "Gamma-Gamma: p = " (format!("{:.3}", s.model.p)) ", q = " (format!("{:.3}", s.model.q)) ", γ = " (format!("{:.3}", s.model.gamma))
            " on " (s.customers) " repeat buyers (" (s.convergence.method) ")." }
        section.charts { (PreEscaped(chart)) }
        @for dimension in ["segment", "team", "nps_group"] {
            h2 { "By " (dimension.replace('_', " ")) }
            table.value data-by=(dimension) {
                thead { tr { th { (dimension.replace('_', " ")) } th { "Customers" } th { "Total value" } th { "Mean value" } th { "P(alive)" } th { "Expected purchases" } } }
                tbody { @for g in report.groups.iter().filter(|g| g.dimension == dimension) {
                    tr data-group=(g.group) {
                        td { @if dimension == "team" { (org.unit(&g.group).map_or(g.group.clone(), |u| u.name.clone())) } @else { (g.group) } }
                        td.num { (g.customers) } td.num { (money(g.total_value)) } td.num { (money(g.mean_value)) }
                        td.num { (percent(g.mean_probability_alive)) } td.num { (format!("{:.1}", g.expected_purchases)) }
                    }
                } }
            }
        }
        (worth)
        @if !agents_only {
            h2 { "Most valuable customers" }
            table.customers {
                thead { tr { th { "Customer" } th { "Segment" } th { "NPS group" } th { "Repeat purchases" } th { "P(alive)" } th { "Expected spend" } th { "Value" } } }
                tbody { @for c in report.values.iter().take(20) {
                    tr { td { (c.customer_id) } td { (c.segment.clone().unwrap_or_default()) } td { (c.nps_group.unwrap_or("–")) }
                         td.num { (c.frequency) } td.num { (percent(c.probability_alive)) } td.num { (money(c.expected_spend)) } td.num { (money(c.value)) } }
                } }
            }
        }
    };
    Ok(page.render("Customer value", body))
}

/// Customers grouped by experience: what they bought and how many left afterwards, the
/// revenue their attrition puts at risk, and the value of moving them to a better group.
fn experience_body(report: &ExperienceReport) -> Result<Markup, ApiError> {
    let money = |v: f64| format!("{v:.2}");
    let label = |dimension: &str| {
        match dimension {
            "nps_group" => "NPS group",
            "lowest_csat" => "Lowest CSAT",
            "repeat_contact" => "Repeat contact",
            "complaint" => "Complaint",
            other => other,
        }
        .to_owned()
    };
    let mut charts = String::new();
    for d in report
        .dimensions
        .iter()
        .filter(|d| matches!(d.dimension, "nps_group" | "lowest_csat"))
    {
        let items: Vec<Estimate> = d
            .comparison
            .groups
            .iter()
            .map(|g| Estimate {
                label: g.group.clone(),
                value: g.revenue.value,
                low: g.revenue.low,
                high: g.revenue.high,
                note: format!(
                    "{} customers: {} revenue each [{}, {}]",
                    g.customers,
                    money(g.revenue.value),
                    money(g.revenue.low),
                    money(g.revenue.high)
                ),
            })
            .collect();
        charts.push_str(
            &interval_bars(
                &format!("Revenue per customer by {}", label(d.dimension)),
                &items,
                &money,
            )
            .map_err(ApiError::internal)?,
        );
    }
    Ok(html! {
        h2 { "What experience is worth" }
        p { (report.customers) " customers with contacts before " (report.cut.to_string())
            ", followed " (report.follow_days) " days to " (report.follow_end.to_string())
            ": purchases, net revenue and churn afterwards, with 95% intervals. Revenue at risk is the churn rate times "
            "the group's revenue of the year before; excess is the part beyond the best group's churn." }
        section.charts { (PreEscaped(charts)) }
        @for d in &report.dimensions {
            h3 { (label(d.dimension)) " · " (d.customers) " customers" }
            table.experience data-by=(d.dimension) {
                thead { tr { th { (label(d.dimension)) } th { "Customers" } th { "Purchases each" } th { "Revenue each" } th { "95% interval" }
                             th { "Churn" } th { "95% interval" } th { "Revenue at risk" } th { "Excess at risk" } } }
                tbody { @for g in &d.comparison.groups {
                    tr data-group=(g.group) {
                        td { (g.group) } td.num { (g.customers) }
                        td.num { (format!("{:.2}", g.purchases.value)) }
                        td.num { (money(g.revenue.value)) }
                        td.num { (interval(g.revenue.low, g.revenue.high, &money)) }
                        td.num { (percent(g.churn_rate.value)) }
                        td.num { (interval(g.churn_rate.low, g.churn_rate.high, &percent)) }
                        td.num { (money(g.revenue_at_risk.value)) }
                        td.num { (g.excess_at_risk.map(|e| money(e.value)).unwrap_or_else(|| "–".into())) }
                    }
                } }
            }
            ul.moves { @for m in &d.comparison.moves {
                li data-from=(m.from) data-to=(m.to) {
                    "Moving the " (m.customers) " customers of “" (m.from) "” to “" (m.to) "”: "
                    strong { (format!("{:+.2}", m.value.value)) } " revenue "
                    (interval(m.value.low, m.value.high, &|v| format!("{v:+.2}")))
                    ", churn " (format!("{:+.1}", m.churn_change.value * 100.0)) " points "
                    (interval(m.churn_change.low * 100.0, m.churn_change.high * 100.0, &|v| format!("{v:+.1}")))
                    "."
                }
            } }
        }
    })
}

async fn retention_page(
    state: axum::extract::State<AppState>,
    page: Page,
) -> Result<Response, ApiError> {
    let (_, name, filters) = area(&page)?;
    let settings = DriverSettings {
        resamples: 200,
        ..DriverSettings::default()
    };
    let report = cxm_insight::attrition::attrition(
        state.dir(),
        &page.engine,
        &Filters {
            from: None,
            ..filters
        },
        &settings,
    )
    .await?;
    let points: Vec<Point> = report
        .by_month
        .iter()
        .map(|r| Point {
            label: r.period.clone(),
            value: r.value,
            n: r.n,
        })
        .collect();
    let monthly = trend("Attrition by month", &points, None, &|v| {
        format!("{:.1}%", v * 100.0)
    })
    .map_err(ApiError::internal)?;
    let mut charts = vec![monthly];
    for dimension in ["nps_group", "low_csat"] {
        let curves: Vec<Curve> = report
            .curves
            .iter()
            .filter(|c| c.dimension == dimension)
            .map(|c| Curve {
                name: format!("{} ({} customers)", c.group, c.customers),
                steps: c.points.iter().map(|p| (p.time, p.retained)).collect(),
            })
            .collect();
        let title = match dimension {
            "nps_group" => "Retention by NPS group (Kaplan-Meier)",
            _ => "Retention by whether the customer gave a CSAT of 1-2",
        };
        charts.push(
            step_curves(title, "days since the first contact", &curves)
                .map_err(ApiError::internal)?,
        );
    }
    let share = MetricUnit::Share;
    let body = html! {
        h1 { "Retention · " (name) }
        (page.dashboard.form("/retention", page.org(), &page.scope, true))
        section.charts { @for chart in &charts { (PreEscaped(chart)) } }
        h2 { "Attrition by segment" }
        table.attrition {
            thead { tr { th { "Segment" } th { "Attrition" } th { "95% interval" } th { "Customers at start" } } }
            tbody { @for r in &report.by_segment {
                tr { td { (r.group.get("segment").cloned().unwrap_or_default()) } td.num { (number(r.value, &share)) }
                     td.num { (number(r.low, &share)) " – " (number(r.high, &share)) } td.num { (r.n) } }
            } }
        }
        h2 { "What a customer's experience says about churn" }
        @match (&report.drivers, &report.drivers_note) {
            (Some(drivers), _) => { (driver_body(drivers)?) }
            (None, Some(note)) => { p.note { (note) } }
            _ => {}
        }
    };
    Ok(page.render("Retention", body))
}

async fn root_causes_page(State(state): State<AppState>, page: Page) -> Result<Response, ApiError> {
    let (subject, name, filters) = area(&page)?;
    let mut report = cxm_insight::root_causes::root_causes(&page.engine, &filters).await?;
    crate::insight_api::add_case_causes(&state, &page.engine, &page.scope, &filters, &mut report)
        .await?;
    let gap = |g: &Option<cxm_insight::root_causes::Gap>| match g {
        Some(g) => format!("{} vs {}", percent(g.rate), percent(g.rest)),
        None => "–".into(),
    };
    let engine = &page.engine;
    let dashboard = &page.dashboard;
    let body = html! {
        h1 { "Root causes · " (name) " · " (dashboard.period.to_string()) }
        (dashboard.form("/root-causes", page.org(), &page.scope, true))
        p { (report.totals.contacts) " contacts and " (report.totals.answers) " answers. Topics ranked by the repeat contacts, "
            "complaints and dissatisfied customers they bring beyond contacts without them; growth compares the last "
            (cxm_insight::root_causes::RECENT_DAYS) " days to the " (cxm_insight::root_causes::BASELINE_DAYS) " before." }
        div.scroll { table.root-causes {
            thead { tr { th { "Topic" } th { "Kind" } th { "Contacts" } th { "Repeat contacts" } th { "Complaints" }
                         th { "Not satisfied" } th { "Excess events" } th { "Growth" } th { "Closed cases (fixed)" } } }
            tbody { @for t in &report.topics {
                tr data-topic=(t.topic) data-emerging=(t.emerging) {
                    td { (t.name) " (" (t.topic) ")" @if t.emerging { " " strong.emerging { "emerging" } } }
                    td { (t.kind) }
                    td.num { (linked(&t.counts.contacts.to_string(), dashboard.records_link(engine, Some(&subject), "contacts", Some(&t.topic)), t.counts.contacts)) }
                    td.num { (gap(&t.repeats)) } td.num { (gap(&t.complaints)) } td.num { (gap(&t.dissatisfaction)) }
                    td.num { (format!("{:.0}", t.score)) }
                    td.num { (t.growth.map(|g| format!("×{g:.2}")).unwrap_or_else(|| "new".into())) }
                    td.num.cases { @if t.cases_closed > 0 { (t.cases_closed) " (" (t.cases_fixed) ")" } @else { "–" } }
                }
            } }
        } }
    };
    Ok(page.render("Root causes", body))
}
