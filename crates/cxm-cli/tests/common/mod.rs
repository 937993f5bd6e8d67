//! Helpers for running the real `cxm` binary against a fresh data directory.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub struct Workspace {
    pub dir: tempfile::TempDir,
}

impl Workspace {
    /// A fresh, initialised data directory.
    pub fn new() -> Self {
        let workspace = Self {
            dir: tempfile::tempdir().unwrap(),
        };
        let output = workspace.cxm(&["init"]);
        assert!(output.status.success(), "init failed: {}", stderr(&output));
        workspace
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn file(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }

    pub fn command(&self) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_cxm"));
        command
            .env("CXM_DATA_DIR", self.data_dir())
            .env_remove("CXM_DATABASE_URL");
        command
    }

    pub fn cxm(&self, args: &[&str]) -> Output {
        self.command().args(args).output().unwrap()
    }

    /// `cxm ingest KIND FILES… --json [extra]`: exit code and parsed summary.
    pub fn ingest(&self, kind: &str, files: &[&Path], extra: &[&str]) -> (i32, serde_json::Value) {
        let mut args: Vec<String> = vec!["ingest".into(), kind.into()];
        args.extend(files.iter().map(|f| f.display().to_string()));
        args.push("--json".into());
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        let output = self.command().args(&args).output().unwrap();
        let code = output.status.code().unwrap_or(-1);
        let summary = serde_json::from_slice(&output.stdout).unwrap_or(serde_json::Value::Null);
        if summary.is_null() {
            eprintln!("ingest printed no summary; stderr: {}", stderr(&output));
        }
        (code, summary)
    }

    /// `cxm query SQL --format json` as rows.
    pub fn query(&self, sql: &str) -> Vec<serde_json::Value> {
        let output = self.cxm(&["query", sql, "--format", "json"]);
        assert!(
            output.status.success(),
            "query {sql} failed: {}",
            stderr(&output)
        );
        serde_json::from_slice::<Vec<serde_json::Value>>(&output.stdout).unwrap()
    }

    pub fn scalar(&self, sql: &str) -> serde_json::Value {
        let rows = self.query(sql);
        let row = rows
            .first()
            .and_then(|r| r.as_object())
            .cloned()
            .unwrap_or_default();
        row.values()
            .next()
            .cloned()
            .unwrap_or(serde_json::Value::Null)
    }
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

pub fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

pub const INTERACTIONS_HEADER: &str = "interaction_id,customer_id,agent_id,channel,started_at,queue_seconds,talk_seconds,hold_seconds,after_work_seconds,handle_seconds,topics,resolved,transfers\n";

/// `count` interactions with ids `prefix-0 …`, hold time `hold`.
pub fn interactions_csv(prefix: &str, count: usize, hold: u32) -> String {
    format!(
        "{INTERACTIONS_HEADER}{}",
        interaction_rows(prefix, count, hold)
    )
}

/// The rows of [`interactions_csv`] without the header, to append to another file.
pub fn interaction_rows(prefix: &str, count: usize, hold: u32) -> String {
    let mut text = String::new();
    for i in 0..count {
        text.push_str(&format!(
            "{prefix}-{i},C-{},A-{},phone,2024-03-{:02}T{:02}:{:02}:00Z,{},{},{hold},30,,billing;refund,true,0\n",
            i % 997,
            i % 31,
            1 + i % 28,
            i % 24,
            i % 60,
            i % 120,
            100 + i % 500,
        ));
    }
    text
}
