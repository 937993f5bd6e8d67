//! For operators: a structured log line per request (named by its route template),
//! request counts and latency histograms in Prometheus text format at `/metrics`, and
//! liveness (`/healthz`) and readiness (`/readyz`) probes.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::AppState;

/// Upper bounds (seconds) of the latency histogram's buckets.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

#[derive(Debug, Default)]
struct Series {
    count: u64,
    sum_seconds: f64,
    /// Observations at or below each bucket's bound (not cumulative; summed on output).
    buckets: [u64; BUCKETS.len()],
}

/// Counters kept since start-up.
#[derive(Debug, Default)]
pub struct Telemetry {
    /// (method, route, status) → series
    requests: Mutex<BTreeMap<(String, String, u16), Series>>,
}

impl Telemetry {
    fn record(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let Ok(mut requests) = self.requests.lock() else {
            return;
        };
        let series = requests
            .entry((method.to_owned(), route.to_owned(), status))
            .or_default();
        series.count += 1;
        series.sum_seconds += seconds;
        if let Some(bucket) = BUCKETS.iter().position(|&bound| seconds <= bound) {
            series.buckets[bucket] += 1;
        }
    }

    /// The Prometheus text exposition of every series.
    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str("# HELP cxm_http_requests_total HTTP requests answered.\n");
        out.push_str("# TYPE cxm_http_requests_total counter\n");
        let Ok(requests) = self.requests.lock() else {
            return out;
        };
        for ((method, route, status), series) in requests.iter() {
            let _ = writeln!(
                out,
                "cxm_http_requests_total{{method=\"{method}\",route=\"{}\",status=\"{status}\"}} {}",
                escape(route),
                series.count
            );
        }
        out.push_str("# HELP cxm_http_request_duration_seconds Time to answer HTTP requests.\n");
        out.push_str("# TYPE cxm_http_request_duration_seconds histogram\n");
        for ((method, route, status), series) in requests.iter() {
            let labels = format!(
                "method=\"{method}\",route=\"{}\",status=\"{status}\"",
                escape(route)
            );
            let mut cumulative = 0;
            for (bound, count) in BUCKETS.iter().zip(series.buckets) {
                cumulative += count;
                let _ = writeln!(
                    out,
                    "cxm_http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {cumulative}"
                );
            }
            let _ = writeln!(
                out,
                "cxm_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                series.count
            );
            let _ = writeln!(
                out,
                "cxm_http_request_duration_seconds_sum{{{labels}}} {}",
                series.sum_seconds
            );
            let _ = writeln!(
                out,
                "cxm_http_request_duration_seconds_count{{{labels}}} {}",
                series.count
            );
        }
        out
    }
}

fn escape(label: &str) -> String {
    label
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Logs and counts every request under its route template (never its raw path, which
/// would make a series per id).
pub async fn observe(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().to_string();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let response = next.run(request).await;
    let seconds = started.elapsed().as_secs_f64();
    let status = response.status().as_u16();
    state.telemetry().record(&method, &route, status, seconds);
    tracing::info!(method, route, status, millis = seconds * 1000.0, "request");
    response
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
}

/// The process is up.
async fn healthz() -> &'static str {
    "ok\n"
}

/// The store answers and the metric engine is open.
async fn readyz(State(state): State<AppState>) -> Response {
    match state.store().ping().await {
        Ok(_) => {
            let engine = state.engine().await;
            let span = engine
                .span()
                .map_or_else(|| "no data".to_owned(), |(a, b)| format!("data {a}..{b}"));
            (StatusCode::OK, format!("ready: {span}\n")).into_response()
        }
        Err(error) => {
            tracing::error!(%error, "not ready: store unreachable");
            (StatusCode::SERVICE_UNAVAILABLE, "store unreachable\n").into_response()
        }
    }
}

async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.telemetry().render(),
    )
        .into_response()
}
