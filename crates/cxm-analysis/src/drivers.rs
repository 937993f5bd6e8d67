//! Key driver analysis: which candidate drivers (operational measures of a contact,
//! attribute ratings, topics) move an outcome (csat, nps, ces, a rating), how much, how
//! sure we are, and which to fix first.
//!
//! Importance is measured two ways that should agree: Johnson's relative weights and the
//! Shapley decomposition of R² (exact up to 18 drivers, with intervals up to 12). Both
//! split the model's R² among correlated drivers.
//! Intervals come from a bootstrap over random blocks of rows: the answers are dealt into
//! at most [`BLOCKS`] blocks once, each block keeps its sums and cross-products, and each
//! resample draws blocks with replacement. With up to [`BLOCKS`] rows every block is one
//! row and this is the ordinary bootstrap; above that it resamples means of iid rows with
//! the same variance at a cost independent of the number of answers.

mod importance;

use nalgebra::{DMatrix, DVector};
use rand::{RngExt, SeedableRng};
use rand_pcg::Pcg64;
use serde::Serialize;
use statrs::distribution::{ContinuousCDF, StudentsT};

use crate::AnalysisError;
use importance::{Correlations, MAX_SHAPLEY_DRIVERS, MAX_SHAPLEY_RESAMPLED};

/// Most blocks the bootstrap resamples.
pub const BLOCKS: usize = 2_000;

/// Which way a driver is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    HigherIsBetter,
    LowerIsBetter,
}

/// One candidate driver: a value per observation (NaN = missing).
#[derive(Debug, Clone)]
pub struct Driver {
    pub name: String,
    pub values: Vec<f64>,
    pub direction: Direction,
}

/// The observations of one analysis: an outcome value per observation (NaN = missing)
/// and the candidate drivers, each with a value per observation.
#[derive(Debug, Clone)]
pub struct Observations {
    pub outcome: String,
    pub values: Vec<f64>,
    pub drivers: Vec<Driver>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, serde::Deserialize)]
pub struct DriverSettings {
    /// bootstrap resamples for the intervals (0: no intervals)
    pub resamples: u32,
    pub seed: u64,
    /// confidence of the intervals (0.95)
    pub confidence: f64,
    /// fewest complete observations to analyse, and fewest non-missing values a driver
    /// needs to take part
    pub min_sample: usize,
}

impl Default for DriverSettings {
    fn default() -> Self {
        Self {
            resamples: 1_000,
            seed: 1,
            confidence: 0.95,
            min_sample: 30,
        }
    }
}

/// A statistic with its bootstrap percentile interval (`low`/`high` are NaN without
/// resamples).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Interval {
    pub value: f64,
    pub low: f64,
    pub high: f64,
}

/// Where a driver falls in the importance × performance matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Quadrant {
    /// important and performing below the other drivers: fix first
    FixFirst,
    /// important and performing well: keep it up
    Maintain,
    /// less important, performing below: watch
    Monitor,
    /// less important, performing well: possibly over-invested
    Reconsider,
}

#[derive(Debug, Clone, Serialize)]
pub struct DriverResult {
    pub name: String,
    pub direction: Direction,
    /// Johnson's relative weight: the share of the outcome's variance it accounts for
    pub relative_weight: Interval,
    /// relative weight as a share of the model's R² (0–1)
    pub share: f64,
    /// Shapley value of R² (None above 18 drivers; no interval above 12)
    pub shapley: Option<Interval>,
    /// standardised regression coefficient (sd of outcome per sd of driver)
    pub coefficient: Interval,
    /// two-sided p-value of the coefficient (t test; None for an exactly collinear driver)
    pub p_value: Option<f64>,
    /// 1 = most important (by relative weight)
    pub rank: usize,
    /// mean value of the driver in the analysed observations
    pub mean: f64,
    /// the mean placed in the driver's observed range, 0–100, 100 = best end
    pub performance: f64,
    pub quadrant: Quadrant,
}

#[derive(Debug, Clone, Serialize)]
pub struct DriverReport {
    pub outcome: String,
    /// complete observations analysed
    pub n: usize,
    /// observations left out for a missing outcome or driver value
    pub incomplete: usize,
    /// variance of the outcome explained by all drivers together
    pub r_squared: Interval,
    pub resamples: u32,
    /// by importance, most important first
    pub drivers: Vec<DriverResult>,
    /// candidate drivers left out, with the reason
    pub excluded: Vec<(String, String)>,
}

/// Runs the analysis. Drivers with too few values, or that never vary, are left out with
/// the reason; observations missing the outcome or any remaining driver are left out and
/// counted.
pub fn analyse(
    observations: &Observations,
    settings: &DriverSettings,
) -> Result<DriverReport, AnalysisError> {
    let n = observations.values.len();
    if let Some(driver) = observations.drivers.iter().find(|d| d.values.len() != n) {
        return Err(AnalysisError::Input(format!(
            "driver {} has {} values for {n} observations",
            driver.name,
            driver.values.len()
        )));
    }
    if !(settings.confidence > 0.0 && settings.confidence < 1.0) {
        return Err(AnalysisError::Input(format!(
            "confidence {} is not between 0 and 1",
            settings.confidence
        )));
    }
    let has_outcome: Vec<bool> = observations.values.iter().map(|v| v.is_finite()).collect();
    let mut excluded = Vec::new();
    let mut kept: Vec<&Driver> = Vec::new();
    for driver in &observations.drivers {
        let present = driver
            .values
            .iter()
            .zip(&has_outcome)
            .filter(|(v, o)| **o && v.is_finite())
            .count();
        if present < settings.min_sample {
            excluded.push((
                driver.name.clone(),
                format!(
                    "{present} values with an outcome, fewer than {}",
                    settings.min_sample
                ),
            ));
        } else {
            kept.push(driver);
        }
    }
    let complete: Vec<usize> = (0..n)
        .filter(|&i| has_outcome[i] && kept.iter().all(|d| d.values[i].is_finite()))
        .collect();
    // constant drivers explain nothing and make the correlation undefined
    let mut varying = Vec::new();
    for driver in kept {
        let first = complete.first().map(|&i| driver.values[i]);
        if complete.iter().all(|&i| Some(driver.values[i]) == first) {
            excluded.push((
                driver.name.clone(),
                "the same value in every observation".into(),
            ));
        } else {
            varying.push(driver);
        }
    }
    let drivers = varying;
    if complete.len() < settings.min_sample.max(3) {
        return Err(AnalysisError::Input(format!(
            "{} complete observations of {} and its drivers, fewer than {}",
            complete.len(),
            observations.outcome,
            settings.min_sample.max(3)
        )));
    }
    if drivers.is_empty() {
        return Err(AnalysisError::Input(format!(
            "no candidate driver of {} can be analysed",
            observations.outcome
        )));
    }
    if complete
        .iter()
        .all(|&i| observations.values[i] == observations.values[complete[0]])
    {
        return Err(AnalysisError::Input(format!(
            "{} has the same value in every complete observation",
            observations.outcome
        )));
    }

    let columns: Vec<&[f64]> = std::iter::once(observations.values.as_slice())
        .chain(drivers.iter().map(|d| d.values.as_slice()))
        .collect();
    let blocks = Blocks::deal(&columns, &complete, settings.seed);
    let everything = blocks.total();
    let estimate = Estimates::of(&everything, true).ok_or_else(|| {
        AnalysisError::Input("the drivers' correlations could not be computed".into())
    })?;

    let mut rng = Pcg64::seed_from_u64(settings.seed);
    let mut resampled: Vec<Estimates> = Vec::with_capacity(settings.resamples as usize);
    let mut sums = Moments::new(columns.len());
    for _ in 0..settings.resamples {
        sums.clear();
        for _ in 0..blocks.blocks.len() {
            sums.add(&blocks.blocks[rng.random_range(0..blocks.blocks.len())]);
        }
        if let Some(e) = Estimates::of(&sums, drivers.len() <= MAX_SHAPLEY_RESAMPLED) {
            resampled.push(e);
        }
    }
    let interval = |value: f64, pick: &dyn Fn(&Estimates) -> f64| {
        percentile_interval(
            value,
            resampled.iter().map(pick).collect(),
            settings.confidence,
        )
    };

    let p = drivers.len();
    let r_squared: f64 = estimate.weights.iter().sum();
    let df = complete.len() as f64 - p as f64 - 1.0;
    let means: Vec<f64> = (0..p).map(|j| everything.mean(j + 1)).collect();
    let performance: Vec<f64> = drivers
        .iter()
        .zip(&means)
        .map(|(d, mean)| {
            let (low, high) = complete
                .iter()
                .map(|&i| d.values[i])
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), v| {
                    (l.min(v), h.max(v))
                });
            let place = (mean - low) / (high - low) * 100.0;
            match d.direction {
                Direction::HigherIsBetter => place,
                Direction::LowerIsBetter => 100.0 - place,
            }
        })
        .collect();
    let mut results: Vec<DriverResult> = drivers
        .iter()
        .enumerate()
        .map(|(j, driver)| {
            let p_value = estimate.inflation[j].and_then(|inflation| {
                if df < 1.0 {
                    return None;
                }
                let se = ((1.0 - r_squared).max(0.0) / df * inflation).sqrt();
                let t = estimate.coefficients[j] / se;
                let dist = StudentsT::new(0.0, 1.0, df).ok()?;
                Some(if t.is_finite() {
                    2.0 * (1.0 - dist.cdf(t.abs()))
                } else {
                    0.0
                })
            });
            DriverResult {
                name: driver.name.clone(),
                direction: driver.direction,
                relative_weight: interval(estimate.weights[j], &|e| e.weights[j]),
                share: if r_squared > 0.0 {
                    estimate.weights[j] / r_squared
                } else {
                    0.0
                },
                shapley: estimate
                    .shapley
                    .as_ref()
                    .map(|s| interval(s[j], &|e| e.shapley.as_ref().map_or(f64::NAN, |s| s[j]))),
                coefficient: interval(estimate.coefficients[j], &|e| e.coefficients[j]),
                p_value,
                rank: 0,
                mean: means[j],
                performance: performance[j],
                quadrant: Quadrant::Monitor,
            }
        })
        .collect();
    results.sort_by(|a, b| b.relative_weight.value.total_cmp(&a.relative_weight.value));
    let median_share = median(results.iter().map(|r| r.share).collect());
    let median_performance = median(results.iter().map(|r| r.performance).collect());
    for (rank, result) in results.iter_mut().enumerate() {
        result.rank = rank + 1;
        let important = result.share >= median_share;
        let performing = result.performance >= median_performance;
        result.quadrant = match (important, performing) {
            (true, false) => Quadrant::FixFirst,
            (true, true) => Quadrant::Maintain,
            (false, false) => Quadrant::Monitor,
            (false, true) => Quadrant::Reconsider,
        };
    }
    if p > MAX_SHAPLEY_DRIVERS {
        excluded.push((
            "(Shapley values)".into(),
            format!(
                "not computed for more than {MAX_SHAPLEY_DRIVERS} drivers; relative weights are"
            ),
        ));
    }
    Ok(DriverReport {
        outcome: observations.outcome.clone(),
        n: complete.len(),
        incomplete: n - complete.len(),
        r_squared: interval(r_squared, &|e| e.weights.iter().sum()),
        resamples: settings.resamples,
        drivers: results,
        excluded,
    })
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

fn percentile_interval(value: f64, mut draws: Vec<f64>, confidence: f64) -> Interval {
    draws.retain(|d| d.is_finite());
    if draws.is_empty() {
        return Interval {
            value,
            low: f64::NAN,
            high: f64::NAN,
        };
    }
    draws.sort_by(f64::total_cmp);
    let at = |q: f64| {
        let position = q * (draws.len() - 1) as f64;
        let (below, fraction) = (position.floor() as usize, position.fract());
        let above = (below + 1).min(draws.len() - 1);
        draws[below] + fraction * (draws[above] - draws[below])
    };
    let tail = (1.0 - confidence) / 2.0;
    Interval {
        value,
        low: at(tail),
        high: at(1.0 - tail),
    }
}

/// What one (re)sample gives.
struct Estimates {
    weights: Vec<f64>,
    shapley: Option<Vec<f64>>,
    coefficients: Vec<f64>,
    inflation: Vec<Option<f64>>,
}

impl Estimates {
    fn of(moments: &Moments, with_shapley: bool) -> Option<Self> {
        let c = moments.correlations()?;
        Some(Self {
            weights: importance::relative_weights(&c),
            shapley: if with_shapley {
                importance::shapley(&c)
            } else {
                None
            },
            coefficients: importance::standardised_coefficients(&c),
            inflation: importance::inflation(&c),
        })
    }
}

/// Count, sums and cross-products of the outcome (column 0) and drivers, centred on the
/// means of all observations so sums of many blocks stay accurate.
#[derive(Debug, Clone)]
struct Moments {
    columns: usize,
    n: f64,
    sums: Vec<f64>,
    /// upper triangle, row-major, k × k
    products: Vec<f64>,
    centre: Vec<f64>,
}

impl Moments {
    fn new(columns: usize) -> Self {
        Self {
            columns,
            n: 0.0,
            sums: vec![0.0; columns],
            products: vec![0.0; columns * columns],
            centre: vec![0.0; columns],
        }
    }

    fn clear(&mut self) {
        self.n = 0.0;
        self.sums.fill(0.0);
        self.products.fill(0.0);
    }

    fn push(&mut self, row: &[f64]) {
        let k = self.columns;
        self.n += 1.0;
        for (i, &di) in row.iter().enumerate().take(k) {
            self.sums[i] += di;
            for (j, &dj) in row.iter().enumerate().take(k).skip(i) {
                self.products[i * k + j] += di * dj;
            }
        }
    }

    fn add(&mut self, other: &Moments) {
        self.n += other.n;
        self.sums
            .iter_mut()
            .zip(&other.sums)
            .for_each(|(a, b)| *a += b);
        self.products
            .iter_mut()
            .zip(&other.products)
            .for_each(|(a, b)| *a += b);
    }

    fn mean(&self, column: usize) -> f64 {
        self.centre[column] + self.sums[column] / self.n
    }

    fn covariance(&self, i: usize, j: usize) -> f64 {
        let (i, j) = if i <= j { (i, j) } else { (j, i) };
        (self.products[i * self.columns + j] - self.sums[i] * self.sums[j] / self.n)
            / (self.n - 1.0)
    }

    fn correlations(&self) -> Option<Correlations> {
        if self.n < 3.0 {
            return None;
        }
        let p = self.columns - 1;
        let sd: Vec<f64> = (0..self.columns)
            .map(|i| self.covariance(i, i).sqrt())
            .collect();
        if sd.iter().any(|s| !(s.is_finite() && *s > 0.0)) {
            return None;
        }
        let among = DMatrix::from_fn(p, p, |i, j| {
            if i == j {
                1.0
            } else {
                self.covariance(i + 1, j + 1) / (sd[i + 1] * sd[j + 1])
            }
        });
        let with_outcome =
            DVector::from_fn(p, |i, _| self.covariance(0, i + 1) / (sd[0] * sd[i + 1]));
        Some(Correlations {
            among,
            with_outcome,
        })
    }
}

/// The complete observations dealt at random into blocks.
struct Blocks {
    blocks: Vec<Moments>,
}

impl Blocks {
    fn deal(columns: &[&[f64]], rows: &[usize], seed: u64) -> Self {
        let k = columns.len();
        let centre: Vec<f64> = columns
            .iter()
            .map(|c| rows.iter().map(|&i| c[i]).sum::<f64>() / rows.len() as f64)
            .collect();
        let count = rows.len().min(BLOCKS);
        let mut blocks: Vec<Moments> = (0..count)
            .map(|_| {
                let mut m = Moments::new(k);
                m.centre.clone_from(&centre);
                m
            })
            .collect();
        // a random order, so blocks are alike whatever order the rows came in
        let mut order: Vec<usize> = rows.to_vec();
        let mut rng = Pcg64::seed_from_u64(seed ^ 0x9e37_79b9_7f4a_7c15);
        for i in (1..order.len()).rev() {
            order.swap(i, rng.random_range(0..=i));
        }
        let mut row = vec![0.0; k];
        for (position, &i) in order.iter().enumerate() {
            for (value, column) in row.iter_mut().zip(columns) {
                *value = column[i];
            }
            for (value, centre) in row.iter_mut().zip(&centre) {
                *value -= centre;
            }
            blocks[position % count].push(&row);
        }
        Self { blocks }
    }

    fn total(&self) -> Moments {
        let mut total = Moments::new(self.blocks[0].columns);
        total.centre.clone_from(&self.blocks[0].centre);
        for block in &self.blocks {
            total.add(block);
        }
        total
    }
}

/// Spearman's rank correlation of two equally long lists (ties get their mean rank).
pub fn spearman(a: &[f64], b: &[f64]) -> Option<f64> {
    if a.len() != b.len() || a.len() < 2 {
        return None;
    }
    let (ra, rb) = (ranks(a), ranks(b));
    let mean = (a.len() as f64 + 1.0) / 2.0;
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (x, y) in ra.iter().zip(&rb) {
        sab += (x - mean) * (y - mean);
        saa += (x - mean).powi(2);
        sbb += (y - mean).powi(2);
    }
    let r = sab / (saa * sbb).sqrt();
    r.is_finite().then_some(r)
}

fn ranks(values: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&i, &j| values[i].total_cmp(&values[j]));
    let mut ranks = vec![0.0; values.len()];
    let mut start = 0;
    while start < order.len() {
        let mut end = start;
        while end + 1 < order.len() && values[order[end + 1]] == values[order[start]] {
            end += 1;
        }
        let rank = (start + end) as f64 / 2.0 + 1.0;
        for &i in &order[start..=end] {
            ranks[i] = rank;
        }
        start = end + 1;
    }
    ranks
}
