//! What the dashboards share: their filters (period, trend grain, unit, channel, segment),
//! which combine and stay in the URL; the filter bar; trend charts of any subject; and
//! links from a number to the records behind it with the same filters.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use cxm_domain::metrics::{Grain, MetricKind, MetricUnit, Period, Source};
use cxm_metrics::{Engine, Filters, Organisation, Query, Scorecard, Subject};
use cxm_sql::TargetStore;
use maud::{Markup, html};
use serde::Deserialize;

use crate::api::{Params, values};
use crate::auth::Principal;
use crate::pages::{home_subject, signed_in_page};
use crate::record_pages::link;
use crate::scope::Scope;
use crate::{ApiError, AppState};

/// What every dashboard page starts with: the signed-in caller, the engine as of now, the
/// caller's scope and the page's filters.
pub(crate) struct Page {
    pub principal: Principal,
    pub csrf: String,
    pub engine: Arc<Engine>,
    pub scope: Scope,
    pub dashboard: Dashboard,
}

/// A dashboard page's request: signed in (else to the sign-in page and back), with its
/// filters checked (else a 400 or 404 in our error format).
impl FromRequestParts<AppState> for Page {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Page, Response> {
        let principal = crate::auth::principal(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let (principal, csrf) =
            signed_in_page(principal, &parts.uri).map_err(|response| *response)?;
        let Params(params) = Params::<DashboardParams>::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let engine = state.engine().await;
        let scope = Scope::of(&principal, engine.organisation());
        let dashboard =
            Dashboard::resolve(&params, &engine).map_err(IntoResponse::into_response)?;
        Ok(Page {
            principal,
            csrf,
            engine,
            scope,
            dashboard,
        })
    }
}

impl Page {
    pub fn org(&self) -> &Organisation {
        self.engine.organisation()
    }

    /// The unit a page about the caller's area shows: the one asked for, else the
    /// caller's (an agent's team; an agent without a team: themselves), within the scope.
    pub(crate) fn area(&self) -> Result<Subject, ApiError> {
        let org = self.org();
        let subject = match &self.dashboard.unit {
            Some(unit) => Subject::Unit(unit.clone()),
            None => match (&self.scope, home_subject(&self.scope, org)) {
                (
                    Scope::Own {
                        team: Some(team), ..
                    },
                    _,
                ) => Subject::Unit(team.clone()),
                (_, Some(subject)) => subject,
                (Scope::Nothing { reason }, None) => {
                    return Err(ApiError::Forbidden(reason.clone()));
                }
                (_, None) => return Err(ApiError::NotFound("there are no org units yet".into())),
            },
        };
        self.scope.check_subject(org, &subject)?;
        Ok(subject)
    }

    /// `subject`'s scorecard in the period and slice.
    pub(crate) async fn scorecard(
        &self,
        state: &AppState,
        subject: &Subject,
    ) -> Result<Scorecard, ApiError> {
        let targets = state.store().targets().await?;
        Ok(cxm_metrics::scorecard::scorecard_of_slice(
            &self.engine,
            subject,
            self.dashboard.period,
            &self.dashboard.slice,
            &targets,
        )
        .await?)
    }

    /// `subject`'s scorecard in the period and slice, and the trends of `metrics` with
    /// their targets.
    pub(crate) async fn scorecard_and_trends(
        &self,
        state: &AppState,
        subject: &Subject,
        metrics: &[&str],
    ) -> Result<(Scorecard, Vec<String>), ApiError> {
        let card = self.scorecard(state, subject).await?;
        let targets: Vec<(String, f64)> = card
            .lines
            .iter()
            .filter_map(|l| l.target.map(|t| (l.metric.clone(), t)))
            .collect();
        let charts = self
            .dashboard
            .trends(&self.engine, &self.scope, Some(subject), metrics, &targets)
            .await?;
        Ok((card, charts))
    }

    /// The page in the layout, for its caller.
    pub(crate) fn render(&self, title: &str, body: Markup) -> Response {
        crate::pages::layout(title, Some((&self.principal, &self.csrf)), body).into_response()
    }
}

/// The dashboards' query parameters.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct DashboardParams {
    /// A year, quarter, month, ISO week or day [default: the latest complete month].
    pub period: Option<String>,
    /// The grain of the trend charts [default: the period's, or month for a year].
    pub grain: Option<String>,
    /// The unit to show (where a page has a choice) [default: the caller's].
    pub unit: Option<String>,
    /// Channels, comma-separated.
    pub channel: Option<String>,
    /// Customer segments, comma-separated.
    pub segment: Option<String>,
}

/// The dashboards' filters, checked.
#[derive(Debug, Clone)]
pub struct Dashboard {
    /// The period every number is about.
    pub period: Period,
    /// The grain of the trends (twelve of its periods up to the end of `period`).
    pub grain: Grain,
    /// The unit asked for (checked against the organisation, not yet against the scope).
    pub unit: Option<String>,
    /// The channels and segments every number is restricted to.
    pub slice: Filters,
    params: DashboardParams,
}

fn non_empty(text: &Option<String>) -> Option<&str> {
    text.as_deref().map(str::trim).filter(|t| !t.is_empty())
}

impl Dashboard {
    pub fn resolve(params: &DashboardParams, engine: &Engine) -> Result<Dashboard, ApiError> {
        for (name, value) in [
            ("unit", &params.unit),
            ("channel", &params.channel),
            ("segment", &params.segment),
        ] {
            if let Some(value) = value {
                crate::api::plain_text(name, value)?;
            }
        }
        let period = match non_empty(&params.period) {
            Some(text) => Period::parse(text).map_err(ApiError::BadRequest)?,
            None => cxm_metrics::scorecard::default_period(engine),
        };
        let grain = match non_empty(&params.grain) {
            Some(text) => Grain::parse(text).map_err(ApiError::BadRequest)?,
            None => match period.grain {
                Grain::Year | Grain::All => Grain::Month,
                grain => grain,
            },
        };
        if grain == Grain::All {
            return Err(ApiError::BadRequest(
                "a trend needs a grain finer than all: day, week, month, quarter or year".into(),
            ));
        }
        let unit = non_empty(&params.unit).map(str::to_owned);
        if let Some(unit) = &unit {
            crate::api::check_known(engine.organisation(), Some(unit.as_str()), None)?;
        }
        Ok(Dashboard {
            period,
            grain,
            unit,
            slice: Filters {
                channels: values(&params.channel),
                segments: values(&params.segment),
                ..Filters::default()
            },
            params: params.clone(),
        })
    }

    /// The last day of the period (inclusive).
    pub fn last_day(&self) -> chrono::NaiveDate {
        self.period.end.pred_opt().unwrap_or(self.period.end)
    }

    /// The filters of the period and the slice, for `subject`.
    pub fn filters(&self, subject: Option<&Subject>) -> Filters {
        let mut filters = Filters {
            from: Some(self.period.start),
            to: Some(self.last_day()),
            ..self.slice.clone()
        };
        match subject {
            Some(Subject::Unit(unit)) => filters.unit = Some(unit.clone()),
            Some(Subject::Person(person)) => filters.person = Some(person.clone()),
            None => {}
        }
        filters
    }

    /// The parameters that were given, for links that keep them (`unit` only when
    /// `with_unit`: pages of one unit carry it in their path).
    pub fn pairs(&self, with_unit: bool) -> Vec<(&'static str, String)> {
        [
            ("period", &self.params.period),
            ("grain", &self.params.grain),
            ("unit", if with_unit { &self.params.unit } else { &None }),
            ("channel", &self.params.channel),
            ("segment", &self.params.segment),
        ]
        .into_iter()
        .filter_map(|(name, value)| non_empty(value).map(|v| (name, v.to_owned())))
        .collect()
    }

    /// The slice as record-list parameters.
    fn slice_pairs(&self) -> Vec<(&'static str, String)> {
        let mut pairs = Vec::new();
        if !self.slice.channels.is_empty() {
            pairs.push(("channel", self.slice.channels.join(",")));
        }
        if !self.slice.segments.is_empty() {
            pairs.push(("segment", self.slice.segments.join(",")));
        }
        pairs
    }

    /// Where `metric`'s number for `subject` leads: the contacts or answers it counted in
    /// the period and slice (satisfaction answers lowest rated first), optionally of one
    /// topic. `None` for metrics of purchases and customers.
    pub fn records_link(
        &self,
        engine: &Engine,
        subject: Option<&Subject>,
        metric: &str,
        topic: Option<&str>,
    ) -> Option<String> {
        let definition = engine.config().catalogue.get(metric).ok()?;
        let mut pairs = vec![
            ("from", self.period.start.to_string()),
            ("to", self.last_day().to_string()),
        ];
        match subject {
            Some(Subject::Unit(unit)) => pairs.push(("unit", unit.clone())),
            Some(Subject::Person(person)) => pairs.push(("person", person.clone())),
            None => {}
        }
        pairs.extend(self.slice_pairs());
        if let Some(topic) = topic {
            pairs.push(("topic", topic.to_owned()));
        }
        let path = match definition.source {
            Source::Contacts => "/records/contacts",
            Source::Surveys => {
                pairs.push(("order", "worst".to_owned()));
                "/records/answers"
            }
            Source::Transactions | Source::Customers => return None,
        };
        Some(link(path, &pairs))
    }

    /// The filter bar (a GET form to `action`): period, trend grain, unit (those in scope,
    /// when `choose_unit`), channel and segment.
    pub fn form(
        &self,
        action: &str,
        org: &Organisation,
        scope: &Scope,
        choose_unit: bool,
    ) -> Markup {
        let value = |v: &Option<String>| v.clone().unwrap_or_default();
        let chosen = non_empty(&self.params.grain).map(|_| self.grain);
        html! {
            form.filters method="get" action=(action) {
                label { "Period" input name="period" placeholder=(self.period.to_string()) value=(value(&self.params.period)) title="2025, 2025-Q1, 2025-03, 2025-W10 or 2025-03-04"; }
                label { "Trend by"
                    select name="grain" {
                        option value="" { "default" }
                        @for choice in Grain::ALL.iter().filter(|g| **g != Grain::All) {
                            option value=(choice.as_str()) selected[chosen == Some(*choice)] { (choice.as_str()) }
                        }
                    }
                }
                @if choose_unit {
                    label { "Unit"
                        select name="unit" {
                            option value="" { "Yours" }
                            @for unit in org.units().iter().filter(|u| scope.sees_unit(org, &u.id)) {
                                option value=(unit.id) selected[self.unit.as_deref() == Some(unit.id.as_str())] {
                                    (unit.name) " (" (unit.level) ")"
                                }
                            }
                        }
                    }
                }
                label { "Channel" input name="channel" placeholder="phone,chat" value=(value(&self.params.channel)); }
                label { "Segment" input name="segment" value=(value(&self.params.segment)); }
                button type="submit" { "Apply" }
            }
        }
    }

    /// The rows of `metrics` by `by` for `subject` in the period and slice, within the
    /// caller's scope (the period's rows only, not the previous period's).
    pub async fn period_rows(
        &self,
        engine: &Engine,
        scope: &Scope,
        subject: &Subject,
        metrics: &[&str],
        by: Vec<cxm_metrics::Dimension>,
    ) -> Result<Vec<cxm_metrics::MetricRow>, ApiError> {
        let query = Query {
            metrics: metrics.iter().map(|m| (*m).to_owned()).collect(),
            filters: scope.narrow(engine.organisation(), &self.filters(Some(subject)), &by)?,
            by,
            grain: self.period.grain,
        };
        let period = self.period.to_string();
        let mut rows = engine.query(&query).await?.rows;
        rows.retain(|r| r.period == period);
        Ok(rows)
    }

    /// The twelve periods of the trend grain up to the end of the period.
    pub fn trend_periods(&self) -> Vec<Period> {
        let mut at = Period::containing(self.grain, self.last_day());
        let mut periods = vec![at];
        for _ in 1..12 {
            at = at.previous();
            periods.push(at);
        }
        periods.reverse();
        periods
    }

    /// The filters of the whole trend periods (the last one whole, also where the period
    /// asked for ends inside it) and the slice, for `subject`.
    pub fn trend_filters(&self, subject: Option<&Subject>) -> Filters {
        let periods = self.trend_periods();
        let mut filters = self.filters(subject);
        filters.from = periods.first().map(|p| p.start);
        filters.to = periods.last().map(|p| p.end.pred_opt().unwrap_or(p.end));
        filters
    }

    /// Trend charts of `metrics` for `subject` (within the caller's scope) over the twelve
    /// trend periods, with each metric's target line when `targets` has one.
    pub async fn trends(
        &self,
        engine: &Engine,
        scope: &Scope,
        subject: Option<&Subject>,
        metrics: &[&str],
        targets: &[(String, f64)],
    ) -> Result<Vec<String>, ApiError> {
        let periods = self.trend_periods();
        let filters = self.trend_filters(subject);
        let org = engine.organisation();
        let query = Query {
            metrics: metrics.iter().map(|m| (*m).to_owned()).collect(),
            by: Vec::new(),
            grain: self.grain,
            filters: scope.narrow(org, &filters, &[])?,
        };
        let answer = engine.query(&query).await?;
        let mut charts = Vec::new();
        for metric in metrics {
            let Ok(definition) = engine.config().catalogue.get(metric) else {
                continue;
            };
            let points: Vec<crate::charts::Point> = periods
                .iter()
                .map(|period| {
                    let label = period.to_string();
                    let row = answer
                        .rows
                        .iter()
                        .find(|r| r.metric == *metric && r.period == label);
                    crate::charts::Point {
                        label,
                        value: row.and_then(|r| r.value),
                        n: row.map_or(0, |r| r.n),
                    }
                })
                .collect();
            // A count's or a sum's target is for the period's length: drawn only against
            // points of the same grain.
            let comparable = self.grain == self.period.grain
                || !matches!(definition.kind, MetricKind::Count | MetricKind::Sum);
            let target = targets
                .iter()
                .find(|(m, _)| m == metric && comparable)
                .map(|(_, t)| *t);
            let unit = definition.unit;
            let chart = crate::charts::trend(
                &format!("{} by {}", definition.label, self.grain.as_str()),
                &points,
                target,
                &|v| number(Some(v), &unit),
            )
            .map_err(ApiError::internal)?;
            charts.push(chart);
        }
        Ok(charts)
    }
}

/// A metric's value as people read it.
pub fn number(value: Option<f64>, unit: &MetricUnit) -> String {
    match value {
        None => "–".into(),
        Some(v) => match unit {
            MetricUnit::Share => format!("{:.1}%", v * 100.0),
            MetricUnit::Seconds => format!("{v:.0} s"),
            MetricUnit::Count => format!("{v:.0}"),
            MetricUnit::Currency => format!("{v:.2}"),
            MetricUnit::Score | MetricUnit::Points | MetricUnit::Number => format!("{v:.2}"),
        },
    }
}

/// A change as people read it: shares in percentage points, with its sign.
pub fn change(value: f64, unit: &MetricUnit) -> String {
    match unit {
        MetricUnit::Share => format!("{:+.1} pts", value * 100.0),
        MetricUnit::Seconds => format!("{value:+.0} s"),
        MetricUnit::Count => format!("{value:+.0}"),
        _ => format!("{value:+.2}"),
    }
}

/// A number, linked to the records behind it when it has any.
pub fn linked(shown: &str, href: Option<String>, n: u64) -> Markup {
    html! {
        @match href {
            Some(href) if n > 0 => { a href=(href) { (shown) } }
            _ => { (shown) }
        }
    }
}

/// The links every signed-in page carries.
pub fn navigation() -> Markup {
    html! {
        nav.main {
            a href="/" { "Home" }
            a href="/overview" { "Overview" }
            a href="/topics" { "Topics" }
            a href="/drivers" { "Drivers" }
            a href="/value" { "Value" }
            a href="/retention" { "Retention" }
            a href="/root-causes" { "Root causes" }
            a href="/cases" { "Cases" }
            a href="/ideas" { "Ideas" }
            a href="/recognition" { "Recognition" }
            a href="/inbox" { "Inbox" }
            a href="/records/contacts" { "Contacts" }
            a href="/records/answers" { "Answers" }
        }
    }
}
