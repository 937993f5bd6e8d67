//! Customer lifetime value from purchase histories.
//!
//! A customer's history is summarised as RFM ([`Rfm`]): how many repeat purchases, when
//! the last one was, how long they have been a customer, and their mean repeat spend.
//! [`BgNbd`] models how often customers buy while they are customers and when they quietly
//! stop (Fader, Hardie & Lee 2005), [`ParetoNbd`] the same with dropout at any time
//! (Schmittlein, Morrison & Colombo 1987); [`GammaGamma`] models how much they spend per purchase
//! (Fader, Hardie & Lee 2005, "RFM and CLV"). Both are fitted by maximum likelihood; the
//! customer's value is their expected purchases over a horizon × expected spend × margin,
//! discounted period by period ([`lifetime_values`]).

mod bgnbd;
mod gamma_gamma;
mod histories;
mod pareto_nbd;
mod value;

pub use bgnbd::BgNbd;
pub use gamma_gamma::GammaGamma;
pub use histories::{Purchase, Rfm, rfm_summary};
pub use pareto_nbd::ParetoNbd;
pub use value::{ValueSettings, lifetime_values};

use serde::Serialize;

use crate::Convergence;

/// A model of how often customers buy and whether they still do: what a customer's value
/// needs from it.
pub trait PurchaseModel: Sync {
    /// Expected purchases of a customer with this history in the next `t` time units.
    fn conditional_expected_purchases(&self, t: f64, history: &Rfm) -> f64;
    /// Probability that a customer with this history is still a customer.
    fn probability_alive(&self, history: &Rfm) -> f64;
}

impl PurchaseModel for BgNbd {
    fn conditional_expected_purchases(&self, t: f64, history: &Rfm) -> f64 {
        BgNbd::conditional_expected_purchases(self, t, history)
    }

    fn probability_alive(&self, history: &Rfm) -> f64 {
        BgNbd::probability_alive(self, history)
    }
}

impl PurchaseModel for ParetoNbd {
    fn conditional_expected_purchases(&self, t: f64, history: &Rfm) -> f64 {
        ParetoNbd::conditional_expected_purchases(self, t, history)
    }

    fn probability_alive(&self, history: &Rfm) -> f64 {
        ParetoNbd::probability_alive(self, history)
    }
}

/// A fitted model: its parameters, the log-likelihood they reach and how the fit ended.
#[derive(Debug, Clone, Serialize)]
pub struct Fit<M> {
    pub model: M,
    /// total log-likelihood over the customers fitted
    pub log_likelihood: f64,
    /// customers the model was fitted on
    pub customers: u64,
    pub convergence: Convergence,
}

/// Whether a purchase model can be fitted to these histories: some customers, and some
/// repeat purchases to estimate purchase rates from.
pub(crate) fn fittable(customers: &[Rfm]) -> Result<(), crate::AnalysisError> {
    if customers.is_empty() {
        return Err(crate::AnalysisError::Input("no customers to fit".into()));
    }
    if customers.iter().all(|c| c.frequency == 0.0) {
        return Err(crate::AnalysisError::Input(
            "no customer made a repeat purchase: purchase rates cannot be estimated".into(),
        ));
    }
    Ok(())
}

/// Splits `items` into one chunk per core and adds up what `part` computes for each.
pub(crate) fn sum_in_parallel<T: Sync, S: Send>(
    items: &[T],
    part: impl Fn(&[T]) -> S + Sync,
    add: impl Fn(S, S) -> S,
) -> S {
    const SERIAL_BELOW: usize = 50_000;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if items.len() < SERIAL_BELOW || cores == 1 {
        return part(items);
    }
    let chunk = items.len().div_ceil(cores);
    std::thread::scope(|scope| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|c| scope.spawn(|| part(c)))
            .collect();
        let mut parts = handles.into_iter().map(|h| match h.join() {
            Ok(sum) => sum,
            Err(panic) => std::panic::resume_unwind(panic),
        });
        let first = parts.next().unwrap_or_else(|| part(&[]));
        parts.fold(first, add)
    })
}
