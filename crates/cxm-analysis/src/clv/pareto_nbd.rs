//! Pareto/NBD: while alive, a customer buys at a Poisson rate λ ~ Gamma(r, α); their
//! lifetime is exponential with rate μ ~ Gamma(s, β), so they may leave at any moment, not
//! only after a purchase as in BG/NBD (Schmittlein, Morrison & Colombo 1987; the
//! likelihood as in Fader & Hardie, "A Note on Deriving the Pareto/NBD Model and Related
//! Expressions", 2005).

use serde::Serialize;

use super::histories::{Pattern, patterns};
use super::{Fit, Rfm, fittable, sum_in_parallel};
use crate::AnalysisError;
use crate::optimize::{Likelihood, maximise};
use crate::special::{ln_gamma, log_add_exp};

/// Pareto/NBD parameters, in the time unit of the histories they were fitted on.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ParetoNbd {
    /// shape and scale of the purchase-rate distribution
    pub r: f64,
    pub alpha: f64,
    /// shape and scale of the dropout-rate distribution
    pub s: f64,
    pub beta: f64,
}

impl ParetoNbd {
    /// Fits the model to customer histories by maximum likelihood. The gradient is taken
    /// by central differences (the likelihood holds ₂F₁ terms whose derivatives in the
    /// parameters have no cheap closed form).
    pub fn fit(customers: &[Rfm]) -> Result<Fit<ParetoNbd>, AnalysisError> {
        fittable(customers)?;
        let likelihood = Histories(patterns(customers)?);
        let n = customers.len() as f64;
        let (p, log_likelihood, convergence) = maximise(&likelihood, &[1.0; 4], n)?;
        Ok(Fit {
            model: ParetoNbd {
                r: p[0],
                alpha: p[1],
                s: p[2],
                beta: p[3],
            },
            log_likelihood,
            customers: customers.len() as u64,
            convergence,
        })
    }

    /// The total log-likelihood of `customers` under these parameters.
    pub fn log_likelihood(&self, customers: &[Rfm]) -> Result<f64, AnalysisError> {
        let total: f64 = customers
            .iter()
            .map(|c| self.customer_log_likelihood(c.frequency, c.recency, c.age))
            .sum();
        Ok(total)
    }

    /// Probability that a customer with this history is still a customer.
    pub fn probability_alive(&self, history: &Rfm) -> f64 {
        let ParetoNbd { r, alpha, s, beta } = *self;
        let Rfm {
            frequency: x,
            recency: t_x,
            age,
            ..
        } = *history;
        // 1 / (1 + s/(r+s+x) (α+T)^{r+x} (β+T)^s A₀)
        let log_odds = (s / (r + s + x)).ln()
            + (r + x) * (alpha + age).ln()
            + s * (beta + age).ln()
            + self.log_a0(x, t_x, age);
        1.0 / (1.0 + log_odds.exp())
    }

    /// Expected purchases of a customer with this history in the next `t` time units.
    pub fn conditional_expected_purchases(&self, t: f64, history: &Rfm) -> f64 {
        let ParetoNbd { r, alpha, s, beta } = *self;
        let Rfm {
            frequency: x, age, ..
        } = *history;
        if t <= 0.0 {
            return 0.0;
        }
        let ratio = (beta + age) / (beta + age + t);
        // (1 − ratio^{s−1}) / (s − 1), which tends to −ln(ratio) as s → 1
        let lifetime = if (s - 1.0).abs() < 1e-9 {
            -ratio.ln()
        } else {
            -((s - 1.0) * ratio.ln()).exp_m1() / (s - 1.0)
        };
        (r + x) * (beta + age) / (alpha + age) * lifetime * self.probability_alive(history)
    }

    /// ln A₀ of the likelihood (−∞ when the customer bought at the end of the period).
    fn log_a0(&self, x: f64, t_x: f64, age: f64) -> f64 {
        let ParetoNbd { r, alpha, s, beta } = *self;
        let a = r + s + x;
        // with m the larger of α and β, each term is ₂F₁(a, b; a+1; |α−β|/(m+t)) / (m+t)^a
        let (m, b) = if alpha >= beta {
            (alpha, s + 1.0)
        } else {
            (beta, r + x)
        };
        let difference = (alpha - beta).abs();
        let term = |t: f64| ln_hyp2f1_next(a, b, difference / (m + t)) - a * (m + t).ln();
        let (at_last, at_end) = (term(t_x), term(age));
        // A₀ = e^{at_last} − e^{at_end} ≥ 0, since t_x ≤ T
        let gap = at_end - at_last;
        if gap >= 0.0 {
            return f64::NEG_INFINITY;
        }
        at_last + (-gap.exp_m1()).ln()
    }

    fn customer_log_likelihood(&self, x: f64, t_x: f64, age: f64) -> f64 {
        let ParetoNbd { r, alpha, s, beta } = *self;
        let survived = -(r + x) * (alpha + age).ln() - s * (beta + age).ln();
        let left = (s / (r + s + x)).ln() + self.log_a0(x, t_x, age);
        ln_gamma(r + x) - ln_gamma(r) + r * alpha.ln() + s * beta.ln() + log_add_exp(survived, left)
    }
}

/// ln ₂F₁(a, b; a + 1; z) for `a > 0`, `0 ≤ z < 1`. Euler's transformation gives
/// (1 − z)^{1−b} ₂F₁(1, a + 1 − b; a + 1; z), whose series terms shrink by a ratio below z
/// from the first: no overflow for the frequent buyers (large a and b) whose plain series
/// passes 10³⁰⁸. NaN when z is so close to 1 that a million terms do not settle.
fn ln_hyp2f1_next(a: f64, b: f64, z: f64) -> f64 {
    if !(0.0..1.0).contains(&z) || a <= 0.0 {
        return f64::NAN;
    }
    let (mut term, mut sum) = (1.0f64, 1.0f64);
    for k in 0..1_000_000 {
        let k = f64::from(k);
        term *= (a + 1.0 - b + k) / (a + 1.0 + k) * z;
        let next = sum + term;
        if next == sum {
            return (1.0 - b) * (-z).ln_1p() + sum.ln();
        }
        sum = next;
    }
    f64::NAN
}

/// The histories, grouped, as a likelihood over (r, α, s, β).
struct Histories(Vec<Pattern>);

impl Histories {
    fn mean(&self, p: &[f64]) -> f64 {
        let &[r, alpha, s, beta] = p else {
            return f64::NAN;
        };
        let model = ParetoNbd { r, alpha, s, beta };
        let part = |patterns: &[Pattern]| {
            patterns
                .iter()
                .map(|c| c.weight * model.customer_log_likelihood(f64::from(c.x), c.t_x, c.age))
                .sum::<f64>()
        };
        let total = sum_in_parallel(&self.0, part, |a, b| a + b);
        total / self.0.iter().map(|c| c.weight).sum::<f64>()
    }
}

impl Likelihood for Histories {
    const MODEL: &'static str = "Pareto/NBD";

    fn mean_log_likelihood(&self, p: &[f64]) -> Option<(f64, Vec<f64>)> {
        let value = self.mean(p);
        if !value.is_finite() {
            return None;
        }
        // central differences in each parameter, a step relative to its size
        let mut gradient = Vec::with_capacity(p.len());
        for j in 0..p.len() {
            let h = 1e-6 * p[j];
            let mut up = p.to_vec();
            up[j] += h;
            let mut down = p.to_vec();
            down[j] -= h;
            gradient.push((self.mean(&up) - self.mean(&down)) / (2.0 * h));
        }
        Some((value, gradient))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_hypergeometric_matches_arbitrary_precision() {
        // mpmath (40 digits): ln ₂F₁(a, b; a + 1; z)
        for (a, b, z, expected) in [
            (101.0, 100.5, 199_999.0 / 200_100.0, 755.364_429_557_425_8),
            (2.5, 1.6, 0.3, 0.398_847_667_002_747_9),
            (3.1, 12.5, 0.9, 25.251_963_272_901_5),
            (50.2, 0.7, 0.99, 2.660_828_959_756_85),
        ] {
            let got = ln_hyp2f1_next(a, b, z);
            assert!(
                (got - expected).abs() < 1e-10 * expected.abs().max(1.0),
                "{a} {b} {z}: {got} vs {expected}"
            );
        }
    }

    /// P(alive) and expected purchases in the next 39 weeks against lifetimes 0.11.3's
    /// ParetoNBDFitter with the same parameters, on both branches of A₀ (α < β, α > β).
    #[test]
    fn customers_match_lifetimes_on_both_branches() {
        let histories = [(2.0, 30.43, 38.86), (0.0, 0.0, 38.86), (10.0, 20.0, 38.86)];
        let cases = [
            (
                (0.553, 10.578, 0.606, 11.669),
                [
                    (0.869_167_559_153_011_1, 1.455_123_193_257_601_9),
                    (0.295_286_604_616_894_43, 0.107_081_468_215_308_92),
                    (0.082_808_195_509_180_59, 0.573_052_879_268_405_3),
                ],
            ),
            (
                (0.8, 20.0, 0.5, 5.0),
                [
                    (0.875_833_043_623_066_6, 1.368_627_762_230_915),
                    (0.217_368_242_353_726_65, 0.097_049_224_255_276_9),
                    (0.151_017_674_308_009_44, 0.910_243_362_845_093_1),
                ],
            ),
            (
                (0.4, 3.0, 1.3, 40.0),
                [
                    (0.826_297_896_942_063_9, 1.414_252_923_648_206_2),
                    (0.304_209_975_317_885_6, 0.086_778_599_781_920_82),
                    (0.027_940_128_955_692_683, 0.207_224_424_232_506_64),
                ],
            ),
        ];
        for ((r, alpha, s, beta), expected) in cases {
            let model = ParetoNbd { r, alpha, s, beta };
            for ((x, t_x, age), (alive, purchases)) in histories.iter().zip(expected) {
                let h = Rfm::new(*x, *t_x, *age, 0.0).unwrap();
                let (got_alive, got_purchases) = (
                    model.probability_alive(&h),
                    model.conditional_expected_purchases(39.0, &h),
                );
                assert!(
                    (got_alive - alive).abs() < 1e-9,
                    "{model:?} {h:?}: {got_alive}"
                );
                assert!(
                    (got_purchases - purchases).abs() < 1e-9,
                    "{model:?} {h:?}: {got_purchases}"
                );
            }
        }
    }

    #[test]
    fn a_customer_who_just_bought_is_alive_and_frequent_buyers_stay_finite() {
        let model = ParetoNbd {
            r: 0.55,
            alpha: 10.58,
            s: 0.61,
            beta: 11.67,
        };
        let just_bought = Rfm::new(3.0, 30.0, 30.0, 10.0).unwrap();
        assert!((model.probability_alive(&just_bought) - 1.0).abs() < 1e-12);
        // a hundred purchases with β far above α: the plain ₂F₁ series would overflow
        let extreme = ParetoNbd {
            r: 0.5,
            alpha: 1.0,
            s: 0.5,
            beta: 2e5,
        };
        let frequent = Rfm::new(100.0, 100.0 - 1e-3, 120.0, 10.0).unwrap();
        let p = extreme.probability_alive(&frequent);
        assert!(p.is_finite() && p > 0.0 && p <= 1.0, "{p}");
        assert!(extreme.log_likelihood(&[frequent]).unwrap().is_finite());
    }
}
