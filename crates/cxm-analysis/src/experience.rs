//! Experience → money: what customers grouped by their experience (NPS group, CSAT band,
//! a repeat contact, …) did afterwards — purchases, net revenue and attrition per
//! customer with intervals — the revenue put at risk by each group's attrition, and the
//! value of moving customers from one group to another.
//!
//! Intervals are normal approximations: a mean ± z·s/√n (s with n − 1), Wilson's
//! interval for a share, and Welch's standard error for a difference between two groups.

use serde::Serialize;

use crate::AnalysisError;
use crate::drivers::Interval;
use crate::special::normal_quantile;

/// One customer: their group and what they did in the follow-up window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FollowUp {
    /// index into the groups, worst experience first
    pub group: usize,
    pub purchases: f64,
    /// net revenue (purchases less refunds)
    pub revenue: f64,
    pub churned: bool,
    /// net revenue in the year before the follow-up window (what churn puts at risk)
    pub prior_revenue: f64,
}

/// One experience group's behaviour afterwards.
#[derive(Debug, Clone, Serialize)]
pub struct GroupOutcome {
    pub group: String,
    pub customers: u64,
    /// purchases per customer
    pub purchases: Interval,
    /// net revenue per customer
    pub revenue: Interval,
    /// share of the customers who churned
    pub churn_rate: Interval,
    /// the group's net revenue in the year before
    pub prior_revenue: f64,
    /// churn rate × prior revenue: the yearly revenue this group's attrition takes
    pub revenue_at_risk: Interval,
    /// the part of the revenue at risk beyond the best group's churn rate
    pub excess_at_risk: Option<Interval>,
}

/// Moving the customers of one group to the behaviour of a better one.
#[derive(Debug, Clone, Serialize)]
pub struct GroupMove {
    pub from: String,
    pub to: String,
    pub customers: u64,
    /// difference in net revenue per customer (to − from)
    pub revenue_per_customer: Interval,
    /// the difference times the customers of `from`
    pub value: Interval,
    /// difference in churn rate (to − from)
    pub churn_change: Interval,
}

#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub groups: Vec<GroupOutcome>,
    /// the best group with customers: what excess revenue at risk is measured against
    pub reference: Option<String>,
    /// every move from a group to a better one, both with at least two customers
    pub moves: Vec<GroupMove>,
}

#[derive(Default)]
struct Sums {
    n: f64,
    purchases: (f64, f64),
    revenue: (f64, f64),
    churned: f64,
    prior: f64,
}

impl Sums {
    fn mean(&self, (sum, _): (f64, f64)) -> f64 {
        sum / self.n
    }

    /// Sample variance (n − 1) from the sum and the sum of squares.
    fn variance(&self, (sum, squares): (f64, f64)) -> f64 {
        if self.n < 2.0 {
            return f64::NAN;
        }
        ((squares - sum * sum / self.n) / (self.n - 1.0)).max(0.0)
    }

    fn churn(&self) -> f64 {
        self.churned / self.n
    }
}

/// Compares the groups (`groups` in order from worst experience to best) by what their
/// customers did afterwards.
pub fn compare(
    groups: &[String],
    customers: &[FollowUp],
    confidence: f64,
) -> Result<Comparison, AnalysisError> {
    if !(confidence > 0.0 && confidence < 1.0) {
        return Err(AnalysisError::Input(format!(
            "confidence {confidence} is not between 0 and 1"
        )));
    }
    let z = normal_quantile(0.5 + confidence / 2.0);
    let mut sums: Vec<Sums> = groups.iter().map(|_| Sums::default()).collect();
    for (row, c) in customers.iter().enumerate() {
        let Some(s) = sums.get_mut(c.group) else {
            return Err(AnalysisError::Input(format!(
                "customer {row}: group {} is not one of the {} groups",
                c.group,
                groups.len()
            )));
        };
        if !(c.purchases.is_finite() && c.revenue.is_finite() && c.prior_revenue.is_finite()) {
            return Err(AnalysisError::Input(format!(
                "customer {row}: purchases, revenue and prior revenue must be numbers"
            )));
        }
        s.n += 1.0;
        s.purchases.0 += c.purchases;
        s.purchases.1 += c.purchases * c.purchases;
        s.revenue.0 += c.revenue;
        s.revenue.1 += c.revenue * c.revenue;
        s.churned += f64::from(u8::from(c.churned));
        s.prior += c.prior_revenue;
    }
    let mean_interval = |s: &Sums, values: (f64, f64)| {
        let mean = s.mean(values);
        let half = z * (s.variance(values) / s.n).sqrt();
        Interval {
            value: mean,
            low: mean - half,
            high: mean + half,
        }
    };
    let reference = (0..groups.len()).rev().find(|&g| sums[g].n > 0.0);
    let outcomes = groups
        .iter()
        .zip(&sums)
        .filter(|(_, s)| s.n > 0.0)
        .map(|(group, s)| {
            let churn_rate = wilson(s.churned, s.n, z);
            let excess_at_risk = reference.map(|r| {
                let d = difference_of_shares(&sums[r], s, z);
                // (this group's churn − the reference's) × this group's prior revenue
                Interval {
                    value: -d.value * s.prior,
                    low: -d.high * s.prior,
                    high: -d.low * s.prior,
                }
            });
            GroupOutcome {
                group: group.clone(),
                customers: s.n as u64,
                purchases: mean_interval(s, s.purchases),
                revenue: mean_interval(s, s.revenue),
                revenue_at_risk: Interval {
                    value: churn_rate.value * s.prior,
                    low: churn_rate.low * s.prior,
                    high: churn_rate.high * s.prior,
                },
                churn_rate,
                prior_revenue: s.prior,
                excess_at_risk,
            }
        })
        .collect();
    let mut moves = Vec::new();
    for from in 0..groups.len() {
        for to in from + 1..groups.len() {
            let (a, b) = (&sums[from], &sums[to]);
            if a.n < 2.0 || b.n < 2.0 {
                continue;
            }
            let difference = b.mean(b.revenue) - a.mean(a.revenue);
            let half = z * (a.variance(a.revenue) / a.n + b.variance(b.revenue) / b.n).sqrt();
            let revenue_per_customer = Interval {
                value: difference,
                low: difference - half,
                high: difference + half,
            };
            moves.push(GroupMove {
                from: groups[from].clone(),
                to: groups[to].clone(),
                customers: a.n as u64,
                value: Interval {
                    value: revenue_per_customer.value * a.n,
                    low: revenue_per_customer.low * a.n,
                    high: revenue_per_customer.high * a.n,
                },
                revenue_per_customer,
                churn_change: difference_of_shares(b, a, z),
            });
        }
    }
    Ok(Comparison {
        groups: outcomes,
        reference: reference.map(|r| groups[r].clone()),
        moves,
    })
}

/// Wilson's interval for `hits` of `n`.
fn wilson(hits: f64, n: f64, z: f64) -> Interval {
    let p = hits / n;
    let z2 = z * z;
    let centre = (p + z2 / (2.0 * n)) / (1.0 + z2 / n);
    let half = z / (1.0 + z2 / n) * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    Interval {
        value: p,
        low: (centre - half).max(0.0),
        high: (centre + half).min(1.0),
    }
}

/// The churn rate of `b` minus that of `a`, with a Wald interval.
fn difference_of_shares(b: &Sums, a: &Sums, z: f64) -> Interval {
    let (pa, pb) = (a.churn(), b.churn());
    let half = z * (pa * (1.0 - pa) / a.n + pb * (1.0 - pb) / b.n).sqrt();
    Interval {
        value: pb - pa,
        low: pb - pa - half,
        high: pb - pa + half,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn customer(group: usize, revenue: f64, churned: bool, prior: f64) -> FollowUp {
        FollowUp {
            group,
            purchases: revenue / 10.0,
            revenue,
            churned,
            prior_revenue: prior,
        }
    }

    /// Hand-computed: detractors spend 10, 20, 30 (mean 20, s = 10) and one of three
    /// churns; promoters 40, 60 (mean 50, s = 14.142) and none churn.
    #[test]
    fn groups_and_moves_match_a_hand_computation() {
        let groups = ["detractor".to_owned(), "promoter".to_owned()];
        let customers = [
            customer(0, 10.0, true, 100.0),
            customer(0, 20.0, false, 50.0),
            customer(0, 30.0, false, 150.0),
            customer(1, 40.0, false, 80.0),
            customer(1, 60.0, false, 120.0),
        ];
        let result = compare(&groups, &customers, 0.95).unwrap();
        let z = 1.959_963_984_540_054;
        let d = &result.groups[0];
        assert_eq!(d.customers, 3);
        assert!((d.revenue.value - 20.0).abs() < 1e-12);
        assert!((d.revenue.high - (20.0 + z * 10.0 / 3f64.sqrt())).abs() < 1e-9);
        assert!((d.purchases.value - 2.0).abs() < 1e-12);
        assert!((d.churn_rate.value - 1.0 / 3.0).abs() < 1e-12);
        // Wilson, p = 1/3, n = 3: centre (1/3 + z²/6)/(1 + z²/3)
        let centre = (1.0 / 3.0 + z * z / 6.0) / (1.0 + z * z / 3.0);
        let half = z / (1.0 + z * z / 3.0) * (2.0 / 27.0 + z * z / 36.0).sqrt();
        assert!((d.churn_rate.low - (centre - half)).abs() < 1e-12);
        assert!((d.churn_rate.high - (centre + half)).abs() < 1e-12);
        assert!((d.prior_revenue - 300.0).abs() < 1e-12);
        assert!((d.revenue_at_risk.value - 100.0).abs() < 1e-9);
        // excess over promoters (churn 0): (1/3 − 0) × 300
        assert!((d.excess_at_risk.unwrap().value - 100.0).abs() < 1e-9);
        assert_eq!(result.reference.as_deref(), Some("promoter"));

        let m = &result.moves[0];
        assert_eq!((m.from.as_str(), m.to.as_str()), ("detractor", "promoter"));
        assert!((m.revenue_per_customer.value - 30.0).abs() < 1e-12);
        // Welch: sqrt(100/3 + 200/2)
        let se = (100.0f64 / 3.0 + 100.0).sqrt();
        assert!((m.revenue_per_customer.low - (30.0 - z * se)).abs() < 1e-9);
        assert!((m.value.value - 90.0).abs() < 1e-9);
        assert!((m.churn_change.value + 1.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn empty_and_single_groups_do_not_fail() {
        let groups = ["a".to_owned(), "b".to_owned(), "c".to_owned()];
        let result = compare(&groups, &[customer(0, 5.0, false, 0.0)], 0.95).unwrap();
        assert_eq!(result.groups.len(), 1);
        assert!(result.groups[0].revenue.low.is_nan());
        assert!(result.moves.is_empty());
        assert_eq!(result.reference.as_deref(), Some("a"));
        assert!(compare(&groups, &[customer(3, 1.0, false, 0.0)], 0.95).is_err());
        assert!(compare(&groups, &[], 1.5).is_err());
    }
}
