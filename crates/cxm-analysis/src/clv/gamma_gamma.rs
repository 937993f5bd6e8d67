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
        if buyers.0.len() < 2 {
            return Err(AnalysisError::Input(
                "fewer than two repeat buyers: spend cannot be modelled".into(),
            ));
        }
        let n = buyers.0.len() as f64;
        let (p, log_likelihood, convergence) = maximise(&buyers, &[1.0; 3], n)?;
        Ok(Fit {
            model: GammaGamma {
                p: p[0],
                q: p[1],
                gamma: p[2],
            },
            log_likelihood,
            customers: buyers.0.len() as u64,
            convergence,
        })
    }

    /// The total log-likelihood of the repeat buyers among `customers`.
    pub fn log_likelihood(&self, customers: &[Rfm]) -> Result<f64, AnalysisError> {
        let buyers = Buyers::of(customers)?;
        let (mean, _) = buyers
            .mean_log_likelihood(&[self.p, self.q, self.gamma])
            .unwrap_or((f64::NAN, Vec::new()));
        Ok(mean * buyers.0.len() as f64)
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
struct Buyers(Vec<(f64, f64)>);

impl Buyers {
    fn of(customers: &[Rfm]) -> Result<Self, AnalysisError> {
        let mut buyers = Vec::new();
        for c in customers.iter().filter(|c| c.frequency > 0.0) {
            if c.monetary <= 0.0 {
                return Err(AnalysisError::Input(format!(
                    "a repeat buyer's mean spend is {}: Gamma-Gamma needs positive spend \
                     (leave out refunds and zero-value purchases)",
                    c.monetary
                )));
            }
            buyers.push((c.frequency, c.monetary));
        }
        Ok(Self(buyers))
    }
}

impl Likelihood for Buyers {
    const MODEL: &'static str = "Gamma-Gamma";

    fn mean_log_likelihood(&self, parameters: &[f64]) -> Option<(f64, Vec<f64>)> {
        let &[p, q, gamma] = parameters else {
            return None;
        };
        let (ln_q, psi_q, ln_gamma_v) = (ln_gamma(q), digamma(q), gamma.ln());
        let part = |buyers: &[(f64, f64)]| {
            let mut sum = [0.0f64; 4];
            for &(x, m) in buyers {
                let px = p * x;
                let ln_total = (gamma + m * x).ln();
                let (psi_pxq, psi_px) = (digamma(px + q), digamma(px));
                let ll = ln_gamma(px + q) - ln_gamma(px) - ln_q
                    + q * ln_gamma_v
                    + (px - 1.0) * m.ln()
                    + px * x.ln()
                    - (px + q) * ln_total;
                let d_p = x * (psi_pxq - psi_px + m.ln() + x.ln() - ln_total);
                let d_q = psi_pxq - psi_q + ln_gamma_v - ln_total;
                let d_gamma = q / gamma - (px + q) / (gamma + m * x);
                for (s, v) in sum.iter_mut().zip([ll, d_p, d_q, d_gamma]) {
                    *s += v;
                }
            }
            sum
        };
        let sum = sum_in_parallel(&self.0, part, |mut x, y| {
            x.iter_mut().zip(y).for_each(|(x, y)| *x += y);
            x
        });
        let n = self.0.len() as f64;
        let mean: Vec<f64> = sum.iter().map(|s| s / n).collect();
        mean[0].is_finite().then(|| (mean[0], mean[1..].to_vec()))
    }
}
