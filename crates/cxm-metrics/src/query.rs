//! One query model: metrics × group-by × time grain × filters, answered from cells with
//! every value's sample size, 95% interval, change against the previous period (with a
//! significance test) and rank among the groups that reach the metric's minimum sample.

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDate;
use cxm_domain::metrics::{Direction, Grain, MetricDefinition, MetricKind, Period, Source};
use cxm_domain::stats;
use serde::Serialize;

use crate::MetricsError;
use crate::cells::{Cells, Dictionary, NONE};
use crate::derive::days_since_epoch;
use crate::organisation::Organisation;
use crate::plan::{MetricPlan, Plan};

/// What a query groups by.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(into = "String")]
pub enum Dimension {
    /// The agent who handled the contact.
    Agent,
    /// The org unit at a level (team, site, division, company, …) the agent belonged to at
    /// the time of the contact.
    Level(String),
    Channel,
    Topic,
    /// Topic category.
    Category,
    /// Customer segment.
    Segment,
    /// Customer region.
    Region,
}

impl From<Dimension> for String {
    fn from(d: Dimension) -> String {
        d.name().to_owned()
    }
}

impl Dimension {
    pub fn parse(text: &str) -> Result<Dimension, String> {
        let text = text.trim().to_ascii_lowercase();
        Ok(match text.as_str() {
            "agent" | "person" => Dimension::Agent,
            "channel" => Dimension::Channel,
            "topic" => Dimension::Topic,
            "category" | "topic_category" => Dimension::Category,
            "segment" => Dimension::Segment,
            "region" => Dimension::Region,
            level if Organisation::levels().any(|l| l == level) => {
                Dimension::Level(level.to_owned())
            }
            other => {
                return Err(format!(
                    "unknown dimension {other:?}; expected agent, {}, channel, topic, category, segment or region",
                    Organisation::levels().collect::<Vec<_>>().join(", ")
                ));
            }
        })
    }

    pub fn name(&self) -> &str {
        match self {
            Dimension::Agent => "agent",
            Dimension::Level(level) => level,
            Dimension::Channel => "channel",
            Dimension::Topic => "topic",
            Dimension::Category => "category",
            Dimension::Segment => "segment",
            Dimension::Region => "region",
        }
    }

    /// Dimensions the rollup does not hold; asking for them scans the derived tables.
    fn extra(&self) -> Option<&'static str> {
        match self {
            Dimension::Topic => Some("topic"),
            Dimension::Category => Some("category"),
            Dimension::Segment => Some("segment"),
            Dimension::Region => Some("region"),
            _ => None,
        }
    }
}

/// Which rows a query considers.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Filters {
    /// First local day (inclusive); default: the first day with data.
    pub from: Option<NaiveDate>,
    /// Last local day (inclusive); default: the day of the latest contact.
    pub to: Option<NaiveDate>,
    /// Only this unit's subtree.
    pub unit: Option<String>,
    /// Only this person's contacts.
    pub person: Option<String>,
    pub channels: Vec<String>,
    pub topics: Vec<String>,
    pub segments: Vec<String>,
    pub regions: Vec<String>,
}

impl Filters {
    fn needs_scan(&self) -> bool {
        !(self.topics.is_empty() && self.segments.is_empty() && self.regions.is_empty())
    }
}

/// A question for the engine.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Query {
    /// Metric names; empty = the whole catalogue.
    pub metrics: Vec<String>,
    pub by: Vec<Dimension>,
    pub grain: Grain,
    pub filters: Filters,
}

impl Default for Query {
    fn default() -> Self {
        Query {
            metrics: Vec::new(),
            by: Vec::new(),
            grain: Grain::Month,
            filters: Filters::default(),
        }
    }
}

impl Query {
    /// Whether the rollup can answer it (else the derived tables are scanned).
    pub fn rollup_answers(&self) -> bool {
        !self.filters.needs_scan() && self.by.iter().all(|d| d.extra().is_none())
    }

    pub(crate) fn extra_dimensions(&self) -> Vec<String> {
        let mut extra: Vec<String> = self
            .by
            .iter()
            .filter_map(|d| d.extra().map(str::to_owned))
            .collect();
        extra.dedup();
        extra
    }
}

/// One value of one metric for one group and period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricRow {
    pub metric: String,
    pub period: String,
    /// Dimension name → group (unit id, agent id, channel, topic code, …; `(none)` when the
    /// row had no value for the dimension).
    pub group: BTreeMap<String, String>,
    /// `None` when the group had no observations in the period.
    pub value: Option<f64>,
    /// Observations behind the value (contacts, answers, customers active at the start).
    pub n: u64,
    pub low: Option<f64>,
    pub high: Option<f64>,
    pub previous: Option<f64>,
    pub change: Option<f64>,
    /// Two-sided p-value of the change (shares, means, NPS, attrition).
    pub p_value: Option<f64>,
    /// 1 = best among the groups of the period that reach the minimum sample (for
    /// neutral metrics such as handle time: the lowest).
    pub rank: Option<usize>,
    /// How many groups were ranked.
    pub ranked: usize,
}

/// The answer to a query.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueryResult {
    pub rows: Vec<MetricRow>,
    /// `rollup` or `scan`.
    pub answered_from: &'static str,
    /// Metrics that could not be computed for this query, with the reason.
    pub notes: Vec<String>,
}

/// Cells of each source of a query's metrics, with what is needed to group them.
pub(crate) struct Inputs<'a> {
    pub plan: Plan,
    pub cells: BTreeMap<Source, std::sync::Arc<Cells>>,
    pub dictionary: Dictionary,
    pub org: &'a Organisation,
    pub extra: Vec<String>,
}

/// The periods of a query and the range of days to read for them (one period earlier, for
/// the change).
pub(crate) struct Window {
    pub periods: Vec<Period>,
    /// The first day read: the start of the period before the first.
    pub first_day: i32,
    /// The query's first day (the first period may start earlier).
    pub from_day: i32,
    /// The day after the query's last.
    pub end_day: i32,
}

impl Window {
    pub fn new(grain: Grain, from: NaiveDate, to: NaiveDate) -> Window {
        let end = to.succ_opt().unwrap_or(to);
        let mut periods = Vec::new();
        if grain == Grain::All {
            periods.push(Period {
                grain,
                start: from,
                end,
            });
        } else {
            let mut period = Period::containing(grain, from);
            while period.start < end {
                periods.push(period);
                if period.end <= period.start {
                    break;
                }
                period = Period::containing(grain, period.end);
            }
        }
        let first = periods.first().map(|p| p.previous().start).unwrap_or(from);
        Window {
            periods,
            first_day: days_since_epoch(first),
            from_day: days_since_epoch(from),
            end_day: days_since_epoch(end),
        }
    }
}

/// Running sums of one group in one period.
#[derive(Debug, Clone, Default)]
struct Accumulator {
    components: Vec<f64>,
    /// The cells summed (when the source has quantile measures): their values are read
    /// in place when the quantile is computed, not copied.
    cells: Vec<u32>,
}

type GroupKey = Vec<u32>;

impl Inputs<'_> {
    /// Groups, sums and finishes the cells into rows.
    pub fn answer(
        mut self,
        query: &Query,
        window: &Window,
    ) -> Result<Vec<MetricRow>, MetricsError> {
        // Groups may be units no cell names directly (sites, divisions, the company).
        for unit in self.org.units() {
            self.dictionary.intern(Some(&unit.id));
        }
        let grouping = Grouping::new(self.org, &self.dictionary, query, &self.extra)?;
        let mut rows = Vec::new();
        for (source, cells) in &self.cells {
            let metrics: Vec<&MetricPlan> = self
                .plan
                .metrics
                .iter()
                .filter(|m| m.metric.source == *source)
                .collect();
            if metrics.is_empty() {
                continue;
            }
            if *source == Source::Customers {
                rows.extend(attrition_rows(&metrics, cells, &grouping, window));
                continue;
            }
            // Groups numbered as first seen; one accumulator slot per group and period
            // (slot 0: the period before the first).
            let slots = window.periods.len() + 1;
            let mut numbers = GroupNumbers::default();
            let mut accumulators: Vec<Option<Accumulator>> = Vec::new();
            let mut reported: Vec<bool> = Vec::new();
            if query.by.is_empty() {
                // One group, reported even when no row matched.
                numbers.number(&[]);
                accumulators.resize_with(slots, || None);
                reported.push(true);
            }
            let zero = Accumulator {
                components: vec![0.0; cells.components.len()],
                cells: Vec::new(),
            };
            let has_values = !cells.values.is_empty();
            let period_of = PeriodIndex::new(window);
            let mut key = Vec::with_capacity(query.by.len());
            for cell in 0..cells.len() {
                let Some(period) = period_of.index(cells.day[cell]) else {
                    continue;
                };
                if !grouping.key(cells, cell, &mut key) {
                    continue;
                }
                let group = numbers.number(&key);
                if group == reported.len() {
                    accumulators.resize_with((group + 1) * slots, || None);
                    reported.push(false);
                }
                let accumulator =
                    accumulators[group * slots + period].get_or_insert_with(|| zero.clone());
                // Components the question does not need were not read (empty columns).
                for (sum, column) in accumulator.components.iter_mut().zip(&cells.components) {
                    if let Some(value) = column.get(cell) {
                        *sum += value;
                    }
                }
                if has_values {
                    accumulator.cells.push(cell as u32);
                }
                reported[group] |= period > 0;
            }
            let keys: BTreeMap<GroupKey, usize> = numbers
                .keys
                .into_iter()
                .enumerate()
                .filter(|(group, _)| reported[*group])
                .map(|(group, key)| (key, group))
                .collect();
            for metric in metrics {
                for (key, &group) in &keys {
                    let start = rows.len();
                    // Each slot finished once: it is one period's value and the next's
                    // previous. A group without rows in a period has zero counts, no
                    // shares or means.
                    let finished: Vec<Finished> = (0..slots)
                        .map(|slot| {
                            let accumulator = accumulators[group * slots + slot].as_ref();
                            finish(metric, accumulator.unwrap_or(&zero), cells)
                        })
                        .collect();
                    for (p, period) in window.periods.iter().enumerate() {
                        let (current, previous) = (Some(finished[p + 1]), Some(finished[p]));
                        rows.push(row(metric, period, grouping.labels(key), current, previous));
                    }
                    // A group with nothing to say about this metric (e.g. relationship
                    // answers without a contact, for CSAT) is left out.
                    if !key.is_empty()
                        && rows[start..]
                            .iter()
                            .all(|r| r.n == 0 && r.previous.unwrap_or(0.0) == 0.0)
                    {
                        rows.truncate(start);
                    }
                }
            }
        }
        // Each metric's rows together, groups in the order of their names (S01-T01, P00042,
        // …), periods in time order (the sort is stable).
        let mut metric_order: HashMap<String, usize> = HashMap::new();
        for row in &rows {
            let next = metric_order.len();
            metric_order.entry(row.metric.clone()).or_insert(next);
        }
        rows.sort_by(|a, b| {
            metric_order[&a.metric]
                .cmp(&metric_order[&b.metric])
                .then_with(|| a.group.cmp(&b.group))
        });
        rank(&mut rows, &self.plan);
        Ok(rows)
    }
}

/// Group keys numbered as first seen: directly when there is no dimension or one (the
/// common cases: every cell is looked up), through a hash map for several.
#[derive(Default)]
struct GroupNumbers {
    /// One dimension: dictionary id → group number + 1 (0: not seen); the last entry is
    /// for `NONE`.
    direct: Vec<u32>,
    map: HashMap<GroupKey, usize>,
    keys: Vec<GroupKey>,
}

impl GroupNumbers {
    fn number(&mut self, key: &[u32]) -> usize {
        if key.is_empty() {
            if self.keys.is_empty() {
                self.keys.push(Vec::new());
            }
            return 0;
        }
        if let [id] = key {
            let slot = if *id == NONE { 0 } else { *id as usize + 1 };
            if slot >= self.direct.len() {
                self.direct.resize(slot + 1, 0);
            }
            if self.direct[slot] == 0 {
                self.keys.push(key.to_vec());
                self.direct[slot] = self.keys.len() as u32;
            }
            return self.direct[slot] as usize - 1;
        }
        if let Some(&group) = self.map.get(key) {
            return group;
        }
        self.keys.push(key.to_vec());
        self.map.insert(key.to_vec(), self.keys.len() - 1);
        self.keys.len() - 1
    }
}

/// Maps a local day to its period: 0 = the period before the first, 1… = the query's.
struct PeriodIndex {
    starts: Vec<i32>,
    first_period_start: i32,
    end: i32,
}

impl PeriodIndex {
    fn new(window: &Window) -> PeriodIndex {
        // The first period counts from the query's first day, the one before it whole.
        let mut starts = vec![window.first_day];
        starts.extend(window.periods.iter().enumerate().map(|(i, p)| {
            if i == 0 {
                window.from_day
            } else {
                days_since_epoch(p.start)
            }
        }));
        PeriodIndex {
            starts,
            first_period_start: window
                .periods
                .first()
                .map(|p| days_since_epoch(p.start))
                .unwrap_or(window.from_day),
            end: window.end_day,
        }
    }

    fn index(&self, day: i32) -> Option<usize> {
        if day < self.starts[0] || day >= self.end {
            return None;
        }
        let period = self.starts.partition_point(|&s| s <= day) - 1;
        // Days of the first period before the query's first day are left out.
        if period == 0 && self.starts.len() > 1 && day >= self.first_period_start {
            return None;
        }
        Some(period)
    }
}

/// How cells map to groups, and which cells a query keeps.
struct Grouping<'a> {
    dictionary: &'a Dictionary,
    dimensions: Vec<Dimension>,
    /// Per dimension of a level: dictionary id → ancestor id at that level (NONE).
    ancestors: Vec<Vec<u32>>,
    /// By dictionary id: within the query's unit filter (None = no filter).
    within: Option<Vec<bool>>,
    include_unassigned: bool,
    person: Option<u32>,
    channels: Option<Vec<u32>>,
    extra_index: Vec<Option<usize>>,
    root: u32,
}

impl<'a> Grouping<'a> {
    fn new(
        org: &Organisation,
        dictionary: &'a Dictionary,
        query: &Query,
        extra: &[String],
    ) -> Result<Grouping<'a>, MetricsError> {
        let root = org
            .root()
            .and_then(|r| dictionary.id(&r.id))
            .unwrap_or(NONE);
        let unit_ids: Vec<(u32, &str)> = dictionary
            .names()
            .iter()
            .enumerate()
            .filter(|(_, name)| org.unit(name).is_some())
            .map(|(i, name)| (i as u32, name.as_str()))
            .collect();
        let size = dictionary.names().len();
        let ancestors = query
            .by
            .iter()
            .map(|d| {
                let mut map = vec![NONE; size];
                if let Dimension::Level(level) = d {
                    for (id, name) in &unit_ids {
                        if let Some(ancestor) = org.ancestor_at(name, level) {
                            map[*id as usize] = dictionary.id(&ancestor.id).unwrap_or(NONE);
                        }
                    }
                }
                map
            })
            .collect();
        let (within, include_unassigned) = match &query.filters.unit {
            None => (None, true),
            Some(top) => {
                if org.unit(top).is_none() {
                    return Err(MetricsError::UnknownUnit(top.clone()));
                }
                let is_root = org.root().is_some_and(|r| &r.id == top);
                let mut within = vec![false; size];
                for (id, name) in &unit_ids {
                    within[*id as usize] = org.within(name, top);
                }
                (Some(within), is_root)
            }
        };
        let person = query
            .filters
            .person
            .as_ref()
            .map(|person| dictionary.id(person).unwrap_or(NONE - 1));
        let channels = (!query.filters.channels.is_empty()).then(|| {
            query
                .filters
                .channels
                .iter()
                .map(|c| dictionary.id(c).unwrap_or(NONE - 1))
                .collect()
        });
        let extra_index = query
            .by
            .iter()
            .map(|d| d.extra().and_then(|e| extra.iter().position(|x| x == e)))
            .collect();
        Ok(Grouping {
            dictionary,
            dimensions: query.by.clone(),
            ancestors,
            within,
            include_unassigned,
            person,
            channels,
            extra_index,
            root,
        })
    }

    /// The group of a cell into `key`; false when the query's filters leave it out.
    fn key(&self, cells: &Cells, cell: usize, key: &mut GroupKey) -> bool {
        let unit = cells.unit[cell];
        if let Some(within) = &self.within {
            let keep = if unit == NONE {
                self.include_unassigned
            } else {
                within.get(unit as usize).copied().unwrap_or(false)
            };
            if !keep {
                return false;
            }
        }
        if let Some(person) = self.person
            && cells.agent[cell] != person
        {
            return false;
        }
        if let Some(channels) = &self.channels
            && !channels.contains(&cells.channel[cell])
        {
            return false;
        }
        key.clear();
        key.extend(self.dimensions.iter().enumerate().map(|(i, d)| {
            match d {
                Dimension::Agent => cells.agent[cell],
                Dimension::Channel => cells.channel[cell],
                Dimension::Level(level) => {
                    if unit == NONE {
                        if level == "company" { self.root } else { NONE }
                    } else {
                        self.ancestors[i]
                            .get(unit as usize)
                            .copied()
                            .unwrap_or(NONE)
                    }
                }
                _ => self.extra_index[i]
                    .map(|e| cells.extra[e][cell])
                    .unwrap_or(NONE),
            }
        }));
        true
    }

    fn labels(&self, key: &GroupKey) -> BTreeMap<String, String> {
        self.dimensions
            .iter()
            .zip(key)
            .map(|(d, &id)| {
                (
                    d.name().to_owned(),
                    self.dictionary.name(id).unwrap_or(NO_GROUP).to_owned(),
                )
            })
            .collect()
    }
}

/// The label of a group with no value for a dimension (a contact of an agent without a
/// team, an answer without a contact). Such groups are reported but never ranked.
pub const NO_GROUP: &str = "(none)";

/// Whether a metric ranks its lowest values first: `lower` metrics, and neutral ones that
/// are not plain counts or sums (handle time: the quickest first).
pub fn ascending(metric: &MetricDefinition) -> bool {
    match metric.direction {
        Direction::Lower => true,
        Direction::Higher => false,
        Direction::Neutral => !matches!(metric.kind, MetricKind::Count | MetricKind::Sum),
    }
}

/// A finished value: the estimate and what a test of change needs.
#[derive(Debug, Clone, Copy)]
struct Finished {
    estimate: Option<stats::Estimate>,
    n: u64,
    test: Test,
}

#[derive(Debug, Clone, Copy)]
enum Test {
    None,
    Share {
        hits: u64,
        n: u64,
    },
    Mean(stats::Moments),
    Nps {
        promoters: u64,
        passives: u64,
        detractors: u64,
    },
}

fn count(x: f64) -> u64 {
    x.max(0.0).round() as u64
}

fn finish(metric: &MetricPlan, accumulator: &Accumulator, cells: &Cells) -> Finished {
    let c = |i: usize| accumulator.components[metric.components[i]];
    let no_interval = |value: f64, n: u64| stats::Estimate {
        value,
        n,
        low: f64::NAN,
        high: f64::NAN,
    };
    match metric.metric.kind {
        MetricKind::Count => {
            let n = count(c(0));
            Finished {
                estimate: Some(no_interval(c(0), n)),
                n,
                test: Test::None,
            }
        }
        MetricKind::Sum => {
            let n = count(c(0));
            Finished {
                estimate: (n > 0).then(|| no_interval(c(1), n)),
                n,
                test: Test::None,
            }
        }
        MetricKind::Share => {
            let (hits, n) = (count(c(0)), count(c(1)));
            Finished {
                estimate: stats::wilson(hits, n, stats::CONFIDENCE),
                n,
                test: Test::Share { hits, n },
            }
        }
        MetricKind::Mean => {
            let moments = stats::Moments {
                n: count(c(0)),
                sum: c(1),
                sum_of_squares: c(2),
            };
            Finished {
                estimate: stats::mean_t(
                    moments.n,
                    moments.sum,
                    moments.sum_of_squares,
                    stats::CONFIDENCE,
                ),
                n: moments.n,
                test: Test::Mean(moments),
            }
        }
        MetricKind::Quantile => {
            let q = metric.metric.quantile.unwrap_or(0.5);
            let estimate = metric
                .measure
                .and_then(|m| cells.values.get(m))
                .and_then(|values| {
                    let parts: Vec<&[f64]> = accumulator
                        .cells
                        .iter()
                        .map(|&cell| values.of_cell(cell as usize))
                        .collect();
                    quantile_of_parts(&parts, q)
                });
            Finished {
                n: estimate.map(|e| e.n).unwrap_or(0),
                estimate,
                test: Test::None,
            }
        }
        MetricKind::Nps => {
            let (promoters, passives, detractors) = (count(c(0)), count(c(1)), count(c(2)));
            Finished {
                estimate: stats::nps(promoters, passives, detractors, stats::CONFIDENCE),
                n: promoters + passives + detractors,
                test: Test::Nps {
                    promoters,
                    passives,
                    detractors,
                },
            }
        }
        // Attrition is finished by `attrition_rows`.
        MetricKind::Attrition => Finished {
            estimate: None,
            n: 0,
            test: Test::None,
        },
    }
}

/// The `q` quantile by linear interpolation between order statistics (Hyndman & Fan type
/// 7, the default of R, NumPy, DuckDB's `quantile_cont` and Polars), with a
/// distribution-free interval from the binomial ranks of the order statistics.
pub fn quantile(values: &[f64], q: f64) -> Option<stats::Estimate> {
    quantile_of_parts(&[values], q)
}

/// [`quantile`] of the values of several slices together (the cells of a group).
pub fn quantile_of_parts(parts: &[&[f64]], q: f64) -> Option<stats::Estimate> {
    let n: usize = parts.iter().map(|p| p.len()).sum();
    if n == 0 {
        return None;
    }
    let h = (n - 1) as f64 * q;
    let lower = h.floor() as usize;
    let z = stats::z_critical(stats::CONFIDENCE);
    let nf = n as f64;
    let spread = z * (nf * q * (1.0 - q)).sqrt();
    let low_rank = (nf * q - spread).floor().max(1.0) as usize;
    let high_rank = ((nf * q + spread).ceil() as usize).clamp(1, n);
    let [at_lower, at_upper, low, high] = order_statistics(
        parts,
        [lower, (lower + 1).min(n - 1), low_rank - 1, high_rank - 1],
    );
    let value = at_lower + (h - lower as f64) * (at_upper - at_lower);
    Some(stats::Estimate {
        value,
        n: n as u64,
        low: low.min(value),
        high: high.max(value),
    })
}

/// The values at the given 0-based ranks of the ascending order of all values of `parts`.
fn order_statistics<const K: usize>(parts: &[&[f64]], ranks: [usize; K]) -> [f64; K] {
    if let Some(found) = counted_order_statistics(parts, &ranks) {
        return found;
    }
    let mut values: Vec<f64> = Vec::with_capacity(parts.iter().map(|p| p.len()).sum());
    for part in parts {
        values.extend_from_slice(part);
    }
    ranks.map(|k| *values.select_nth_unstable_by(k, f64::total_cmp).1)
}

/// Order statistics by counting, for whole numbers spanning a range not much wider than
/// their count (seconds, scores): two passes over the values, in place, instead of a copy
/// and a selection per rank. `None` for anything else.
fn counted_order_statistics<const K: usize>(
    parts: &[&[f64]],
    ranks: &[usize; K],
) -> Option<[f64; K]> {
    let (mut min, mut max, mut n) = (f64::INFINITY, f64::NEG_INFINITY, 0usize);
    for part in parts {
        for &v in *part {
            // Whole numbers survive the round trip through an integer (NaN does not).
            if v != (v as i64) as f64 {
                return None;
            }
            min = min.min(v);
            max = max.max(v);
        }
        n += part.len();
    }
    let width = max - min;
    if width >= (2 * n + 4096) as f64 || n > u32::MAX as usize {
        return None;
    }
    let mut counts = vec![0u32; width as usize + 1];
    for part in parts {
        for &v in *part {
            counts[(v - min) as usize] += 1;
        }
    }
    let mut order: [usize; K] = std::array::from_fn(|i| i);
    order.sort_unstable_by_key(|&i| ranks[i]);
    let mut found = [0.0; K];
    let (mut bucket, mut below) = (0usize, 0usize);
    for i in order {
        // The bucket holding rank `ranks[i]`: the first whose running count passes it.
        while below + counts[bucket] as usize <= ranks[i] {
            below += counts[bucket] as usize;
            bucket += 1;
        }
        found[i] = min + bucket as f64;
    }
    Some(found)
}

fn finite(x: f64) -> Option<f64> {
    x.is_finite().then_some(x)
}

fn row(
    metric: &MetricPlan,
    period: &Period,
    group: BTreeMap<String, String>,
    current: Option<Finished>,
    previous: Option<Finished>,
) -> MetricRow {
    let estimate = current.and_then(|c| c.estimate);
    let previous_value = previous.and_then(|p| p.estimate).map(|e| e.value);
    let change = match (estimate, previous_value) {
        (Some(e), Some(p)) => Some(e.value - p),
        _ => None,
    };
    let p_value = match (current.map(|c| c.test), previous.map(|p| p.test)) {
        (Some(Test::Share { hits, n }), Some(Test::Share { hits: h0, n: n0 })) => {
            stats::two_proportions(hits, n, h0, n0).map(|d| d.p_value)
        }
        (Some(Test::Mean(a)), Some(Test::Mean(b))) => stats::welch(a, b).map(|d| d.p_value),
        (
            Some(Test::Nps {
                promoters,
                passives,
                detractors,
            }),
            Some(Test::Nps {
                promoters: p0,
                passives: s0,
                detractors: d0,
            }),
        ) => stats::nps_difference((promoters, passives, detractors), (p0, s0, d0))
            .map(|d| d.p_value),
        _ => None,
    };
    MetricRow {
        metric: metric.metric.name.clone(),
        period: period.to_string(),
        group,
        value: estimate.map(|e| e.value),
        n: current.map(|c| c.n).unwrap_or(0),
        low: estimate.and_then(|e| finite(e.low)),
        high: estimate.and_then(|e| finite(e.high)),
        previous: previous_value,
        change,
        p_value,
        rank: None,
        ranked: 0,
    }
}

/// Attrition per group and period: churns attributed to the group in the period ÷
/// customers attributed to it and active at the period's start (the sum of all changes
/// before that day).
fn attrition_rows(
    metrics: &[&MetricPlan],
    cells: &Cells,
    grouping: &Grouping,
    window: &Window,
) -> Vec<MetricRow> {
    let Some(first) = metrics.first() else {
        return Vec::new();
    };
    // Every attrition metric sums the same two components: active change and churns.
    let (change, churn) = (first.components[0], first.components[1]);
    let mut per_key: BTreeMap<GroupKey, BTreeMap<i32, (f64, f64)>> = BTreeMap::new();
    let mut key = Vec::new();
    for cell in 0..cells.len() {
        if cells.day[cell] >= window.end_day {
            continue;
        }
        if !grouping.key(cells, cell, &mut key) {
            continue;
        }
        let entry = per_key
            .entry(key.clone())
            .or_default()
            .entry(cells.day[cell])
            .or_default();
        entry.0 += cells.components[change][cell];
        entry.1 += cells.components[churn][cell];
    }
    let mut rows = Vec::new();
    for metric in metrics {
        for (key, days) in &per_key {
            let at = |period: &Period| -> Finished {
                let (start, end) = (days_since_epoch(period.start), days_since_epoch(period.end));
                let active: f64 = days.range(..start).map(|(_, (d, _))| d).sum();
                let churned: f64 = days.range(start..end).map(|(_, (_, c))| c).sum();
                let (hits, n) = (count(churned), count(active));
                let estimate = stats::wilson(hits, n, stats::CONFIDENCE).or_else(|| {
                    (n > 0).then(|| stats::Estimate {
                        value: churned / active,
                        n,
                        low: f64::NAN,
                        high: f64::NAN,
                    })
                });
                Finished {
                    estimate,
                    n,
                    test: Test::Share { hits, n },
                }
            };
            for period in &window.periods {
                let current = at(period);
                let previous = at(&period.previous());
                rows.push(row(
                    metric,
                    period,
                    grouping.labels(key),
                    Some(current),
                    Some(previous),
                ));
            }
        }
    }
    rows
}

/// Ranks the groups of each metric and period that reach the metric's minimum sample.
fn rank(rows: &mut [MetricRow], plan: &Plan) {
    let mut buckets: HashMap<(String, String), Vec<usize>> = HashMap::new();
    for (i, row) in rows.iter().enumerate() {
        buckets
            .entry((row.metric.clone(), row.period.clone()))
            .or_default()
            .push(i);
    }
    for ((metric, _), members) in buckets {
        let Some(definition) = plan.metrics.iter().find(|m| m.metric.name == metric) else {
            continue;
        };
        let definition = &definition.metric;
        let minimum = definition.min_sample();
        let mut eligible: Vec<(usize, f64)> = members
            .iter()
            .filter_map(|&i| {
                let value = rows[i].value?;
                let unassigned = rows[i].group.values().any(|g| g == NO_GROUP);
                (rows[i].n >= minimum && !unassigned).then_some((i, value))
            })
            .collect();
        // Counts and sums without a direction are not ranked.
        if definition.direction == Direction::Neutral
            && matches!(definition.kind, MetricKind::Count | MetricKind::Sum)
        {
            continue;
        }
        let ascending = ascending(definition);
        eligible.sort_by(|a, b| {
            let order = a.1.total_cmp(&b.1);
            if ascending { order } else { order.reverse() }
        });
        let ranked = eligible.len();
        let mut previous: Option<(f64, usize)> = None;
        for (position, (i, value)) in eligible.into_iter().enumerate() {
            // Ties share the better rank.
            let rank = match previous {
                Some((v, r)) if v == value => r,
                _ => position + 1,
            };
            previous = Some((value, rank));
            rows[i].rank = Some(rank);
            rows[i].ranked = ranked;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::derive::date_of_day;
    use proptest::prelude::*;

    #[test]
    fn quantiles_interpolate_like_numpy() {
        // numpy.quantile([1, 2, 3, 4, 10], 0.9) = 7.6; q = 0.5 → 3.
        let values = vec![10.0, 2.0, 4.0, 1.0, 3.0];
        assert!((quantile(&values, 0.9).unwrap().value - 7.6).abs() < 1e-12);
        assert_eq!(quantile(&values, 0.5).unwrap().value, 3.0);
        assert_eq!(quantile(&[5.0], 0.9).unwrap().value, 5.0);
        assert!(quantile(&[], 0.9).is_none());
        // numpy.quantile(range(1, 101), 0.9) = 90.1
        let hundred: Vec<f64> = (1..=100).map(f64::from).collect();
        let estimate = quantile(&hundred, 0.9).unwrap();
        assert!((estimate.value - 90.1).abs() < 1e-9);
        assert!(estimate.low <= 90.1 && estimate.high >= 90.1 && estimate.high <= 100.0);
    }

    proptest! {
        /// Counting and selection agree with a full sort, for whole numbers in a narrow
        /// range (counted), and for wide ranges and fractions (selected).
        #[test]
        fn order_statistics_match_a_sort(
            values in prop::collection::vec(
                prop_oneof![
                    (-50i32..3000).prop_map(f64::from),
                    (-1e9f64..1e9),
                    (0u32..10).prop_map(|x| f64::from(x) + 0.5),
                ],
                1..300,
            ),
            picks in prop::collection::vec(0.0f64..1.0, 4),
        ) {
            let n = values.len();
            let ranks: [usize; 4] = std::array::from_fn(|i| ((picks[i] * n as f64) as usize).min(n - 1));
            let mut sorted = values.clone();
            sorted.sort_by(f64::total_cmp);
            // In up to three parts, as the cells of a group.
            let (a, rest) = values.split_at(n / 3);
            let (b, c) = rest.split_at(rest.len() / 2);
            let found = order_statistics(&[a, b, c], ranks);
            for (i, &rank) in ranks.iter().enumerate() {
                prop_assert_eq!(found[i], sorted[rank]);
            }
        }
    }

    #[test]
    fn whole_seconds_are_counted() {
        let values: Vec<f64> = (0..1000).map(|i| f64::from((i * 37) % 500)).collect();
        let found = counted_order_statistics(&[&values[..10], &values[10..]], &[0, 999, 500]);
        assert_eq!(found, Some([0.0, 499.0, 250.0]));
        assert!(counted_order_statistics(&[&[0.5, 1.0]], &[0]).is_none());
        assert!(counted_order_statistics(&[&[0.0, 1e12]], &[0]).is_none());
        assert!(counted_order_statistics(&[&[f64::NAN, 1.0]], &[0]).is_none());
    }

    #[test]
    fn periods_of_a_window_include_the_one_before() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        let window = Window::new(Grain::Month, d("2025-01-15"), d("2025-03-02"));
        let labels: Vec<String> = window.periods.iter().map(|p| p.to_string()).collect();
        assert_eq!(labels, ["2025-01", "2025-02", "2025-03"]);
        assert_eq!(date_of_day(window.first_day), d("2024-12-01"));
        let index = PeriodIndex::new(&window);
        assert_eq!(index.index(days_since_epoch(d("2024-12-31"))), Some(0));
        assert_eq!(index.index(days_since_epoch(d("2025-02-01"))), Some(2));
        assert_eq!(index.index(days_since_epoch(d("2025-03-02"))), Some(3));
        assert_eq!(index.index(days_since_epoch(d("2025-03-03"))), None);
    }
}
