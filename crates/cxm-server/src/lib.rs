//! `cxm serve`: the HTTP interface of a data directory.
//!
//! - [`router`] builds every route over an [`AppState`]: the JSON API under `/api/v1`
//!   (described by the OpenAPI document at `/api/v1/openapi.json`), the sign-in pages, and
//!   `/healthz`, `/readyz` and `/metrics` (Prometheus text format) for operators.
//! - [`serve`] runs it on a listener until a shutdown signal, finishing requests in flight.
//! - Who may see what is decided in [`scope`], where data is read: every query's filters
//!   are narrowed to the caller's scope before the engine runs it.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, header};
use cxm_catalog::DataDir;
use cxm_domain::RecordKind;
use cxm_metrics::Engine;
use cxm_sql::SqlStore;
use tokio::sync::{Mutex, Notify, RwLock, watch};

pub mod accounts;
pub mod api;
pub mod auth;
pub mod cases_api;
pub mod cases_pages;
pub mod charts;
pub mod dashboard;
pub mod error;
pub mod ideas_api;
pub mod ideas_pages;
pub mod ingest;
pub mod insight_api;
pub mod insight_pages;
pub mod notify_api;
pub mod overview;
pub mod pages;
pub mod person_page;
pub mod recognition_api;
pub mod recognition_pages;
pub mod record_pages;
pub mod scope;
pub mod telemetry;
pub mod topics_page;
pub mod unit_page;

pub use error::ApiError;

/// Settings of a running server.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Mark session cookies `Secure` (set when cxm is reached over TLS, e.g. behind a
    /// TLS-terminating proxy).
    pub secure_cookies: bool,
    /// How long a browser session lasts without signing in again.
    pub session_ttl: Duration,
    /// Largest request body accepted (ingest batches), in bytes.
    pub body_limit: usize,
    /// How often the alert rules are evaluated besides after every ingest.
    pub alert_interval: Duration,
    /// How often queued webhook deliveries are looked at besides after every case change.
    pub webhook_interval: Duration,
    /// When failed webhook deliveries are tried again.
    pub webhook_retry: cxm_domain::notify::RetrySchedule,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            secure_cookies: false,
            session_ttl: Duration::from_secs(12 * 3600),
            body_limit: 16 << 20,
            alert_interval: Duration::from_secs(15 * 60),
            webhook_interval: Duration::from_secs(10),
            webhook_retry: cxm_domain::notify::RetrySchedule::default(),
        }
    }
}

/// What every request handler shares.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

struct Inner {
    dir: DataDir,
    store: SqlStore,
    /// The metric engine over the current rollup; replaced when data changes.
    engine: RwLock<Arc<Engine>>,
    config: ServerConfig,
    telemetry: telemetry::Telemetry,
    throttle: auth::Throttle,
    /// One API ingest at a time in this process (the data directory's writer lock keeps
    /// other processes out).
    ingesting: Mutex<()>,
    /// One alert evaluation at a time.
    alerting: Mutex<()>,
    /// Wakes the webhook sender (a case changed).
    sender: Arc<Notify>,
    refresher: Arc<Refresher>,
}

/// Rebuilds the metric rollup after data changed, one rebuild at a time, off the async
/// workers; changes that arrive during a rebuild are taken up by the next one.
struct Refresher {
    /// Changes announced so far.
    wanted: AtomicU64,
    /// The records changed since the last rebuild took them: the alert rules look at them.
    alerts_from: std::sync::Mutex<Option<cxm_loop::Scope>>,
    wake: Notify,
    /// The latest rebuild: the changes it covers, and its error if it failed.
    done: watch::Sender<(u64, Option<String>)>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Lets the refresh and sender tasks see that the server is gone and end.
        self.refresher.wake.notify_one();
        self.sender.notify_one();
    }
}

async fn refresh_loop(refresher: Arc<Refresher>, inner: Weak<Inner>) {
    loop {
        refresher.wake.notified().await;
        let Some(state) = inner.upgrade().map(AppState) else {
            return;
        };
        let covers = refresher.wanted.load(Ordering::SeqCst);
        let alerts_from = refresher
            .alerts_from
            .lock()
            .map_or(Some(cxm_loop::Scope::default()), |mut from| from.take());
        let error = match Engine::open(state.dir()).await {
            Ok(engine) => {
                *state.0.engine.write().await = Arc::new(engine);
                None
            }
            Err(error) => {
                tracing::error!(%error, "the metric rollup could not be rebuilt");
                Some(error.to_string())
            }
        };
        // New contacts and answers may call for follow-up cases: opened before the change
        // counts as done, so an ingest that waits for it sees them.
        if let Some(scope) = alerts_from {
            state.evaluate_alerts(&scope).await;
        }
        refresher.done.send_replace((covers, error));
    }
}

/// Evaluates the alert rules on a schedule as well as after each ingest (rules edited
/// since, records the CLI stored with `--no-alerts`).
async fn alert_schedule(inner: Weak<Inner>) {
    loop {
        let interval = match inner.upgrade() {
            Some(inner) => inner.config.alert_interval,
            None => return,
        };
        tokio::time::sleep(interval).await;
        let Some(state) = inner.upgrade().map(AppState) else {
            return;
        };
        state.evaluate_alerts(&cxm_loop::Scope::default()).await;
    }
}

/// Sends queued webhook deliveries when a case changed, and on a schedule (retries fall
/// due; other processes, such as the CLI, queue events too).
async fn webhook_sender(wake: Arc<Notify>, inner: Weak<Inner>) {
    let client = match cxm_loop::webhooks::client(&cxm_loop::SendOptions::default()) {
        Ok(client) => client,
        Err(error) => {
            tracing::error!(%error, "webhooks cannot be sent");
            return;
        }
    };
    loop {
        let Some(state) = inner.upgrade().map(AppState) else {
            return;
        };
        let options = cxm_loop::SendOptions {
            schedule: state.config().webhook_retry,
            ..Default::default()
        };
        match cxm_loop::send_due(state.store(), &client, &options, chrono::Utc::now()).await {
            Ok(report) if report != cxm_loop::SendReport::default() => tracing::info!(
                delivered = report.delivered,
                retrying = report.retrying,
                given_up = report.given_up,
                "webhook deliveries"
            ),
            Ok(_) => {}
            Err(error) => tracing::error!(%error, "webhook deliveries could not be sent"),
        }
        let interval = state.config().webhook_interval;
        drop(state);
        tokio::select! {
            () = wake.notified() => {}
            () = tokio::time::sleep(interval) => {}
        }
    }
}

impl AppState {
    /// Opens the data directory's store and metric engine (building the rollup when it is
    /// out of date).
    pub async fn open(dir: DataDir, config: ServerConfig) -> Result<AppState, ApiError> {
        let store = dir.reference().await.map_err(ApiError::internal)?;
        let engine = Engine::open(&dir).await.map_err(ApiError::internal)?;
        let refresher = Arc::new(Refresher {
            wanted: AtomicU64::new(0),
            alerts_from: std::sync::Mutex::new(None),
            wake: Notify::new(),
            done: watch::Sender::new((0, None)),
        });
        let inner = Arc::new(Inner {
            dir,
            store,
            engine: RwLock::new(Arc::new(engine)),
            config,
            telemetry: telemetry::Telemetry::default(),
            throttle: auth::Throttle::default(),
            ingesting: Mutex::new(()),
            alerting: Mutex::new(()),
            sender: Arc::new(Notify::new()),
            refresher: refresher.clone(),
        });
        tokio::spawn(refresh_loop(refresher, Arc::downgrade(&inner)));
        tokio::spawn(alert_schedule(Arc::downgrade(&inner)));
        tokio::spawn(webhook_sender(inner.sender.clone(), Arc::downgrade(&inner)));
        Ok(AppState(inner))
    }

    pub fn dir(&self) -> &DataDir {
        &self.0.dir
    }

    pub fn store(&self) -> &SqlStore {
        &self.0.store
    }

    pub fn config(&self) -> &ServerConfig {
        &self.0.config
    }

    pub(crate) fn telemetry(&self) -> &telemetry::Telemetry {
        &self.0.telemetry
    }

    pub(crate) fn throttle(&self) -> &auth::Throttle {
        &self.0.throttle
    }

    /// The engine as of now (a request keeps the one it started with).
    pub async fn engine(&self) -> Arc<Engine> {
        self.0.engine.read().await.clone()
    }

    /// Evaluates the alert rules over the records of `scope`, one evaluation at a time; a
    /// failure is logged (the next ingest or the schedule tries again).
    pub async fn evaluate_alerts(&self, scope: &cxm_loop::Scope) {
        let _turn = self.0.alerting.lock().await;
        match cxm_loop::evaluate(self.dir(), scope, chrono::Utc::now()).await {
            Ok(run) => {
                for rule in &run.rules {
                    if let Some(note) = &rule.note {
                        tracing::warn!(rule = %rule.rule_id, "{note}");
                    }
                }
                if run.opened > 0 {
                    tracing::info!(opened = run.opened, "alert rules opened cases");
                    self.wake_sender();
                }
            }
            Err(error) => tracing::error!(%error, "the alert rules could not be evaluated"),
        }
    }

    /// Tells the webhook sender that events were queued.
    pub(crate) fn wake_sender(&self) {
        self.0.sender.notify_one();
    }

    /// Holds the process's API ingest turn until dropped.
    pub(crate) async fn ingest_turn(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.0.ingesting.lock().await
    }

    /// Announces that records of `kind` were stored: the rollup is rebuilt in the
    /// background, then the alert rules that watch them look at the records from
    /// `earliest_micros` on (the earliest changed record's time; every record when `None`).
    /// Returns the change's number for [`AppState::refreshed`].
    pub fn data_changed(&self, kind: RecordKind, earliest_micros: Option<i64>) -> u64 {
        if let Ok(mut from) = self.0.refresher.alerts_from.lock() {
            let since = earliest_micros.and_then(chrono::DateTime::from_timestamp_micros);
            let change = cxm_loop::Scope::ingested(kind, since);
            *from = Some(match from.take() {
                Some(earlier) => earlier.merge(change),
                None => change,
            });
        }
        let change = self.0.refresher.wanted.fetch_add(1, Ordering::SeqCst) + 1;
        self.0.refresher.wake.notify_one();
        change
    }

    /// Waits until the metrics include change `change` (see [`AppState::data_changed`]).
    pub async fn refreshed(&self, change: u64) -> Result<(), ApiError> {
        let mut done = self.0.refresher.done.subscribe();
        let outcome = done
            .wait_for(|(covers, _)| *covers >= change)
            .await
            .map_err(ApiError::internal)?;
        match &outcome.1 {
            None => Ok(()),
            Some(error) => Err(ApiError::Internal(format!(
                "the metric rollup could not be rebuilt: {error}"
            ))),
        }
    }
}

/// Every route of the server.
pub fn router(state: AppState) -> Router {
    let limit = state.config().body_limit;
    Router::new()
        .merge(api::routes())
        .merge(insight_api::routes())
        .merge(cases_api::routes())
        .merge(cases_pages::routes())
        .merge(notify_api::routes())
        .merge(ideas_api::routes())
        .merge(ideas_pages::routes())
        .merge(recognition_api::routes())
        .merge(recognition_pages::routes())
        .merge(insight_pages::routes())
        .merge(ingest::routes())
        .merge(pages::routes())
        .merge(record_pages::routes())
        .merge(telemetry::routes())
        // After routing, so requests are counted under their route template.
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            telemetry::observe,
        ))
        .layer(DefaultBodyLimit::max(limit))
        // Every response: no framing, no content sniffing, nothing from other origins, no
        // referrer to other sites.
        .layer(always(
            header::CONTENT_SECURITY_POLICY,
            CONTENT_SECURITY_POLICY,
        ))
        .layer(always(header::X_FRAME_OPTIONS, "DENY"))
        .layer(always(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .layer(always(header::REFERRER_POLICY, "same-origin"))
        .with_state(state)
}

/// What pages may load and where forms may post: this origin only.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; img-src 'self' data:; style-src 'self'; \
     script-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

fn always(
    name: HeaderName,
    value: &'static str,
) -> tower_http::set_header::SetResponseHeaderLayer<HeaderValue> {
    tower_http::set_header::SetResponseHeaderLayer::if_not_present(
        name,
        HeaderValue::from_static(value),
    )
}

/// Serves `state` on `listener` until `shutdown` completes; requests in flight finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
    tracing::info!("shutting down: finishing requests in flight");
}
