//! BG/NBD: while alive, a customer buys at a Poisson rate λ ~ Gamma(r, α); after each
//! purchase they drop out with probability p ~ Beta(a, b) (Fader, Hardie & Lee 2005).

use serde::Serialize;

use super::histories::{Pattern, patterns};
use super::{Fit, Rfm, fittable, sum_in_parallel};
use crate::AnalysisError;
use crate::optimize::{Likelihood, maximise};
use crate::special::{digamma, hyp2f1, ln_gamma, log_add_exp};

/// BG/NBD parameters, in the time unit of the histories they were fitted on.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct BgNbd {
    /// shape of the purchase-rate distribution
    pub r: f64,
    /// scale of the purchase-rate distribution (time units)
    pub alpha: f64,
    /// dropout-probability Beta parameters
    pub a: f64,
    pub b: f64,
}

impl BgNbd {
    /// Fits the model to customer histories by maximum likelihood.
    pub fn fit(customers: &[Rfm]) -> Result<Fit<BgNbd>, AnalysisError> {
        fittable(customers)?;
        let likelihood = Histories::new(patterns(customers)?);
        let n = customers.len() as f64;
        let (p, log_likelihood, convergence) = maximise(&likelihood, &[1.0; 4], n)?;
        Ok(Fit {
            model: BgNbd {
                r: p[0],
                alpha: p[1],
                a: p[2],
                b: p[3],
            },
            log_likelihood,
            customers: customers.len() as u64,
            convergence,
        })
    }

    /// The total log-likelihood of `customers` under these parameters.
    pub fn log_likelihood(&self, customers: &[Rfm]) -> Result<f64, AnalysisError> {
        let likelihood = Histories::new(patterns(customers)?);
        let (mean, _) = likelihood
            .mean_log_likelihood(&[self.r, self.alpha, self.a, self.b])
            .unwrap_or((f64::NAN, Vec::new()));
        Ok(mean * customers.len() as f64)
    }

    /// Expected purchases of a new customer in their first `t` time units, E[X(t)].
    pub fn expected_purchases(&self, t: f64) -> f64 {
        let BgNbd { r, alpha, a, b } = *self;
        if t <= 0.0 {
            return 0.0;
        }
        let z = t / (alpha + t);
        let tail = (r * (alpha / (alpha + t)).ln()).exp() * hyp2f1(r, b, a + b - 1.0, z);
        (a + b - 1.0) / (a - 1.0) * (1.0 - tail)
    }

    /// Probability that a customer with this history is still a customer.
    pub fn probability_alive(&self, history: &Rfm) -> f64 {
        1.0 / (1.0 + self.dropout_odds(history))
    }

    /// Expected purchases of a customer with this history in the next `t` time units.
    pub fn conditional_expected_purchases(&self, t: f64, history: &Rfm) -> f64 {
        let BgNbd { r, alpha, a, b } = *self;
        let Rfm {
            frequency: x, age, ..
        } = *history;
        if t <= 0.0 {
            return 0.0;
        }
        let z = t / (alpha + age + t);
        let tail = ((r + x) * ((alpha + age) / (alpha + age + t)).ln()).exp()
            * hyp2f1(r + x, b + x, a + b + x - 1.0, z);
        (a + b + x - 1.0) / (a - 1.0) * (1.0 - tail) / (1.0 + self.dropout_odds(history))
    }

    /// Odds that the customer dropped out right after their last purchase.
    fn dropout_odds(&self, history: &Rfm) -> f64 {
        let BgNbd { r, alpha, a, b } = *self;
        let x = history.frequency;
        if x == 0.0 {
            return 0.0;
        }
        a / (b + x - 1.0)
            * ((r + x) * ((alpha + history.age) / (alpha + history.recency)).ln()).exp()
    }
}

/// The histories, grouped, as a likelihood over (r, α, a, b). Ages and recencies repeat
/// across patterns (whole days), so ln(α + T) and ln(α + t_x) are computed once per
/// distinct value and evaluation.
struct Histories {
    patterns: Vec<Indexed>,
    /// the distinct ages and recencies
    times: Vec<f64>,
}

/// A pattern and the indexes of its age and recency in `times`.
struct Indexed {
    pattern: Pattern,
    age: usize,
    t_x: usize,
}

impl Histories {
    fn new(patterns: Vec<Pattern>) -> Self {
        let mut index: std::collections::HashMap<u64, usize> = std::collections::HashMap::new();
        let mut times = Vec::new();
        let mut slot = |t: f64| {
            *index.entry(t.to_bits()).or_insert_with(|| {
                times.push(t);
                times.len() - 1
            })
        };
        let patterns = patterns
            .into_iter()
            .map(|pattern| Indexed {
                age: slot(pattern.age),
                t_x: slot(pattern.t_x),
                pattern,
            })
            .collect();
        Self { patterns, times }
    }
}

/// Terms that depend on the customer only through x, computed once per distinct x.
struct ByFrequency {
    /// ln Γ(r+x) − ln Γ(r) and ln Γ(b+x) − ln Γ(a+b+x) (+ x-free parts added later)
    log_terms: Vec<f64>,
    /// ∂/∂r, ∂/∂a, ∂/∂b of `log_terms`
    d_r: Vec<f64>,
    d_a: Vec<f64>,
    d_b: Vec<f64>,
}

impl ByFrequency {
    fn new(max_x: u32, r: f64, a: f64, b: f64) -> Self {
        let (ln_r, psi_r) = (ln_gamma(r), digamma(r));
        let (ln_b, psi_b) = (ln_gamma(b), digamma(b));
        let (ln_ab, psi_ab) = (ln_gamma(a + b), digamma(a + b));
        let size = max_x as usize + 1;
        let mut terms = Self {
            log_terms: Vec::with_capacity(size),
            d_r: Vec::with_capacity(size),
            d_a: Vec::with_capacity(size),
            d_b: Vec::with_capacity(size),
        };
        for x in 0..=max_x {
            let x = f64::from(x);
            let psi_abx = digamma(a + b + x);
            terms.log_terms.push(
                ln_gamma(r + x) - ln_r + ln_ab + ln_gamma(b + x) - ln_b - ln_gamma(a + b + x),
            );
            terms.d_r.push(digamma(r + x) - psi_r);
            terms.d_a.push(psi_ab - psi_abx);
            terms.d_b.push(psi_ab + digamma(b + x) - psi_b - psi_abx);
        }
        terms
    }
}

impl Likelihood for Histories {
    const MODEL: &'static str = "BG/NBD";

    fn mean_log_likelihood(&self, p: &[f64]) -> Option<(f64, Vec<f64>)> {
        let &[r, alpha, a, b] = p else { return None };
        let max_x = self.patterns.iter().map(|c| c.pattern.x).max()?;
        let by_x = ByFrequency::new(max_x, r, a, b);
        let ln_alpha = alpha.ln();
        let ln_times: Vec<f64> = self.times.iter().map(|t| (alpha + t).ln()).collect();
        // ln a − ln(b + x − 1) for x ≥ 1
        let ln_a = a.ln();
        let odds_by_x: Vec<f64> = (0..=max_x)
            .map(|x| ln_a - (b + f64::from(x) - 1.0).ln())
            .collect();
        let part = |patterns: &[Indexed]| {
            let mut sum = [0.0f64; 5];
            for indexed in patterns {
                let c = &indexed.pattern;
                let x = f64::from(c.x);
                let i = c.x as usize;
                // A3 = −(r+x) ln(α+T); A4 = ln a − ln(b+x−1) − (r+x) ln(α+t_x) when x > 0
                let ln_at = ln_times[indexed.age];
                let a3 = -(r + x) * ln_at;
                let (ll_tail, w4, a4_ln_atx, a4_alpha) = if c.x > 0 {
                    let ln_atx = ln_times[indexed.t_x];
                    let a4 = odds_by_x[i] - (r + x) * ln_atx;
                    let tail = log_add_exp(a3, a4);
                    (tail, (a4 - tail).exp(), ln_atx, (r + x) / (alpha + c.t_x))
                } else {
                    (a3, 0.0, 0.0, 0.0)
                };
                let w3 = 1.0 - w4;
                let ll = by_x.log_terms[i] + r * ln_alpha + ll_tail;
                let d_r = by_x.d_r[i] + ln_alpha - w3 * ln_at - w4 * a4_ln_atx;
                let d_alpha = r / alpha - w3 * (r + x) / (alpha + c.age) - w4 * a4_alpha;
                let (d_a4_a, d_a4_b) = if c.x > 0 {
                    (1.0 / a, -1.0 / (b + x - 1.0))
                } else {
                    (0.0, 0.0)
                };
                let d_a = by_x.d_a[i] + w4 * d_a4_a;
                let d_b = by_x.d_b[i] + w4 * d_a4_b;
                for (s, v) in sum.iter_mut().zip([ll, d_r, d_alpha, d_a, d_b]) {
                    *s += c.weight * v;
                }
            }
            sum
        };
        let sum = sum_in_parallel(&self.patterns, part, |mut x, y| {
            x.iter_mut().zip(y).for_each(|(x, y)| *x += y);
            x
        });
        let n: f64 = self.patterns.iter().map(|c| c.pattern.weight).sum();
        let mean: Vec<f64> = sum.iter().map(|s| s / n).collect();
        mean[0].is_finite().then(|| (mean[0], mean[1..].to_vec()))
    }
}
