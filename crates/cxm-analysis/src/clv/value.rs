//! Each customer's discounted lifetime value over a horizon.

use serde::{Deserialize, Serialize};

use super::{GammaGamma, PurchaseModel, Rfm};
use crate::AnalysisError;

/// How value is counted: over how many months, discounted how, at what margin.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ValueSettings {
    /// months ahead to count
    pub months: u32,
    /// discount rate per month (0.01 = 1% a month)
    pub monthly_discount: f64,
    /// share of a purchase's value that is margin (1 = count revenue)
    pub margin: f64,
    /// time units of the histories per month: 365.25 / 12 for days, that / 7 for weeks
    pub units_per_month: f64,
}

impl ValueSettings {
    /// Days per month, for histories kept in days.
    pub const DAYS_PER_MONTH: f64 = 365.25 / 12.0;
}

/// Each customer's expected margin over the next `settings.months` months: per month,
/// the purchase model's (BG/NBD's or Pareto/NBD's) expected purchases in that month ×
/// Gamma-Gamma's expected spend × margin, discounted to today at the end of the month. In the order of `customers`.
pub fn lifetime_values<P: PurchaseModel>(
    purchases: &P,
    spend: &GammaGamma,
    customers: &[Rfm],
    settings: &ValueSettings,
) -> Result<Vec<f64>, AnalysisError> {
    if !(settings.units_per_month > 0.0 && settings.monthly_discount > -1.0) {
        return Err(AnalysisError::Input(format!(
            "time units per month {} must be positive and the discount rate {} above -1",
            settings.units_per_month, settings.monthly_discount
        )));
    }
    if spend.q <= 1.0 {
        return Err(AnalysisError::Input(format!(
            "the spend model's q = {} ≤ 1 gives an infinite mean spend",
            spend.q
        )));
    }
    // The expected purchases depend on the history only through (x, t_x, T), which
    // customers share a lot: the discounted purchases per unit of spend are computed once
    // per distinct history, then scaled by each customer's expected spend.
    let discounted_purchases = |history: &Rfm| {
        let mut before = 0.0;
        let mut total = 0.0;
        for month in 1..=settings.months {
            let month = f64::from(month);
            let to_date =
                purchases.conditional_expected_purchases(month * settings.units_per_month, history);
            total += (to_date - before) / (1.0 + settings.monthly_discount).powf(month);
            before = to_date;
        }
        total
    };
    let mut index: std::collections::HashMap<(u64, u64, u64), usize> =
        std::collections::HashMap::new();
    let mut distinct: Vec<Rfm> = Vec::new();
    let keys: Vec<usize> = customers
        .iter()
        .map(|c| {
            let key = (c.frequency.to_bits(), c.recency.to_bits(), c.age.to_bits());
            *index.entry(key).or_insert_with(|| {
                distinct.push(*c);
                distinct.len() - 1
            })
        })
        .collect();
    let per_history = map_in_parallel(&distinct, discounted_purchases);
    Ok(customers
        .iter()
        .zip(keys)
        .map(|(c, k)| {
            let spend = spend.conditional_expected_spend(c).unwrap_or(f64::NAN);
            settings.margin * spend * per_history[k]
        })
        .collect())
}

/// `f` of every item, in order, on one thread per core for long inputs.
fn map_in_parallel<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if items.len() < 10_000 || cores == 1 {
        return items.iter().map(f).collect();
    }
    let chunk = items.len().div_ceil(cores);
    let f = &f;
    let parts: Vec<Vec<R>> = std::thread::scope(|scope| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|c| scope.spawn(move || c.iter().map(f).collect::<Vec<R>>()))
            .collect();
        handles
            .into_iter()
            .map(|h| match h.join() {
                Ok(values) => values,
                Err(panic) => std::panic::resume_unwind(panic),
            })
            .collect()
    });
    parts.into_iter().flatten().collect()
}
