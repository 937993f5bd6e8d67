//! What the server's integration tests share: a generated, ingested organisation with
//! demo users and tokens, and a real server on port 0 over it.
#![allow(dead_code)] // each test binary uses its own part

use std::path::PathBuf;
use std::sync::OnceLock;

use cxm_catalog::DataDir;
use cxm_domain::RecordKind;
use cxm_ingest::IngestRequest;
use cxm_loop::Scope;
use cxm_server::accounts::DemoSignIn;
use cxm_server::{AppState, ServerConfig};
use cxm_sql::{CaseStore, TokenScope};

/// The organisation every test serves (generated once per test binary).
pub struct World {
    _temp: tempfile::TempDir,
    pub path: PathBuf,
    pub users: Vec<DemoSignIn>,
    pub read_token: String,
    pub ingest_token: String,
}

pub fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| in_own_runtime(30_000))
}

/// A smaller organisation of its own for the tests that store records through the API
/// (so the read-only tests' counts never move).
pub fn ingest_world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| in_own_runtime(3_000))
}

fn in_own_runtime(contacts: u64) -> World {
    // Its own runtime: the world outlives every test's runtime.
    std::thread::spawn(move || {
        tokio::runtime::Runtime::new()
            .unwrap()
            .block_on(build_world(contacts))
    })
    .join()
    .unwrap()
}

/// An organisation of `contacts` contacts for one test alone.
pub async fn build_world(contacts: u64) -> World {
    let temp = tempfile::tempdir().unwrap();
    let path = temp.path().join("data");
    let dir = DataDir::init(&path, None).await.unwrap();
    let generated = temp.path().join("generated");
    let mut options = cxm_generate::GenerateOptions::new(generated.clone());
    options.contacts = contacts;
    cxm_generate::generate(&options).unwrap();
    for (file, kind) in cxm_generate::FILES {
        let kind = RecordKind::from_cli_name(kind).unwrap();
        let request = IngestRequest::new(kind, vec![generated.join(file)]);
        let summary = cxm_ingest::ingest(&dir, &request).await.unwrap();
        assert_eq!(summary.rejected, 0, "{file}");
    }
    cxm_metrics::refresh(&dir).await.unwrap();
    // Follow-up cases from the default alert rules over the whole generated history (no
    // age limit), due a day or more after this instant.
    let store = dir.reference().await.unwrap();
    for mut rule in cxm_domain::cases::AlertRule::defaults() {
        rule.max_age_days = None;
        store
            .set_rule(&rule, "test", "2030-01-01T00:00:00Z")
            .await
            .unwrap();
    }
    store.close().await;
    let now = "2030-01-01T00:00:00Z".parse().unwrap();
    let run = cxm_loop::evaluate(&dir, &Scope::default(), now)
        .await
        .unwrap();
    assert!(run.opened > 0, "{run:?}");
    let users = cxm_server::accounts::demo_users(&dir).await.unwrap();
    let store = dir.reference().await.unwrap();
    let read = cxm_server::auth::create_token(&store, "reader", TokenScope::Read, "test")
        .await
        .unwrap();
    let ingest = cxm_server::auth::create_token(&store, "loader", TokenScope::Ingest, "test")
        .await
        .unwrap();
    store.close().await;
    World {
        _temp: temp,
        path,
        users,
        read_token: read.text,
        ingest_token: ingest.text,
    }
}

/// A server on port 0 for one test; stops when dropped.
pub struct Server {
    pub base: String,
    pub state: AppState,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

pub async fn server() -> Server {
    server_with(ServerConfig::default()).await
}

pub async fn server_with(config: ServerConfig) -> Server {
    server_on(world(), config).await
}

pub async fn server_on(world: &World, config: ServerConfig) -> Server {
    let dir = DataDir::open(&world.path).unwrap();
    let state = AppState::open(dir, config).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = state.clone();
    tokio::spawn(async move {
        cxm_server::serve(listener, serving, async {
            let _ = stopped.await;
        })
        .await
        .unwrap();
    });
    Server {
        base,
        state,
        stop: Some(stop),
    }
}

/// The demo sign-in of `role`.
pub fn user(role: &str) -> &'static DemoSignIn {
    world()
        .users
        .iter()
        .find(|u| u.role.as_str() == role)
        .unwrap()
}
