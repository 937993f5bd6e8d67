//! Gamma-Gamma: a customer's purchase values vary around their own mean spend, which
//! varies across customers (Fader, Hardie & Lee 2005, "RFM and CLV"; Colombo & Jiang 1999).
//! Fitted on customers with at least one repeat purchase, assuming spend is independent
//! of purchase frequency.

use serde::Serialize;

use super::{Fit, Rfm, sum_in_parallel};
use crate::AnalysisError;
use crate::optimize::{Likelihood, maximise};
use crate::special::{digamma, ln_gamma};

/// Gamma-Gamma parameters (`gamma` in money units).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct GammaGamma {
    pub p: f64,
    pub q: f64,
    pub gamma: f64,
}

impl GammaGamma {
    /// Fits the model to the repeat buyers among `customers` (those with frequency > 0);
    /// their mean repeat spend must be positive.
    pub fn fit(customers: &[Rfm]) -> Result<Fit<GammaGamma>, AnalysisError> {
        let buyers = Buyers::of(customers)?;
        if buyers.len() < 2 {
            return Err(AnalysisError::Input(
                "fewer than two repeat buyers: spend cannot be modelled".into(),
            ));
        }
        let n = buyers.len() as f64;
        let (p, log_likelihood, convergence) = maximise(&buyers, &[1.0; 3], n)?;
        Ok(Fit {
            model: GammaGamma {
                p: p[0],
                q: p[1],
                gamma: p[2],
            },
            log_likelihood,
            customers: buyers.len() as u64,
            convergence,
        })
    }

    /// The total log-likelihood of the repeat buyers among `customers`.
    pub fn log_likelihood(&self, customers: &[Rfm]) -> Result<f64, AnalysisError> {
        let buyers = Buyers::of(customers)?;
        let (mean, _) = buyers
            .mean_log_likelihood(&[self.p, self.q, self.gamma])
            .unwrap_or((f64::NAN, Vec::new()));
        Ok(mean * buyers.len() as f64)
    }

    /// Expected mean value of this customer's purchases: their own mean repeat spend
    /// shrunk towards the population's, the more so the fewer repeats they made. `None`
    /// when q ≤ 1 (the population mean is infinite).
    pub fn conditional_expected_spend(&self, history: &Rfm) -> Option<f64> {
        let GammaGamma { p, q, gamma } = *self;
        if q <= 1.0 {
            return None;
        }
        let x = history.frequency;
        let population = gamma * p / (q - 1.0);
        let weight = p * x / (p * x + q - 1.0);
        Some((1.0 - weight) * population + weight * history.monetary)
    }
}

/// (repeat purchases, mean repeat spend) of each repeat buyer.
/// The repeat buyers, with what their likelihood terms need computed once: each buyer's
/// ln m and ln x, and the index of their frequency among the distinct frequencies (the
/// log-gamma and digamma terms depend on the buyer only through x, so they are computed
/// once per distinct x and evaluation).
struct Buyers {
    buyers: Vec<Buyer>,
    /// the distinct frequencies
    frequencies: Vec<f64>,
}

struct Buyer {
    /// index into `frequencies`
    k: usize,
    x: f64,
    m: f64,
    ln_m: f64,
    ln_x: f64,
}

impl Buyers {
    fn of(customers: &[Rfm]) -> Result<Self, AnalysisError> {
        let mut index: std::collections::HashMap<u64, usize> = std::collections::HashMap::new();
        let mut frequencies = Vec::new();
        let mut buyers = Vec::new();
        for c in customers.iter().filter(|c| c.frequency > 0.0) {
            if c.monetary <= 0.0 {
                return Err(AnalysisError::Input(format!(
                    "a repeat buyer's mean spend is {}: Gamma-Gamma needs positive spend \
                     (leave out refunds and zero-value purchases)",
                    c.monetary
                )));
            }
            let k = *index.entry(c.frequency.to_bits()).or_insert_with(|| {
                frequencies.push(c.frequency);
                frequencies.len() - 1
            });
            buyers.push(Buyer {
                k,
                x: c.frequency,
                m: c.monetary,
                ln_m: c.monetary.ln(),
                ln_x: c.frequency.ln(),
            });
        }
        Ok(Self {
            buyers,
            frequencies,
        })
    }

    fn len(&self) -> usize {
        self.buyers.len()
    }
}

impl Likelihood for Buyers {
    const MODEL: &'static str = "Gamma-Gamma";

    fn mean_log_likelihood(&self, parameters: &[f64]) -> Option<(f64, Vec<f64>)> {
        let &[p, q, gamma] = parameters else {
            return None;
        };
        let (ln_q, psi_q, ln_gamma_v) = (ln_gamma(q), digamma(q), gamma.ln());
        // per distinct x: ln Γ(px+q) − ln Γ(px), ψ(px+q) and ψ(px+q) − ψ(px)
        let by_x: Vec<(f64, f64, f64)> = self
            .frequencies
            .iter()
            .map(|&x| {
                let px = p * x;
                let psi_pxq = digamma(px + q);
                (
                    ln_gamma(px + q) - ln_gamma(px),
                    psi_pxq,
                    psi_pxq - digamma(px),
                )
            })
            .collect();
        let part = |buyers: &[Buyer]| {
            let mut sum = [0.0f64; 4];
            for b in buyers {
                let (lg, psi_pxq, psi_diff) = by_x[b.k];
                let (x, m) = (b.x, b.m);
                let px = p * x;
                let ln_total = (gamma + m * x).ln();
                let ll = lg - ln_q + q * ln_gamma_v + (px - 1.0) * b.ln_m + px * b.ln_x
                    - (px + q) * ln_total;
                let d_p = x * (psi_diff + b.ln_m + b.ln_x - ln_total);
                let d_q = psi_pxq - psi_q + ln_gamma_v - ln_total;
                let d_gamma = q / gamma - (px + q) / (gamma + m * x);
                for (s, v) in sum.iter_mut().zip([ll, d_p, d_q, d_gamma]) {
                    *s += v;
                }
            }
            sum
        };
        let sum = sum_in_parallel(&self.buyers, part, |mut x, y| {
            x.iter_mut().zip(y).for_each(|(x, y)| *x += y);
            x
        });
        let n = self.len() as f64;
        let mean: Vec<f64> = sum.iter().map(|s| s / n).collect();
        mean[0].is_finite().then(|| (mean[0], mean[1..].to_vec()))
    }
}
