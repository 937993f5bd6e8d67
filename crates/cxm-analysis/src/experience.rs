//! Experience → money: what customers grouped by their experience (NPS group, CSAT band,
//! a repeat contact, …) did afterwards — purchases, net revenue and attrition per
//! customer with intervals — the revenue put at risk by each group's attrition, and the
//! value of moving customers from one group to another.
//!
//! Intervals: a mean ± t·s/√n (Student's t with n − 1 degrees of freedom), Wilson's
//! interval for a share, Welch's interval (Welch–Satterthwaite degrees of freedom) for a
//! difference of means, and Newcombe's interval (from the two Wilson intervals) for a
//! difference of shares.

use serde::Serialize;

use crate::AnalysisError;
use crate::drivers::Interval;
use crate::special::normal_quantile;
use statrs::distribution::{ContinuousCDF, StudentsT};

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
    /// the part of the revenue at risk beyond the best group's churn rate (None for the
    /// best group itself, or without one of at least two customers)
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
    /// the best group with at least two customers: what excess revenue at risk is
    /// measured against
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
    let quantile = |df: f64| {
        if df.is_finite() && df > 0.0 {
            StudentsT::new(0.0, 1.0, df).map_or(f64::NAN, |t| t.inverse_cdf(0.5 + confidence / 2.0))
        } else {
            f64::NAN
        }
    };
    let mean_interval = |s: &Sums, values: (f64, f64)| {
        let mean = s.mean(values);
        let se = (s.variance(values) / s.n).sqrt();
        let half = if se == 0.0 {
            0.0
        } else {
            quantile(s.n - 1.0) * se
        };
        Interval {
            value: mean,
            low: mean - half,
            high: mean + half,
        }
    };
    let shares: Vec<Option<Interval>> = sums
        .iter()
        .map(|s| (s.n > 0.0).then(|| wilson(s.churned, s.n, z)))
        .collect();
    let reference = (0..groups.len()).rev().find(|&g| sums[g].n >= 2.0);
    let outcomes = (0..groups.len())
        .filter(|&g| sums[g].n > 0.0)
        .map(|g| {
            let s = &sums[g];
            let churn_rate = shares[g].unwrap_or(Interval {
                value: f64::NAN,
                low: f64::NAN,
                high: f64::NAN,
            });
            let excess_at_risk = reference.filter(|&r| r != g).and_then(|r| {
                // (this group's churn − the reference's) × this group's prior revenue
                let d = newcombe(shares[g]?, shares[r]?);
                Some(scaled(d, s.prior))
            });
            GroupOutcome {
                group: groups[g].clone(),
                customers: s.n as u64,
                purchases: mean_interval(s, s.purchases),
                revenue: mean_interval(s, s.revenue),
                revenue_at_risk: scaled(churn_rate, s.prior),
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
            let (Some(share_from), Some(share_to)) = (shares[from], shares[to]) else {
                continue;
            };
            if a.n < 2.0 || b.n < 2.0 {
                continue;
            }
            let difference = b.mean(b.revenue) - a.mean(a.revenue);
            let (va, vb) = (a.variance(a.revenue) / a.n, b.variance(b.revenue) / b.n);
            let se = (va + vb).sqrt();
            // Welch–Satterthwaite degrees of freedom
            let df = (va + vb).powi(2) / (va * va / (a.n - 1.0) + vb * vb / (b.n - 1.0));
            let half = if se == 0.0 { 0.0 } else { quantile(df) * se };
            let revenue_per_customer = Interval {
                value: difference,
                low: difference - half,
                high: difference + half,
            };
            moves.push(GroupMove {
                from: groups[from].clone(),
                to: groups[to].clone(),
                customers: a.n as u64,
                value: scaled(revenue_per_customer, a.n),
                revenue_per_customer,
                churn_change: newcombe(share_to, share_from),
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

/// The share `b` minus the share `a`, with Newcombe's hybrid score interval from their
/// Wilson intervals (it does not collapse to a point when both shares are 0 or 1).
fn newcombe(b: Interval, a: Interval) -> Interval {
    let d = b.value - a.value;
    Interval {
        value: d,
        low: d - ((b.value - b.low).powi(2) + (a.high - a.value).powi(2)).sqrt(),
        high: d + ((b.high - b.value).powi(2) + (a.value - a.low).powi(2)).sqrt(),
    }
}

/// An interval times `k` (bounds in order when `k` is negative, as a net revenue can be).
fn scaled(i: Interval, k: f64) -> Interval {
    let (low, high) = (i.low * k, i.high * k);
    Interval {
        value: i.value * k,
        low: low.min(high),
        high: low.max(high),
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
        let z: f64 = 1.959_963_984_540_054;
        let d = &result.groups[0];
        assert_eq!(d.customers, 3);
        assert!((d.revenue.value - 20.0).abs() < 1e-12);
        // Student's t with 2 degrees of freedom: 4.302653 (tables)
        assert!(
            (d.revenue.high - (20.0 + 4.302_652_729_911_275 * 10.0 / 3f64.sqrt())).abs() < 1e-6
        );
        assert!((d.purchases.value - 2.0).abs() < 1e-12);
        assert!((d.churn_rate.value - 1.0 / 3.0).abs() < 1e-12);
        // Wilson, p = 1/3, n = 3: centre (1/3 + z²/6)/(1 + z²/3)
        let centre = (1.0 / 3.0 + z * z / 6.0) / (1.0 + z * z / 3.0);
        let half = z / (1.0 + z * z / 3.0) * (2.0 / 27.0 + z * z / 36.0).sqrt();
        assert!((d.churn_rate.low - (centre - half)).abs() < 1e-12);
        assert!((d.churn_rate.high - (centre + half)).abs() < 1e-12);
        assert!((d.prior_revenue - 300.0).abs() < 1e-12);
        assert!((d.revenue_at_risk.value - 100.0).abs() < 1e-9);
        assert!((d.revenue_at_risk.high - (centre + half) * 300.0).abs() < 1e-9);
        // excess over promoters (churn 0): (1/3 − 0) × 300, Newcombe's interval: the
        // promoters' Wilson upper bound for 0 of 2 is z²/(2 + z²)
        let excess = d.excess_at_risk.unwrap();
        assert!((excess.value - 100.0).abs() < 1e-9);
        let promoters_high = z * z / (2.0 + z * z);
        let low =
            1.0 / 3.0 - ((1.0 / 3.0 - (centre - half)).powi(2) + promoters_high.powi(2)).sqrt();
        assert!((excess.low - low * 300.0).abs() < 1e-9);
        assert_eq!(result.reference.as_deref(), Some("promoter"));
        assert!(
            result.groups[1].excess_at_risk.is_none(),
            "the reference itself"
        );

        let m = &result.moves[0];
        assert_eq!((m.from.as_str(), m.to.as_str()), ("detractor", "promoter"));
        assert!((m.revenue_per_customer.value - 30.0).abs() < 1e-12);
        // Welch: se² = 100/3 + 200/2; df = se⁴ / ((100/3)²/2 + 100²/1) = 1.6842
        let se2: f64 = 100.0 / 3.0 + 100.0;
        let df = se2 * se2 / ((100.0f64 / 3.0).powi(2) / 2.0 + 100.0f64.powi(2));
        assert!((df - 1.684_210_526_315_789_4).abs() < 1e-12);
        let t = StudentsT::new(0.0, 1.0, df).unwrap().inverse_cdf(0.975);
        assert!(t > 4.3 && t < 12.71, "between t(2) and t(1): {t}");
        assert!((m.revenue_per_customer.low - (30.0 - t * se2.sqrt())).abs() < 1e-9);
        assert!((m.value.value - 90.0).abs() < 1e-9);
        assert!((m.churn_change.value + 1.0 / 3.0).abs() < 1e-12);
        assert!(m.churn_change.low < -1.0 / 3.0 && m.churn_change.high > 0.0);
    }

    /// Shares of 0 and 0 still get an interval; a negative prior revenue keeps its bounds
    /// in order.
    #[test]
    fn degenerate_shares_and_negative_revenue() {
        let groups = ["a".to_owned(), "b".to_owned()];
        let customers = [
            customer(0, 5.0, false, -50.0),
            customer(0, 7.0, false, -10.0),
            customer(1, 9.0, false, 10.0),
            customer(1, 11.0, false, 10.0),
        ];
        let result = compare(&groups, &customers, 0.95).unwrap();
        let m = &result.moves[0];
        assert_eq!(m.churn_change.value, 0.0);
        assert!(m.churn_change.low < 0.0 && m.churn_change.high > 0.0);
        for g in &result.groups {
            assert!(g.revenue_at_risk.low <= g.revenue_at_risk.high, "{g:?}");
            if let Some(e) = g.excess_at_risk {
                assert!(e.low <= e.high, "{g:?}");
            }
        }
    }

    #[test]
    fn empty_and_single_groups_do_not_fail() {
        let groups = ["a".to_owned(), "b".to_owned(), "c".to_owned()];
        let result = compare(&groups, &[customer(0, 5.0, false, 0.0)], 0.95).unwrap();
        assert_eq!(result.groups.len(), 1);
        assert!(result.groups[0].revenue.low.is_nan());
        assert!(result.moves.is_empty());
        // a single customer is no reference
        assert_eq!(result.reference, None);
        assert!(result.groups[0].excess_at_risk.is_none());
        assert!(compare(&groups, &[customer(3, 1.0, false, 0.0)], 0.95).is_err());
        assert!(compare(&groups, &[], 1.5).is_err());
    }
}
