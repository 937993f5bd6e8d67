//! Maximum-likelihood fitting: L-BFGS (argmin) on the mean negative log-likelihood over
//! log-parameters, so every parameter stays positive without bounds; Nelder–Mead from the
//! best point found when the quasi-Newton steps cannot finish.

use argmin::core::{CostFunction, Executor, Gradient, State, TerminationReason, TerminationStatus};
use argmin::solver::linesearch::MoreThuenteLineSearch;
use argmin::solver::neldermead::NelderMead;
use argmin::solver::quasinewton::LBFGS;
use serde::Serialize;

use crate::AnalysisError;

/// How a fit ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Convergence {
    /// the gradient of the mean log-likelihood vanished (to `1e-8` per log-parameter), or
    /// is below `1e-6` where neither quasi-Newton, Newton nor simplex steps improve the
    /// likelihood any further (a flat optimum, or one at the edge of the parameter space,
    /// such as no dropout in a short history)
    pub converged: bool,
    /// quasi-Newton iterations, and when needed Newton steps and simplex iterations
    pub iterations: u64,
    /// the largest absolute gradient component of the mean log-likelihood at the estimate,
    /// per log-parameter
    pub gradient: f64,
    /// which method finished the fit and why it stopped
    pub method: String,
}

/// A log-likelihood to maximise over positive parameters.
pub(crate) trait Likelihood: Sync {
    const MODEL: &'static str;
    /// the mean log-likelihood per customer and its gradient with respect to the
    /// parameters (not their logarithms); `None` where it is not finite
    fn mean_log_likelihood(&self, parameters: &[f64]) -> Option<(f64, Vec<f64>)>;
}

/// The mean negative log-likelihood as a function of the log-parameters.
struct Negative<'a, L>(&'a L);

/// Log-parameters beyond this are treated as diverging (e⁴⁰ ≈ 2 × 10¹⁷).
const LOG_LIMIT: f64 = 40.0;

impl<L: Likelihood> Negative<'_, L> {
    fn evaluate(&self, log_parameters: &[f64]) -> Option<(f64, Vec<f64>)> {
        if log_parameters
            .iter()
            .any(|p| !p.is_finite() || p.abs() > LOG_LIMIT)
        {
            return None;
        }
        let parameters: Vec<f64> = log_parameters.iter().map(|p| p.exp()).collect();
        let (value, gradient) = self.0.mean_log_likelihood(&parameters)?;
        let gradient: Vec<f64> = gradient
            .iter()
            .zip(&parameters)
            .map(|(g, p)| -g * p)
            .collect();
        (value.is_finite() && gradient.iter().all(|g| g.is_finite())).then_some((-value, gradient))
    }
}

impl<L: Likelihood> CostFunction for Negative<'_, L> {
    type Param = Vec<f64>;
    type Output = f64;

    fn cost(&self, log_parameters: &Vec<f64>) -> Result<f64, argmin::core::Error> {
        // A point where the likelihood is not finite is infinitely bad: line searches and
        // the simplex step back from it.
        Ok(self
            .evaluate(log_parameters)
            .map_or(f64::INFINITY, |(value, _)| value))
    }
}

impl<L: Likelihood> Gradient for Negative<'_, L> {
    type Param = Vec<f64>;
    type Gradient = Vec<f64>;

    fn gradient(&self, log_parameters: &Vec<f64>) -> Result<Vec<f64>, argmin::core::Error> {
        self.evaluate(log_parameters)
            .map(|(_, gradient)| gradient)
            .ok_or_else(|| argmin::core::Error::msg("the likelihood is not finite here"))
    }
}

/// Gradient size (per log-parameter, of the mean log-likelihood) that counts as converged.
const GRADIENT_TOLERANCE: f64 = 1e-8;
/// Gradient size that counts as converged once no method improves the likelihood.
const STALLED_TOLERANCE: f64 = 1e-6;

/// Maximises `likelihood` from `start` (positive parameters); returns the estimate, its
/// total log-likelihood over `customers`, and how the fit ended.
pub(crate) fn maximise<L: Likelihood>(
    likelihood: &L,
    start: &[f64],
    customers: f64,
) -> Result<(Vec<f64>, f64, Convergence), AnalysisError> {
    let no_fit = |reason: String| AnalysisError::NoFit {
        model: L::MODEL,
        reason,
    };
    let log_start: Vec<f64> = start.iter().map(|p| p.ln()).collect();
    let problem = Negative(likelihood);
    if problem.evaluate(&log_start).is_none() {
        return Err(no_fit(
            "the likelihood is not finite at the starting point".into(),
        ));
    }
    let mut iterations = 0;
    let mut best = log_start.clone();
    let gradient_of = |point: &[f64]| {
        problem
            .evaluate(point)
            .map(|(_, g)| g.iter().fold(0.0f64, |m, g| m.max(g.abs())))
    };
    let cost_of = |point: &[f64]| problem.evaluate(point).map_or(f64::INFINITY, |(v, _)| v);
    // L-BFGS from the best point so far, restarted with fresh curvature memory when its
    // line search gives up short of a vanishing gradient (stale curvature pairs near the
    // optimum make its direction uphill), while restarts still improve.
    let lbfgs = |from: &[f64], iterations: &mut u64| -> Result<(Vec<f64>, String), AnalysisError> {
        let solver = LBFGS::new(MoreThuenteLineSearch::new(), 10)
            .with_tolerance_grad(GRADIENT_TOLERANCE / 10.0)
            .and_then(|s| s.with_tolerance_cost(0.0))
            .map_err(|e| no_fit(e.to_string()))?;
        Ok(
            match Executor::new(Negative(likelihood), solver)
                .configure(|state| state.param(from.to_vec()).max_iters(1_000))
                .run()
            {
                Ok(result) => {
                    let state = result.state();
                    *iterations += state.get_iter();
                    let end = state
                        .get_best_param()
                        .cloned()
                        .unwrap_or_else(|| from.to_vec());
                    (end, reason(state.get_termination_status()))
                }
                Err(error) => (from.to_vec(), format!("failed: {error}")),
            },
        )
    };
    let mut runs = 0;
    let mut last_reason;
    loop {
        let (end, why) = lbfgs(&best, &mut iterations)?;
        runs += 1;
        last_reason = why;
        let improved = cost_of(&end) < cost_of(&best);
        if improved {
            best = end;
        }
        if gradient_of(&best).is_some_and(|g| g <= GRADIENT_TOLERANCE) || !improved || runs == 5 {
            break;
        }
    }
    let mut method = if runs == 1 {
        format!("L-BFGS ({last_reason})")
    } else {
        format!("L-BFGS, {runs} runs ({last_reason})")
    };
    // which later stages ran: their names go into `method`, the simplex's into `converged`
    let (mut newtoned, mut polished) = (false, false);
    if gradient_of(&best).is_some_and(|g| g > GRADIENT_TOLERANCE) {
        // Close to the optimum the likelihood changes less than its rounding error, so line
        // searches stall; Newton steps need only the gradient.
        if let Some((end, steps)) = newton(&problem, &best) {
            iterations += steps;
            best = end;
            newtoned = true;
            method = format!("{method}, then Newton ({steps} steps)");
        }
    }
    if gradient_of(&best).is_none_or(|g| g > GRADIENT_TOLERANCE) {
        // Polish with a simplex around the best point (robust where curvature misleads).
        let simplex: Vec<Vec<f64>> = std::iter::once(best.clone())
            .chain((0..best.len()).map(|i| {
                let mut vertex = best.clone();
                vertex[i] += 0.1;
                vertex
            }))
            .collect();
        let solver = NelderMead::new(simplex)
            .with_sd_tolerance(1e-14)
            .map_err(|e| no_fit(e.to_string()))?;
        let result = Executor::new(Negative(likelihood), solver)
            .configure(|state| state.max_iters(20_000))
            .run()
            .map_err(|e| no_fit(e.to_string()))?;
        let state = result.state();
        iterations += state.get_iter();
        if let Some(param) = state.get_best_param() {
            best.clone_from(param);
        }
        polished = true;
        method = format!(
            "{method}, then Nelder-Mead ({})",
            reason(state.get_termination_status())
        );
        // and quasi-Newton once more from where the simplex ended
        if gradient_of(&best).is_none_or(|g| g > GRADIENT_TOLERANCE) {
            let (end, why) = lbfgs(&best, &mut iterations)?;
            if cost_of(&end) <= cost_of(&best) {
                best = end;
            }
            method = format!("{method}, then L-BFGS ({why})");
        }
    }
    let (value, _) = problem
        .evaluate(&best)
        .ok_or_else(|| no_fit("the likelihood is not finite at the estimate".into()))?;
    let gradient = gradient_of(&best).unwrap_or(f64::INFINITY);
    if gradient <= GRADIENT_TOLERANCE && runs == 1 && !newtoned && !polished {
        // L-BFGS often ends on a line search that finds no lower point: at the optimum.
        method = "L-BFGS (converged)".into();
    }
    let parameters = best.iter().map(|p| p.exp()).collect();
    Ok((
        parameters,
        -value * customers,
        Convergence {
            converged: gradient <= GRADIENT_TOLERANCE
                || (gradient <= STALLED_TOLERANCE && polished),
            iterations,
            gradient,
            method,
        },
    ))
}

/// Newton steps on the log-parameters from `start`, the Hessian by central differences of
/// the analytic gradient, only where that Hessian is positive definite; each step kept
/// only when it shrinks the largest gradient component without raising the cost beyond
/// its rounding (halved up to eight times otherwise). Returns the end point and the steps
/// taken when it got the gradient below the tolerance.
fn newton<L: Likelihood>(problem: &Negative<'_, L>, start: &[f64]) -> Option<(Vec<f64>, u64)> {
    use nalgebra::{DMatrix, DVector};
    let largest = |g: &[f64]| g.iter().fold(0.0f64, |m, g| m.max(g.abs()));
    let mut point = start.to_vec();
    let (mut cost, mut gradient) = problem.evaluate(&point)?;
    let n = point.len();
    for step in 1..=20u64 {
        let mut hessian = DMatrix::<f64>::zeros(n, n);
        for j in 0..n {
            let h = 1e-5;
            let mut up = point.clone();
            up[j] += h;
            let mut down = point.clone();
            down[j] -= h;
            let (_, g_up) = problem.evaluate(&up)?;
            let (_, g_down) = problem.evaluate(&down)?;
            for i in 0..n {
                hessian[(i, j)] = (g_up[i] - g_down[i]) / (2.0 * h);
            }
        }
        let hessian = (&hessian + hessian.transpose()) * 0.5;
        // only at a minimum of the negative log-likelihood (a positive definite Hessian):
        // elsewhere a Newton step may head for a saddle
        let direction = hessian
            .cholesky()?
            .solve(&-DVector::from_column_slice(&gradient));
        let mut scale = 1.0;
        let mut moved = false;
        for _ in 0..8 {
            let candidate: Vec<f64> = point
                .iter()
                .zip(direction.iter())
                .map(|(p, d)| p + scale * d)
                .collect();
            if let Some((value, g)) = problem.evaluate(&candidate)
                && largest(&g) < largest(&gradient)
                && value <= cost + 1e-12 * cost.abs()
            {
                point = candidate;
                gradient = g;
                cost = value;
                moved = true;
                break;
            }
            scale /= 2.0;
        }
        if largest(&gradient) <= GRADIENT_TOLERANCE {
            return Some((point, step));
        }
        if !moved {
            return None;
        }
    }
    None
}

fn reason(status: &TerminationStatus) -> String {
    match status {
        TerminationStatus::Terminated(TerminationReason::SolverConverged) => "converged".into(),
        TerminationStatus::Terminated(other) => other.to_string().to_lowercase(),
        TerminationStatus::NotTerminated => "not finished".into(),
    }
}
