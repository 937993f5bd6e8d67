//! Purchase histories summarised as recency, frequency and monetary value.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::AnalysisError;

/// One customer's purchase history, in time units of the caller's choosing (days, weeks).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Rfm {
    /// repeat purchases: purchase periods after the first (`x`)
    pub frequency: f64,
    /// time from the first purchase to the last (`t_x`); 0 without repeats
    pub recency: f64,
    /// time from the first purchase to the end of observation (`T`)
    pub age: f64,
    /// mean value of the repeat purchases; 0 without repeats
    pub monetary: f64,
}

impl Rfm {
    /// A checked summary: frequency a whole number ≥ 0, 0 ≤ recency ≤ age, age > 0,
    /// recency 0 without repeats, monetary ≥ 0.
    pub fn new(
        frequency: f64,
        recency: f64,
        age: f64,
        monetary: f64,
    ) -> Result<Self, AnalysisError> {
        let bad = |why: String| Err(AnalysisError::Input(why));
        if !(frequency >= 0.0 && frequency.fract() == 0.0 && frequency.is_finite()) {
            return bad(format!(
                "frequency {frequency} is not a whole number of repeat purchases"
            ));
        }
        if !(age > 0.0 && age.is_finite()) {
            return bad(format!("age {age} is not a positive time"));
        }
        if !(0.0..=age).contains(&recency) {
            return bad(format!(
                "recency {recency} is not between 0 and the age {age}"
            ));
        }
        if frequency == 0.0 && recency != 0.0 {
            return bad(format!("recency {recency} without a repeat purchase"));
        }
        if !(monetary >= 0.0 && monetary.is_finite()) {
            return bad(format!(
                "monetary value {monetary} is negative or not a number"
            ));
        }
        Ok(Self {
            frequency,
            recency,
            age,
            monetary,
        })
    }
}

/// One purchase: whose, on which day (any day count, e.g. days since 1970-01-01), and its
/// value.
#[derive(Debug, Clone, PartialEq)]
pub struct Purchase<K> {
    pub customer: K,
    pub day: i64,
    pub amount: f64,
}

/// The RFM summary of purchases up to and including `end_day`, time in units of
/// `days_per_unit` days (7 for weeks). Purchases on one day count as one purchase of their
/// total value; purchases after `end_day` are ignored. Customers come back in key order.
pub fn rfm_summary<K: Ord + Clone>(
    purchases: impl IntoIterator<Item = Purchase<K>>,
    end_day: i64,
    days_per_unit: f64,
) -> Vec<(K, Rfm)> {
    let mut days: BTreeMap<K, BTreeMap<i64, f64>> = BTreeMap::new();
    for purchase in purchases {
        if purchase.day <= end_day {
            *days
                .entry(purchase.customer)
                .or_default()
                .entry(purchase.day)
                .or_default() += purchase.amount;
        }
    }
    days.into_iter()
        .filter_map(|(customer, days)| {
            let (&first, _) = days.first_key_value()?;
            let (&last, _) = days.last_key_value()?;
            let repeats = days.len() - 1;
            let repeat_value: f64 = days.values().skip(1).sum();
            let rfm = Rfm {
                frequency: repeats as f64,
                recency: (last - first) as f64 / days_per_unit,
                age: (end_day - first) as f64 / days_per_unit,
                monetary: if repeats == 0 {
                    0.0
                } else {
                    repeat_value / repeats as f64
                },
            };
            Some((customer, rfm))
        })
        .collect()
}

/// Customers with identical (frequency, recency, age) fitted as one weighted row: the
/// likelihoods depend on nothing else, and real histories repeat these a lot.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Pattern {
    pub(crate) x: u32,
    pub(crate) t_x: f64,
    pub(crate) age: f64,
    pub(crate) weight: f64,
}

pub(crate) fn patterns(customers: &[Rfm]) -> Result<Vec<Pattern>, AnalysisError> {
    let mut keys: Vec<(u32, u64, u64)> = customers
        .iter()
        .map(|c| {
            if c.frequency > f64::from(u32::MAX) {
                return Err(AnalysisError::Input(format!(
                    "frequency {} is too large",
                    c.frequency
                )));
            }
            Ok((c.frequency as u32, c.recency.to_bits(), c.age.to_bits()))
        })
        .collect::<Result<_, _>>()?;
    keys.sort_unstable();
    let mut patterns: Vec<Pattern> = Vec::new();
    for (x, t_x, age) in keys {
        let (t_x, age) = (f64::from_bits(t_x), f64::from_bits(age));
        match patterns.last_mut() {
            Some(last) if last.x == x && last.t_x == t_x && last.age == age => last.weight += 1.0,
            _ => patterns.push(Pattern {
                x,
                t_x,
                age,
                weight: 1.0,
            }),
        }
    }
    Ok(patterns)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_merges_days_and_ignores_later_purchases() {
        let p = |customer: &str, day, amount| Purchase {
            customer: customer.to_owned(),
            day,
            amount,
        };
        let summary = rfm_summary(
            [
                p("a", 0, 10.0),
                p("a", 7, 5.0),
                p("a", 7, 3.0),
                p("a", 14, 12.0),
                p("a", 30, 99.0),
                p("b", 21, 4.0),
                p("c", 40, 1.0),
            ],
            28,
            7.0,
        );
        assert_eq!(
            summary,
            vec![
                ("a".to_owned(), Rfm::new(2.0, 2.0, 4.0, 10.0).unwrap()),
                ("b".to_owned(), Rfm::new(0.0, 0.0, 1.0, 0.0).unwrap()),
            ]
        );
    }

    #[test]
    fn bad_summaries_are_refused() {
        assert!(Rfm::new(1.5, 1.0, 2.0, 1.0).is_err());
        assert!(Rfm::new(1.0, 3.0, 2.0, 1.0).is_err());
        assert!(Rfm::new(0.0, 1.0, 2.0, 0.0).is_err());
        assert!(Rfm::new(1.0, 1.0, 0.0, 1.0).is_err());
        assert!(Rfm::new(1.0, 1.0, 2.0, f64::NAN).is_err());
    }

    #[test]
    fn patterns_count_identical_histories() {
        let a = Rfm::new(1.0, 2.0, 3.0, 5.0).unwrap();
        let b = Rfm::new(0.0, 0.0, 3.0, 0.0).unwrap();
        let grouped = patterns(&[a, b, a, a]).unwrap();
        assert_eq!(grouped.len(), 2);
        assert_eq!(grouped.iter().map(|p| p.weight).sum::<f64>(), 4.0);
        assert_eq!(grouped[1].weight, 3.0);
    }
}
