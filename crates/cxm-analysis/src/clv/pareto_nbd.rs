//! Pareto/NBD: while alive, a customer buys at a Poisson rate λ ~ Gamma(r, α); their
//! lifetime is exponential with rate μ ~ Gamma(s, β), so they may leave at any moment, not
//! only after a purchase as in BG/NBD (Schmittlein, Morrison & Colombo 1987; the
//! likelihood as in Fader & Hardie, "A Note on Deriving the Pareto/NBD Model and Related
//! Expressions", 2005).

use serde::Serialize;

use super::histories::{Pattern, patterns};
use super::{Fit, Rfm, sum_in_parallel};
use crate::AnalysisError;
use crate::optimize::{Likelihood, maximise};
use crate::special::{hyp2f1, ln_gamma, log_add_exp};

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
        if customers.is_empty() {
            return Err(AnalysisError::Input("no customers to fit".into()));
        }
        if customers.iter().all(|c| c.frequency == 0.0) {
            return Err(AnalysisError::Input(
                "no customer made a repeat purchase: purchase rates cannot be estimated".into(),
            ));
        }
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
        let term = |t: f64| hyp2f1(a, b, a + 1.0, difference / (m + t)).ln() - a * (m + t).ln();
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
    fn a_customer_who_just_bought_is_alive() {
        let model = ParetoNbd {
            r: 0.55,
            alpha: 10.58,
            s: 0.61,
            beta: 11.67,
        };
        let just_bought = Rfm::new(3.0, 30.0, 30.0, 10.0).unwrap();
        assert!((model.probability_alive(&just_bought) - 1.0).abs() < 1e-12);
        let long_gone = Rfm::new(3.0, 2.0, 30.0, 10.0).unwrap();
        let p = model.probability_alive(&long_gone);
        assert!(p > 0.0 && p < 0.5, "{p}");
        // the same with α < β and α > β: both branches of A₀ agree at α = β ± ε
        let near = |alpha: f64| {
            ParetoNbd {
                alpha,
                beta: 11.0,
                ..model
            }
            .probability_alive(&long_gone)
        };
        assert!((near(11.0 - 1e-9) - near(11.0 + 1e-9)).abs() < 1e-6);
    }
}
