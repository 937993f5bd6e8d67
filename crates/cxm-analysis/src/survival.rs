//! Retention curves: the Kaplan–Meier estimate of the share of customers still retained
//! after each length of tenure, with Greenwood's standard errors and log-log 95%
//! intervals, for customers whose churn may not have been observed yet (censored).

use serde::Serialize;

use crate::AnalysisError;

/// One customer: how long they were observed and whether that ended in churn (`false`:
/// still a customer when observation ended).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spell {
    pub duration: f64,
    pub churned: bool,
}

/// The curve at one time where someone churned.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SurvivalPoint {
    pub time: f64,
    /// customers still observed just before `time`
    pub at_risk: u64,
    /// churns at `time`
    pub churned: u64,
    /// share retained after `time`
    pub retained: f64,
    /// Greenwood standard error of `retained`
    pub standard_error: f64,
    pub low: f64,
    pub high: f64,
}

/// The Kaplan–Meier curve: one point per distinct churn time, in time order.
pub fn kaplan_meier(
    spells: &[Spell],
    confidence: f64,
) -> Result<Vec<SurvivalPoint>, AnalysisError> {
    if let Some(bad) = spells
        .iter()
        .find(|s| !(s.duration >= 0.0 && s.duration.is_finite()))
    {
        return Err(AnalysisError::Input(format!(
            "a duration of {} is not a length of time",
            bad.duration
        )));
    }
    let z = crate::special::normal_quantile(0.5 + confidence / 2.0);
    let mut sorted: Vec<Spell> = spells.to_vec();
    sorted.sort_by(|a, b| a.duration.total_cmp(&b.duration));
    let mut at_risk = sorted.len() as u64;
    let mut retained = 1.0;
    let mut greenwood = 0.0;
    let mut points = Vec::new();
    let mut i = 0;
    while i < sorted.len() {
        let time = sorted[i].duration;
        let (mut churned, mut leaving) = (0u64, 0u64);
        while i < sorted.len() && sorted[i].duration == time {
            churned += u64::from(sorted[i].churned);
            leaving += 1;
            i += 1;
        }
        if churned > 0 {
            let (d, n) = (churned as f64, at_risk as f64);
            retained *= 1.0 - d / n;
            if n > d {
                greenwood += d / (n * (n - d));
            }
            let standard_error = retained * greenwood.sqrt();
            // log(−log S) interval: stays within 0–1
            let (low, high) = if retained > 0.0 && retained < 1.0 {
                let spread = z * greenwood.sqrt() / retained.ln().abs();
                (
                    retained.powf((spread).exp()),
                    retained.powf((-spread).exp()),
                )
            } else {
                (retained, retained)
            };
            points.push(SurvivalPoint {
                time,
                at_risk,
                churned,
                retained,
                standard_error,
                low,
                high,
            });
        }
        at_risk -= leaving;
    }
    Ok(points)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Remission times (weeks) of the 6-MP group of Freireich et al. (1963), the textbook
    /// Kaplan–Meier example (Kleinbaum & Klein, Survival Analysis, table 2.1); `true` =
    /// relapse, `false` = censored.
    fn six_mp() -> Vec<Spell> {
        [
            (6.0, true),
            (6.0, true),
            (6.0, true),
            (6.0, false),
            (7.0, true),
            (9.0, false),
            (10.0, true),
            (10.0, false),
            (11.0, false),
            (13.0, true),
            (16.0, true),
            (17.0, false),
            (19.0, false),
            (20.0, false),
            (22.0, true),
            (23.0, true),
            (25.0, false),
            (32.0, false),
            (32.0, false),
            (34.0, false),
            (35.0, false),
        ]
        .into_iter()
        .map(|(duration, churned)| Spell { duration, churned })
        .collect()
    }

    #[test]
    fn reproduces_the_published_six_mp_curve() {
        let curve = kaplan_meier(&six_mp(), 0.95).unwrap();
        let published = [
            (6.0, 21, 0.8571),
            (7.0, 17, 0.8067),
            (10.0, 15, 0.7529),
            (13.0, 12, 0.6902),
            (16.0, 11, 0.6275),
            (22.0, 7, 0.5378),
            (23.0, 6, 0.4482),
        ];
        assert_eq!(curve.len(), published.len());
        for (point, (time, at_risk, retained)) in curve.iter().zip(published) {
            assert_eq!(point.time, time);
            assert_eq!(point.at_risk, at_risk);
            assert!((point.retained - retained).abs() < 5e-5, "{point:?}");
            assert!(point.low < point.retained && point.retained < point.high);
        }
        // Greenwood standard errors (Klein & Moeschberger, example 4.1)
        assert!((curve[0].standard_error - 0.0764).abs() < 5e-4);
        assert!((curve[6].standard_error - 0.1346).abs() < 5e-4);
    }

    #[test]
    fn nobody_churning_gives_no_points_and_bad_durations_are_refused() {
        let spells = [Spell {
            duration: 3.0,
            churned: false,
        }];
        assert!(kaplan_meier(&spells, 0.95).unwrap().is_empty());
        assert!(
            kaplan_meier(
                &[Spell {
                    duration: f64::NAN,
                    churned: true
                }],
                0.95
            )
            .is_err()
        );
    }
}
