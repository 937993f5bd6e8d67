//! Driver analysis against naive reference computations on raw data, and recovery of known
//! effects.

use cxm_analysis::drivers::{
    Direction, Driver, DriverSettings, Observations, Quadrant, analyse, spearman,
};
use nalgebra::{DMatrix, DVector};
use rand::{RngExt, SeedableRng};
use rand_distr::StandardNormal;
use rand_pcg::Pcg64;

/// n observations of y = Σ effect_j x_j + noise, with drivers correlated through a
/// shared factor.
fn synthetic(n: usize, effects: &[f64], shared: f64, seed: u64) -> Observations {
    let mut rng = Pcg64::seed_from_u64(seed);
    let p = effects.len();
    let mut columns = vec![Vec::with_capacity(n); p];
    let mut y = Vec::with_capacity(n);
    for _ in 0..n {
        let common: f64 = rng.sample(StandardNormal);
        let mut outcome: f64 = rng.sample::<f64, _>(StandardNormal);
        for (j, column) in columns.iter_mut().enumerate() {
            let own: f64 = rng.sample(StandardNormal);
            let x = shared * common + own * (1.0 + j as f64 * 0.3);
            outcome += effects[j] * x;
            column.push(x);
        }
        y.push(outcome);
    }
    Observations {
        outcome: "y".into(),
        values: y,
        drivers: columns
            .into_iter()
            .enumerate()
            .map(|(j, values)| Driver {
                name: format!("x{j}"),
                values,
                direction: Direction::HigherIsBetter,
            })
            .collect(),
    }
}

fn standardised(values: &[f64]) -> Vec<f64> {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let sd = (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
    values.iter().map(|v| (v - mean) / sd).collect()
}

/// R² of an ordinary least-squares fit of y on the given columns with an intercept.
fn ols_r_squared(y: &[f64], columns: &[&Vec<f64>]) -> f64 {
    let n = y.len();
    let design = DMatrix::from_fn(n, columns.len() + 1, |i, j| {
        if j == 0 { 1.0 } else { columns[j - 1][i] }
    });
    let target = DVector::from_column_slice(y);
    let coefficients = design
        .clone()
        .svd(true, true)
        .solve(&target, 1e-14)
        .unwrap();
    let residuals = target.clone() - design * coefficients;
    let mean = y.iter().sum::<f64>() / n as f64;
    let total: f64 = y.iter().map(|v| (v - mean).powi(2)).sum();
    1.0 - residuals.norm_squared() / total
}

/// Shapley values by brute force: every order in which drivers enter, a fresh regression
/// on the raw data for every prefix.
fn naive_shapley(o: &Observations) -> Vec<f64> {
    let p = o.drivers.len();
    let mut orders: Vec<Vec<usize>> = vec![vec![]];
    for _ in 0..p {
        let mut longer = Vec::new();
        for order in &orders {
            for j in (0..p).filter(|j| !order.contains(j)) {
                let mut next = order.clone();
                next.push(j);
                longer.push(next);
            }
        }
        orders = longer;
    }
    let mut values = vec![0.0; p];
    for order in &orders {
        let mut before = 0.0;
        for k in 0..p {
            let columns: Vec<&Vec<f64>> =
                order[..=k].iter().map(|&j| &o.drivers[j].values).collect();
            let r2 = ols_r_squared(&o.values, &columns);
            values[order[k]] += (r2 - before) / orders.len() as f64;
            before = r2;
        }
    }
    values
}

/// Johnson's relative weights as he computed them (2000): the singular value decomposition
/// of the standardised data X = P Δ Qᵀ gives the orthogonal Z = P Qᵀ closest to X; regress
/// y on Z (β) and X on Z (Λ); ε_j = Σ_k Λ_kj² β_k².
fn naive_relative_weights(o: &Observations) -> Vec<f64> {
    let n = o.values.len();
    let p = o.drivers.len();
    let scale = ((n - 1) as f64).sqrt();
    let x = DMatrix::from_fn(n, p, |i, j| standardised(&o.drivers[j].values)[i] / scale);
    let y = DVector::from_column_slice(&standardised(&o.values)) / scale;
    let svd = x.clone().svd(true, true);
    let z = svd.u.unwrap() * svd.v_t.unwrap();
    let beta = z.transpose() * &y;
    let lambda = z.transpose() * &x;
    (0..p)
        .map(|j| {
            (0..p)
                .map(|k| lambda[(k, j)].powi(2) * beta[k].powi(2))
                .sum()
        })
        .collect()
}

#[test]
fn importance_matches_brute_force_on_raw_data() {
    for (seed, effects) in [
        (1, vec![0.5, 0.2, 0.0, -0.4]),
        (2, vec![0.1, 0.9, 0.3]),
        (3, vec![0.3, -0.3, 0.6, 0.05, 0.2]),
    ] {
        let o = synthetic(150, &effects, 0.8, seed);
        let report = analyse(
            &o,
            &DriverSettings {
                resamples: 0,
                ..Default::default()
            },
        )
        .unwrap();
        let shapley = naive_shapley(&o);
        let weights = naive_relative_weights(&o);
        let full = ols_r_squared(
            &o.values,
            &o.drivers.iter().map(|d| &d.values).collect::<Vec<_>>(),
        );
        assert!((report.r_squared.value - full).abs() < 1e-9);
        for result in &report.drivers {
            let j: usize = result.name[1..].parse().unwrap();
            let got = result.shapley.unwrap().value;
            assert!(
                (got - shapley[j]).abs() < 1e-9,
                "Shapley of x{j}: {got} vs {}",
                shapley[j]
            );
            let got = result.relative_weight.value;
            assert!(
                (got - weights[j]).abs() < 1e-9,
                "weight of x{j}: {got} vs {}",
                weights[j]
            );
        }
    }
}

#[test]
fn known_effects_are_ranked_and_the_two_measures_agree() {
    let effects = [0.05, 0.6, 0.25, 0.0, 0.4, 0.15];
    let o = synthetic(20_000, &effects, 0.7, 7);
    let report = analyse(
        &o,
        &DriverSettings {
            resamples: 200,
            ..Default::default()
        },
    )
    .unwrap();
    // true importance: each driver's own variance share of y explained (effect × sd)²
    let truth: Vec<f64> = effects
        .iter()
        .enumerate()
        .map(|(j, e)| (e * (0.49 + (1.0 + j as f64 * 0.3).powi(2)).sqrt()).powi(2))
        .collect();
    let mut estimated = vec![0.0; effects.len()];
    for r in &report.drivers {
        estimated[r.name[1..].parse::<usize>().unwrap()] = r.relative_weight.value;
        let shapley = r.shapley.unwrap();
        assert!(
            (shapley.value - r.relative_weight.value).abs() < 0.01,
            "{r:?}"
        );
        assert!(
            r.relative_weight.low <= r.relative_weight.value
                && r.relative_weight.value <= r.relative_weight.high
        );
        // the coefficient's interval holds the true standardised effect for nearly all
        assert!(r.coefficient.low < r.coefficient.high);
    }
    let rho = spearman(&truth, &estimated).unwrap();
    assert!(rho >= 0.9, "Spearman {rho}: {estimated:?}");
    let top = (0..truth.len())
        .max_by(|&a, &b| truth[a].total_cmp(&truth[b]))
        .unwrap();
    assert_eq!(report.drivers[0].name, format!("x{top}"));
    let null = report.drivers.iter().find(|r| r.name == "x3").unwrap();
    assert!(null.p_value.unwrap() > 0.001, "{null:?}");
    assert!(report.drivers[0].p_value.unwrap() < 1e-6);
}

#[test]
fn constant_missing_and_collinear_drivers_do_not_fail_the_analysis() {
    let mut o = synthetic(400, &[0.5, 0.3], 0.5, 11);
    let copy = o.drivers[0].values.clone();
    o.drivers.push(Driver {
        name: "copy".into(),
        values: copy,
        direction: Direction::LowerIsBetter,
    });
    o.drivers.push(Driver {
        name: "flat".into(),
        values: vec![3.0; 400],
        direction: Direction::HigherIsBetter,
    });
    o.drivers.push(Driver {
        name: "rare".into(),
        values: (0..400)
            .map(|i| if i < 10 { 1.0 } else { f64::NAN })
            .collect(),
        direction: Direction::HigherIsBetter,
    });
    o.values[5] = f64::NAN;
    o.drivers[1].values[9] = f64::NAN;
    let report = analyse(
        &o,
        &DriverSettings {
            resamples: 50,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(report.n, 398);
    assert_eq!(report.incomplete, 2);
    let excluded: Vec<&str> = report
        .excluded
        .iter()
        .map(|(name, _)| name.as_str())
        .collect();
    assert_eq!(excluded, ["rare", "flat"]);
    let x0 = report.drivers.iter().find(|r| r.name == "x0").unwrap();
    let copy = report.drivers.iter().find(|r| r.name == "copy").unwrap();
    assert!((x0.relative_weight.value - copy.relative_weight.value).abs() < 1e-9);
    assert_eq!(copy.p_value, None);
    assert!(
        report
            .drivers
            .iter()
            .all(|r| r.relative_weight.value.is_finite())
    );
    let fix_first = report
        .drivers
        .iter()
        .filter(|r| r.quadrant == Quadrant::FixFirst)
        .count();
    assert!(fix_first <= report.drivers.len());

    let none = Observations {
        outcome: "y".into(),
        values: vec![1.0; 10],
        drivers: vec![],
    };
    assert!(analyse(&none, &DriverSettings::default()).is_err());
    // no observations at all, with drivers: an error, not a panic
    let empty = Observations {
        outcome: "y".into(),
        values: vec![],
        drivers: (0..5)
            .map(|k| Driver {
                name: format!("x{k}"),
                values: vec![],
                direction: Direction::HigherIsBetter,
            })
            .collect(),
    };
    assert!(analyse(&empty, &DriverSettings::default()).is_err());
    // every value missing, or a few observations: errors too
    let missing = Observations {
        outcome: "y".into(),
        values: vec![f64::NAN; 50],
        drivers: vec![Driver {
            name: "x".into(),
            values: vec![1.0; 50],
            direction: Direction::HigherIsBetter,
        }],
    };
    assert!(analyse(&missing, &DriverSettings::default()).is_err());
}

#[test]
fn spearman_of_known_orders() {
    assert_eq!(spearman(&[1.0, 2.0, 3.0], &[10.0, 20.0, 30.0]), Some(1.0));
    assert_eq!(spearman(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]), Some(-1.0));
    assert!(
        (spearman(&[1.0, 2.0, 2.0, 4.0], &[1.0, 3.0, 2.0, 4.0]).unwrap() - 0.9486832980505138)
            .abs()
            < 1e-12
    );
}
