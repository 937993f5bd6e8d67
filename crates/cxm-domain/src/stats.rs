//! The statistics every reported number carries: 95% intervals for shares (Wilson), means
//! (Student t) and NPS, and tests of a change between two periods or groups.
//!
//! Pure functions of counts and sums, so the metric engine, the API and the analyses compute
//! them the same way. Confidence is two-sided.

use serde::Serialize;
use statrs::distribution::{ContinuousCDF, Normal, StudentsT};

/// The confidence of every interval cxm reports.
pub const CONFIDENCE: f64 = 0.95;

/// A value with its sample size and confidence interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Estimate {
    pub value: f64,
    pub n: u64,
    pub low: f64,
    pub high: f64,
}

/// The two-sided critical value of the standard normal for `confidence` (1.96 for 95%).
pub fn z_critical(confidence: f64) -> f64 {
    standard_normal().inverse_cdf(0.5 + confidence / 2.0)
}

fn standard_normal() -> Normal {
    // mean 0, sd 1 are valid parameters
    Normal::standard()
}

/// A share `successes / n` with its Wilson score interval; `None` when `n` is 0 or
/// `successes` exceeds `n`.
pub fn wilson(successes: u64, n: u64, confidence: f64) -> Option<Estimate> {
    if n == 0 || successes > n {
        return None;
    }
    let z = z_critical(confidence);
    let nf = n as f64;
    let p = successes as f64 / nf;
    let z2 = z * z;
    let denominator = 1.0 + z2 / nf;
    let centre = (p + z2 / (2.0 * nf)) / denominator;
    let half = z / denominator * (p * (1.0 - p) / nf + z2 / (4.0 * nf * nf)).sqrt();
    Some(Estimate {
        value: p,
        n,
        low: (centre - half).max(0.0),
        high: (centre + half).min(1.0),
    })
}

/// A mean from the count, sum and sum of squares of its values, with a Student t interval.
/// One value gives no interval: low and high are NaN.
pub fn mean_t(n: u64, sum: f64, sum_of_squares: f64, confidence: f64) -> Option<Estimate> {
    if n == 0 {
        return None;
    }
    let nf = n as f64;
    let mean = sum / nf;
    if n == 1 {
        return Some(Estimate {
            value: mean,
            n,
            low: f64::NAN,
            high: f64::NAN,
        });
    }
    // Sample variance; clamp the rounding error of the one-pass formula at zero.
    let variance = ((sum_of_squares - sum * sum / nf) / (nf - 1.0)).max(0.0);
    let se = (variance / nf).sqrt();
    let t = t_critical(nf - 1.0, confidence);
    Some(Estimate {
        value: mean,
        n,
        low: mean - t * se,
        high: mean + t * se,
    })
}

/// The two-sided critical value of Student's t with `df` degrees of freedom.
pub fn t_critical(df: f64, confidence: f64) -> f64 {
    match StudentsT::new(0.0, 1.0, df) {
        Ok(t) => t.inverse_cdf(0.5 + confidence / 2.0),
        Err(_) => z_critical(confidence),
    }
}

/// Net promoter score (−100…100) from counts of promoters (9–10), passives (7–8) and
/// detractors (0–6), with a normal-approximation interval from the variance of the
/// per-answer score (+100, 0, −100).
pub fn nps(promoters: u64, passives: u64, detractors: u64, confidence: f64) -> Option<Estimate> {
    let n = promoters + passives + detractors;
    if n == 0 {
        return None;
    }
    let nf = n as f64;
    let p = promoters as f64 / nf;
    let d = detractors as f64 / nf;
    let score = p - d;
    let variance = (p + d - score * score).max(0.0);
    let half = z_critical(confidence) * (variance / nf).sqrt();
    Some(Estimate {
        value: 100.0 * score,
        n,
        low: 100.0 * (score - half).max(-1.0),
        high: 100.0 * (score + half).min(1.0),
    })
}

/// A test of the difference between two groups (or periods): the difference `a − b`, the
/// test statistic and its two-sided p-value.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Difference {
    pub difference: f64,
    pub statistic: f64,
    pub p_value: f64,
}

impl Difference {
    /// Whether the difference is significant at `1 − confidence`.
    pub fn significant(&self, confidence: f64) -> bool {
        self.p_value < 1.0 - confidence
    }
}

/// Two-proportion z test (pooled variance) of `a_hits / a_n − b_hits / b_n`.
pub fn two_proportions(a_hits: u64, a_n: u64, b_hits: u64, b_n: u64) -> Option<Difference> {
    if a_n == 0 || b_n == 0 || a_hits > a_n || b_hits > b_n {
        return None;
    }
    let (an, bn) = (a_n as f64, b_n as f64);
    let difference = a_hits as f64 / an - b_hits as f64 / bn;
    let pooled = (a_hits + b_hits) as f64 / (an + bn);
    let se = (pooled * (1.0 - pooled) * (1.0 / an + 1.0 / bn)).sqrt();
    if se == 0.0 {
        return Some(Difference {
            difference,
            statistic: 0.0,
            p_value: 1.0,
        });
    }
    let z = difference / se;
    Some(Difference {
        difference,
        statistic: z,
        p_value: 2.0 * (1.0 - standard_normal().cdf(z.abs())),
    })
}

/// z test of the difference between two net promoter scores, each given as counts of
/// (promoters, passives, detractors), from the variance of the per-answer score.
pub fn nps_difference(a: (u64, u64, u64), b: (u64, u64, u64)) -> Option<Difference> {
    let moments = |(p, s, d): (u64, u64, u64)| -> Option<(f64, f64)> {
        let n = (p + s + d) as f64;
        if n == 0.0 {
            return None;
        }
        let (p, d) = (p as f64 / n, d as f64 / n);
        let score = p - d;
        Some((score, (p + d - score * score).max(0.0) / n))
    };
    let ((sa, va), (sb, vb)) = (moments(a)?, moments(b)?);
    let difference = 100.0 * (sa - sb);
    let se = (va + vb).sqrt();
    if se == 0.0 {
        return Some(Difference {
            difference,
            statistic: 0.0,
            p_value: if sa == sb { 1.0 } else { 0.0 },
        });
    }
    let z = (sa - sb) / se;
    Some(Difference {
        difference,
        statistic: z,
        p_value: 2.0 * (1.0 - standard_normal().cdf(z.abs())),
    })
}

/// Summary of one group's values for a test of means.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Moments {
    pub n: u64,
    pub sum: f64,
    pub sum_of_squares: f64,
}

impl Moments {
    fn mean_and_variance(&self) -> (f64, f64) {
        let n = self.n as f64;
        let mean = self.sum / n;
        let variance = ((self.sum_of_squares - self.sum * self.sum / n) / (n - 1.0)).max(0.0);
        (mean, variance)
    }
}

/// Welch's t test of `mean(a) − mean(b)` (unequal variances).
pub fn welch(a: Moments, b: Moments) -> Option<Difference> {
    if a.n < 2 || b.n < 2 {
        return None;
    }
    let (ma, va) = a.mean_and_variance();
    let (mb, vb) = b.mean_and_variance();
    let (qa, qb) = (va / a.n as f64, vb / b.n as f64);
    let difference = ma - mb;
    let se2 = qa + qb;
    if se2 == 0.0 {
        return Some(Difference {
            difference,
            statistic: 0.0,
            p_value: if difference == 0.0 { 1.0 } else { 0.0 },
        });
    }
    let t = difference / se2.sqrt();
    let df = se2 * se2 / (qa * qa / (a.n as f64 - 1.0) + qb * qb / (b.n as f64 - 1.0));
    let p_value = match StudentsT::new(0.0, 1.0, df) {
        Ok(dist) => 2.0 * (1.0 - dist.cdf(t.abs())),
        Err(_) => 2.0 * (1.0 - standard_normal().cdf(t.abs())),
    };
    Some(Difference {
        difference,
        statistic: t,
        p_value,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tolerance: f64) {
        assert!((a - b).abs() < tolerance, "{a} vs {b}");
    }

    #[test]
    fn wilson_matches_hand_computation() {
        // also statsmodels' proportion_confint(8, 10, method="wilson") = (0.490162, 0.943318)
        // 8 of 10: centre (0.8 + z²/20) / (1 + z²/10), z = 1.959964
        let e = wilson(8, 10, CONFIDENCE).unwrap();
        close(e.value, 0.8, 1e-12);
        close(e.low, 0.490_162_47, 1e-6);
        close(e.high, 0.943_317_85, 1e-6);
        // the interval never leaves 0–1, even at the extremes
        let all = wilson(10, 10, CONFIDENCE).unwrap();
        close(all.high, 1.0, 1e-12);
        close(all.low, 0.722_46, 1e-4);
        let none = wilson(0, 10, CONFIDENCE).unwrap();
        close(none.low, 0.0, 1e-12);
        assert!(wilson(0, 0, CONFIDENCE).is_none());
        assert!(wilson(3, 2, CONFIDENCE).is_none());
    }

    #[test]
    fn t_interval_matches_hand_computation() {
        // 1, 2, 3, 4, 5: mean 3, s = 1.581139, se = 0.707107, t(4) = 2.776445
        let e = mean_t(5, 15.0, 55.0, CONFIDENCE).unwrap();
        close(e.value, 3.0, 1e-12);
        close(e.low, 3.0 - 1.963_243, 1e-5);
        close(e.high, 3.0 + 1.963_243, 1e-5);
        close(t_critical(4.0, CONFIDENCE), 2.776_445, 1e-5);
        close(z_critical(CONFIDENCE), 1.959_964, 1e-6);
        // identical values: a zero-width interval
        let same = mean_t(3, 12.0, 48.0, CONFIDENCE).unwrap();
        assert_eq!((same.low, same.high), (4.0, 4.0));
        assert!(mean_t(1, 4.0, 16.0, CONFIDENCE).unwrap().low.is_nan());
        assert!(mean_t(0, 0.0, 0.0, CONFIDENCE).is_none());
    }

    #[test]
    fn nps_matches_hand_computation() {
        // 5 promoters, 3 passives, 2 detractors: 30; variance 0.5 + 0.2 − 0.09 = 0.61
        let e = nps(5, 3, 2, CONFIDENCE).unwrap();
        close(e.value, 30.0, 1e-9);
        let half = 100.0 * 1.959_964 * (0.61f64 / 10.0).sqrt();
        close(e.low, 30.0 - half, 1e-3);
        close(e.high, 30.0 + half, 1e-3);
        let all_promoters = nps(4, 0, 0, CONFIDENCE).unwrap();
        assert_eq!((all_promoters.value, all_promoters.high), (100.0, 100.0));
    }

    #[test]
    fn tests_of_differences_match_hand_computation() {
        // 45/100 vs 30/100: pooled 0.375, se 0.0684653, z 2.190890, p 0.028460 (as
        // statsmodels' proportions_ztest)
        let d = two_proportions(45, 100, 30, 100).unwrap();
        close(d.difference, 0.15, 1e-12);
        close(d.statistic, 2.190_890, 1e-5);
        close(d.p_value, 0.028_460, 1e-5);
        assert!(d.significant(CONFIDENCE));
        assert!(two_proportions(0, 10, 0, 10).unwrap().p_value == 1.0);

        // NPS 30 (50/30/20) vs 10 (40/30/30): per-answer variances 0.61 and 0.69, se
        // sqrt(0.0061 + 0.0069), z 1.754116, p 0.079411 (scipy.stats.norm).
        let d = nps_difference((50, 30, 20), (40, 30, 30)).unwrap();
        close(d.difference, 20.0, 1e-9);
        close(d.statistic, 1.754_116, 1e-6);
        close(d.p_value, 0.079_411, 1e-6);
        assert!(nps_difference((0, 0, 0), (1, 0, 0)).is_none());

        // a = 1..5 (mean 3, var 2.5), b = 2, 4, 6, 8, 10 (mean 6, var 10):
        // t = −3 / sqrt(0.5 + 2) = −1.897367, df = 6.25 / (0.0625 + 1) = 5.882353
        let a = Moments {
            n: 5,
            sum: 15.0,
            sum_of_squares: 55.0,
        };
        let b = Moments {
            n: 5,
            sum: 30.0,
            sum_of_squares: 220.0,
        };
        let w = welch(a, b).unwrap();
        close(w.statistic, -1.897_367, 1e-5);
        // scipy.stats.ttest_ind(a, b, equal_var=False): p = 0.10753119
        close(w.p_value, 0.107_531_19, 1e-6);
        assert!(!w.significant(CONFIDENCE));
    }
}
