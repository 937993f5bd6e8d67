//! What an initiative changed: difference in differences between the units in its scope
//! (treated) and comparable units outside it (controls), before and after it started.
//!
//! Each unit contributes one change, its metric after the start minus before; the effect
//! is the treated units' mean change minus the controls' mean change, so whatever moved
//! every unit alike (seasons, a new product, a price change) cancels out. The interval is
//! Welch's t interval of that difference with the units as the independent observations:
//! collapsing each unit to one before/after change keeps week-to-week correlation within
//! a unit from making the interval too narrow (Bertrand, Duflo and Mullainathan, "How
//! Much Should We Trust Differences-in-Differences Estimates?", QJE 2004). It rests on
//! the usual assumption that, without the initiative, treated and control units would
//! have moved in parallel; the trend chart shows whether they did before the start.

use serde::Serialize;
use statrs::distribution::{ContinuousCDF, StudentsT};

use crate::AnalysisError;

/// One unit's metric before and after the start.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UnitChange {
    pub unit: String,
    /// In the initiative's scope.
    pub treated: bool,
    pub before: f64,
    pub after: f64,
    /// Observations behind each value (contacts, answers).
    pub n_before: u64,
    pub n_after: u64,
}

impl UnitChange {
    pub fn change(&self) -> f64 {
        self.after - self.before
    }
}

/// The units of one side and how they moved on average.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct GroupChange {
    pub units: usize,
    /// Mean over the units of their value before the start.
    pub before: f64,
    pub after: f64,
    /// Mean over the units of their change.
    pub change: f64,
}

/// The estimated effect of the initiative on the metric.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Impact {
    pub treated: GroupChange,
    pub control: GroupChange,
    /// The treated units' mean change minus the controls'.
    pub effect: f64,
    pub low: f64,
    pub high: f64,
    pub std_error: f64,
    /// Welch–Satterthwaite degrees of freedom.
    pub df: f64,
    /// Two-sided p-value of no effect.
    pub p_value: f64,
    pub confidence: f64,
}

/// Count, sum and sum of squares of the units' changes.
struct Moments {
    n: f64,
    sum: f64,
    sum_of_squares: f64,
}

impl Moments {
    fn variance(&self) -> f64 {
        ((self.sum_of_squares - self.sum * self.sum / self.n) / (self.n - 1.0)).max(0.0)
    }
}

fn group(units: &[&UnitChange]) -> (GroupChange, Moments) {
    let n = units.len() as f64;
    let mut moments = Moments {
        n,
        sum: 0.0,
        sum_of_squares: 0.0,
    };
    let (mut before, mut after) = (0.0, 0.0);
    for unit in units {
        let change = unit.change();
        moments.sum += change;
        moments.sum_of_squares += change * change;
        before += unit.before;
        after += unit.after;
    }
    let summary = GroupChange {
        units: units.len(),
        before: before / n,
        after: after / n,
        change: moments.sum / n,
    };
    (summary, moments)
}

/// The difference-in-differences estimate with its `confidence` interval. Needs at least
/// two treated and two control units with finite values.
pub fn difference_in_differences(
    units: &[UnitChange],
    confidence: f64,
) -> Result<Impact, AnalysisError> {
    if let Some(bad) = units
        .iter()
        .find(|u| !u.before.is_finite() || !u.after.is_finite())
    {
        return Err(AnalysisError::Input(format!(
            "unit {} has no finite value before and after",
            bad.unit
        )));
    }
    let treated: Vec<&UnitChange> = units.iter().filter(|u| u.treated).collect();
    let control: Vec<&UnitChange> = units.iter().filter(|u| !u.treated).collect();
    if treated.len() < 2 || control.len() < 2 {
        return Err(AnalysisError::Input(format!(
            "a difference in differences needs at least 2 units with data before and after on each side; there are {} in the scope and {} outside",
            treated.len(),
            control.len()
        )));
    }
    let (treated_change, treated_moments) = group(&treated);
    let (control_change, control_moments) = group(&control);
    let effect = treated_change.change - control_change.change;
    let (qa, qb) = (
        treated_moments.variance() / treated_moments.n,
        control_moments.variance() / control_moments.n,
    );
    let se2 = qa + qb;
    let std_error = se2.sqrt();
    let df = if se2 > 0.0 {
        se2 * se2 / (qa * qa / (treated_moments.n - 1.0) + qb * qb / (control_moments.n - 1.0))
    } else {
        treated_moments.n + control_moments.n - 2.0
    };
    let t_distribution = StudentsT::new(0.0, 1.0, df).map_err(|e| {
        AnalysisError::Input(format!("Student's t with {df} degrees of freedom: {e}"))
    })?;
    let t = t_distribution.inverse_cdf(0.5 + confidence / 2.0);
    let p_value = if std_error > 0.0 {
        2.0 * (1.0 - t_distribution.cdf((effect / std_error).abs()))
    } else if effect == 0.0 {
        1.0
    } else {
        0.0
    };
    Ok(Impact {
        treated: treated_change,
        control: control_change,
        effect,
        low: effect - t * std_error,
        high: effect + t * std_error,
        std_error,
        df,
        p_value,
        confidence,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(name: &str, treated: bool, before: f64, after: f64) -> UnitChange {
        UnitChange {
            unit: name.into(),
            treated,
            before,
            after,
            n_before: 100,
            n_after: 100,
        }
    }

    #[test]
    fn matches_welch_on_the_units_changes() {
        // Treated changes 2, 4, 6; control changes 1, 1, 2, 0. Reference values from
        // scipy 1.17: ttest_ind([2,4,6], [1,1,2,0], equal_var=False) → p 0.108546;
        // se √(4/3 + 1/6) = 1.224745, df 2.505155, t(0.975, df) = 3.569398.
        let units = [
            unit("T1", true, 10.0, 12.0),
            unit("T2", true, 20.0, 24.0),
            unit("T3", true, 30.0, 36.0),
            unit("C1", false, 10.0, 11.0),
            unit("C2", false, 12.0, 13.0),
            unit("C3", false, 14.0, 16.0),
            unit("C4", false, 16.0, 16.0),
        ];
        let impact = difference_in_differences(&units, 0.95).unwrap();
        let close = |a: f64, b: f64| assert!((a - b).abs() < 1e-5, "{a} vs {b}");
        close(impact.effect, 3.0);
        close(impact.std_error, 1.224_745);
        close(impact.df, 2.505_155);
        close(impact.low, -1.371_602);
        close(impact.high, 7.371_602);
        close(impact.p_value, 0.108_546);
        assert_eq!((impact.treated.units, impact.control.units), (3, 4));
        close(impact.treated.before, 20.0);
        close(impact.treated.after, 24.0);
        close(impact.control.change, 1.0);
    }

    #[test]
    fn a_shift_every_unit_shares_cancels_out() {
        // everyone +5 (a season), the treated a further −2 exactly: effect −2, no spread
        let units: Vec<UnitChange> = (0..6)
            .map(|i| {
                let treated = i < 3;
                let before = 100.0 + f64::from(i) * 7.0;
                unit(
                    &format!("U{i}"),
                    treated,
                    before,
                    before + 5.0 - if treated { 2.0 } else { 0.0 },
                )
            })
            .collect();
        let impact = difference_in_differences(&units, 0.95).unwrap();
        assert!((impact.effect + 2.0).abs() < 1e-12);
        assert_eq!((impact.low, impact.high), (impact.effect, impact.effect));
        assert_eq!(impact.p_value, 0.0);
    }

    #[test]
    fn too_few_units_or_missing_values_are_refused() {
        let units = [
            unit("T1", true, 1.0, 2.0),
            unit("C1", false, 1.0, 2.0),
            unit("C2", false, 1.0, 2.0),
        ];
        let error = difference_in_differences(&units, 0.95).unwrap_err();
        assert!(
            error.to_string().contains("1 in the scope and 2 outside"),
            "{error}"
        );
        let mut nan = units.to_vec();
        nan.push(unit("T2", true, f64::NAN, 1.0));
        assert!(difference_in_differences(&nan, 0.95).is_err());
    }
}
