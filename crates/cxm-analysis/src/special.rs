//! Special functions the models need beyond `statrs` (log-gamma and digamma come from there).

pub(crate) use statrs::function::gamma::{digamma, ln_gamma};

/// The standard normal quantile.
pub(crate) fn normal_quantile(p: f64) -> f64 {
    use statrs::distribution::{ContinuousCDF, Normal};
    Normal::standard().inverse_cdf(p)
}

/// The most series terms [`hyp2f1`] sums before giving up.
const MAX_TERMS: usize = 1_000_000;

/// Gauss's hypergeometric function ₂F₁(a, b; c; z) for `0 ≤ z < 1` and `c > 0`, by its
/// power series Σ (a)ₖ(b)ₖ / ((c)ₖ k!) zᵏ, summed until a term no longer changes the sum.
///
/// BG/NBD needs it with positive `a`, `b`, `c` and `z = t / (α + T + t)`, where every term
/// is positive and the series converges geometrically (ratio → z); horizons so long that
/// z is within 1e-6 of 1 would need millions of terms, and give NaN.
pub(crate) fn hyp2f1(a: f64, b: f64, c: f64, z: f64) -> f64 {
    if !(0.0..1.0).contains(&z) || c <= 0.0 {
        return f64::NAN;
    }
    let mut term = 1.0;
    let mut sum = 1.0;
    for k in 0..MAX_TERMS {
        let k = k as f64;
        term *= (a + k) * (b + k) / ((c + k) * (k + 1.0)) * z;
        let next = sum + term;
        // Once the terms fall (they do when k > |a + b - c|) and stop changing the sum, the
        // rest of the tail is below a rounding error too: it is a geometric series with
        // ratio below one.
        if next == sum && k > (a + b - c).abs() {
            return sum;
        }
        sum = next;
    }
    f64::NAN
}

/// ln(eˣ + eʸ) without overflow.
pub(crate) fn log_add_exp(x: f64, y: f64) -> f64 {
    let (high, low) = if x > y { (x, y) } else { (y, x) };
    if low == f64::NEG_INFINITY {
        return high;
    }
    high + (low - high).exp().ln_1p()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hyp2f1_matches_closed_forms() {
        // ₂F₁(1, 1; 2; z) = −ln(1 − z) / z
        for z in [0.01f64, 0.3, 0.5, 0.9, 0.99] {
            let expected = -(1.0 - z).ln() / z;
            assert!(
                (hyp2f1(1.0, 1.0, 2.0, z) - expected).abs() < 1e-12 * expected,
                "z={z}"
            );
        }
        // ₂F₁(a, b; b; z) = (1 − z)^(−a)
        for (a, b, z) in [(0.5f64, 3.0, 0.4), (2.5, 0.7, 0.8), (7.0, 1.5, 0.2)] {
            let expected = (1.0f64 - z).powf(-a);
            let got = hyp2f1(a, b, b, z);
            assert!(
                (got - expected).abs() < 1e-11 * expected,
                "{a} {b} {z}: {got}"
            );
        }
        // ₂F₁(1/2, 1; 3/2; z²) = atanh(z) / z
        let z: f64 = 0.7;
        let expected = z.atanh() / z;
        assert!((hyp2f1(0.5, 1.0, 1.5, z * z) - expected).abs() < 1e-12);
        assert_eq!(hyp2f1(1.0, 2.0, 3.0, 0.0), 1.0);
        assert!(hyp2f1(1.0, 2.0, 3.0, 1.0).is_nan());
    }

    #[test]
    fn log_add_exp_is_stable() {
        assert!((log_add_exp(0.0, 0.0) - 2f64.ln()).abs() < 1e-15);
        assert!((log_add_exp(-1000.0, -1001.0) - (-1000.0 + (-1f64).exp().ln_1p())).abs() < 1e-12);
        assert_eq!(log_add_exp(5.0, f64::NEG_INFINITY), 5.0);
    }
}
