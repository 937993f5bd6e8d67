//! Relative importance of correlated drivers from their correlation system: Johnson's
//! relative weights, the Shapley decomposition of R², and standardised coefficients.

use nalgebra::{DMatrix, DVector, SymmetricEigen};

/// Eigenvalues (of a correlation matrix) below this are treated as zero: the drivers they
/// belong to are exact linear combinations of others.
const SINGULAR: f64 = 1e-10;

/// The correlations of the drivers with each other (`among`, p × p) and with the outcome
/// (`with_outcome`, p).
#[derive(Debug, Clone)]
pub(crate) struct Correlations {
    pub(crate) among: DMatrix<f64>,
    pub(crate) with_outcome: DVector<f64>,
}

/// Johnson's (2000) relative weights: the drivers are replaced by their closest orthogonal
/// counterparts Z = X R^{-1/2}; the outcome's R² on Z is split by Z's squared coefficients
/// and given back to the drivers in proportion to their squared loadings on each Z. The
/// weights add up to the model's R².
pub(crate) fn relative_weights(c: &Correlations) -> Vec<f64> {
    let p = c.with_outcome.len();
    let eigen = SymmetricEigen::new(c.among.clone());
    // Λ = R^{1/2} (the loadings of X on Z); β = Λ⁺ r (the outcome's coefficients on Z)
    let sqrt_values = eigen
        .eigenvalues
        .map(|v| if v > SINGULAR { v.sqrt() } else { 0.0 });
    let vectors = &eigen.eigenvectors;
    let lambda = vectors * DMatrix::from_diagonal(&sqrt_values) * vectors.transpose();
    let inverse_sqrt = sqrt_values.map(|v| if v > 0.0 { 1.0 / v } else { 0.0 });
    let lambda_pinv = vectors * DMatrix::from_diagonal(&inverse_sqrt) * vectors.transpose();
    let beta = lambda_pinv * &c.with_outcome;
    (0..p)
        .map(|j| {
            (0..p)
                .map(|k| lambda[(j, k)].powi(2) * beta[k].powi(2))
                .sum()
        })
        .collect()
}

/// Standardised regression coefficients R⁺ r (for exactly collinear drivers, the
/// minimum-norm solution: their effect is shared equally).
pub(crate) fn standardised_coefficients(c: &Correlations) -> Vec<f64> {
    let eigen = SymmetricEigen::new(c.among.clone());
    let inverse = eigen
        .eigenvalues
        .map(|v| if v > SINGULAR { 1.0 / v } else { 0.0 });
    let vectors = &eigen.eigenvectors;
    let pinv = vectors * DMatrix::from_diagonal(&inverse) * vectors.transpose();
    (pinv * &c.with_outcome).iter().copied().collect()
}

/// Diagonal of R⁺ (variance inflation of each coefficient); `None` for a driver that is an
/// exact linear combination of others.
pub(crate) fn inflation(c: &Correlations) -> Vec<Option<f64>> {
    let eigen = SymmetricEigen::new(c.among.clone());
    let p = c.with_outcome.len();
    let vectors = &eigen.eigenvectors;
    (0..p)
        .map(|j| {
            let mut sum = 0.0;
            for (k, &value) in eigen.eigenvalues.iter().enumerate() {
                let loading = vectors[(j, k)].powi(2);
                if value > SINGULAR {
                    sum += loading / value;
                } else if loading > 1e-8 {
                    return None;
                }
            }
            Some(sum)
        })
        .collect()
}

/// The most drivers whose Shapley values are computed exactly (2^p subset regressions).
pub(crate) const MAX_SHAPLEY_DRIVERS: usize = 18;

/// The most drivers whose Shapley values are also bootstrapped (each resample repeats the
/// 2^p regressions).
pub(crate) const MAX_SHAPLEY_RESAMPLED: usize = 12;

/// R² of the outcome on every subset of drivers, indexed by the subset's bit mask.
fn subset_r_squared(c: &Correlations) -> Vec<f64> {
    let p = c.with_outcome.len();
    let mut r2 = vec![0.0; 1 << p];
    let mut factor = vec![0.0; p * p];
    let mut z = vec![0.0; p];
    let mut members = Vec::with_capacity(p);
    for (mask, slot) in r2.iter_mut().enumerate().skip(1) {
        members.clear();
        members.extend((0..p).filter(|j| mask & (1 << j) != 0));
        *slot = r_squared_of(c, &members, &mut factor, &mut z);
    }
    r2
}

/// R² of the outcome on `members`: a Cholesky factorisation of their correlation matrix
/// that leaves out a driver explained by the ones before it (pivot ≈ 0), which adds
/// nothing to R².
fn r_squared_of(c: &Correlations, members: &[usize], factor: &mut [f64], z: &mut [f64]) -> f64 {
    let k = members.len();
    let mut kept: Vec<bool> = vec![true; k];
    let mut r2 = 0.0;
    for i in 0..k {
        let mut pivot = c.among[(members[i], members[i])];
        for m in 0..i {
            if kept[m] {
                pivot -= factor[i * k + m].powi(2);
            }
        }
        if pivot <= SINGULAR {
            kept[i] = false;
            continue;
        }
        let pivot = pivot.sqrt();
        factor[i * k + i] = pivot;
        for j in i + 1..k {
            let mut value = c.among[(members[j], members[i])];
            for m in 0..i {
                if kept[m] {
                    value -= factor[j * k + m] * factor[i * k + m];
                }
            }
            factor[j * k + i] = value / pivot;
        }
        let mut projection = c.with_outcome[members[i]];
        for m in 0..i {
            if kept[m] {
                projection -= factor[i * k + m] * z[m];
            }
        }
        z[i] = projection / pivot;
        r2 += z[i] * z[i];
    }
    r2
}

/// Shapley values of the drivers in the R² game: each driver's marginal R² averaged over
/// every order in which drivers could enter the model (LMG; general dominance). They add
/// up to the full model's R². `None` above [`MAX_SHAPLEY_DRIVERS`].
pub(crate) fn shapley(c: &Correlations) -> Option<Vec<f64>> {
    let p = c.with_outcome.len();
    if p > MAX_SHAPLEY_DRIVERS {
        return None;
    }
    let r2 = subset_r_squared(c);
    // weight of a subset of size s not containing j: s! (p − s − 1)! / p!
    let mut weights = vec![0.0; p];
    for (s, weight) in weights.iter_mut().enumerate() {
        *weight = (ln_factorial(s) + ln_factorial(p - s - 1) - ln_factorial(p)).exp();
    }
    let mut values = vec![0.0; p];
    for (mask, &with_r2) in r2.iter().enumerate() {
        for (j, value) in values.iter_mut().enumerate() {
            let bit = 1 << j;
            if mask & bit != 0 {
                let without = mask & !bit;
                *value += weights[without.count_ones() as usize] * (with_r2 - r2[without]);
            }
        }
    }
    Some(values)
}

fn ln_factorial(n: usize) -> f64 {
    (2..=n).map(|k| (k as f64).ln()).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn system(among: &[&[f64]], with_outcome: &[f64]) -> Correlations {
        let p = with_outcome.len();
        Correlations {
            among: DMatrix::from_fn(p, p, |i, j| among[i][j]),
            with_outcome: DVector::from_column_slice(with_outcome),
        }
    }

    #[test]
    fn uncorrelated_drivers_get_their_squared_correlations() {
        let c = system(&[&[1.0, 0.0], &[0.0, 1.0]], &[0.5, 0.3]);
        for weights in [relative_weights(&c), shapley(&c).unwrap()] {
            assert!((weights[0] - 0.25).abs() < 1e-12 && (weights[1] - 0.09).abs() < 1e-12);
        }
        let b = standardised_coefficients(&c);
        assert!((b[0] - 0.5).abs() < 1e-12 && (b[1] - 0.3).abs() < 1e-12);
    }

    #[test]
    fn two_correlated_drivers_split_r_squared() {
        // R² = (r1² + r2² − 2 r1 r2 ρ) / (1 − ρ²); Shapley: φ1 = (R² + r1² − r2²) / 2
        let (rho, r1, r2): (f64, f64, f64) = (0.6, 0.5, 0.2);
        let c = system(&[&[1.0, rho], &[rho, 1.0]], &[r1, r2]);
        let total = (r1 * r1 + r2 * r2 - 2.0 * r1 * r2 * rho) / (1.0 - rho * rho);
        let phi = shapley(&c).unwrap();
        assert!((phi[0] - (total + r1 * r1 - r2 * r2) / 2.0).abs() < 1e-12);
        assert!((phi[0] + phi[1] - total).abs() < 1e-12);
        let rw = relative_weights(&c);
        assert!((rw[0] + rw[1] - total).abs() < 1e-12);
    }

    #[test]
    fn a_duplicated_driver_shares_its_importance() {
        let c = system(
            &[&[1.0, 1.0, 0.0], &[1.0, 1.0, 0.0], &[0.0, 0.0, 1.0]],
            &[0.6, 0.6, 0.2],
        );
        let total = 0.36 + 0.04;
        for weights in [relative_weights(&c), shapley(&c).unwrap()] {
            assert!((weights[0] - 0.18).abs() < 1e-9, "{weights:?}");
            assert!((weights[1] - 0.18).abs() < 1e-9);
            assert!((weights.iter().sum::<f64>() - total).abs() < 1e-9);
        }
        assert_eq!(inflation(&c)[0], None);
        assert!(inflation(&c)[2].is_some());
    }
}
