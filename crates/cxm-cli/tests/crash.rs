//! Crash safety: `cxm ingest` killed (SIGKILL) at random moments leaves the store readable
//! and exactly as before or after the batch, for appends and for replacing upserts alike.

mod common;

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use common::{Workspace, interactions_csv, stderr};

const ROWS: usize = 40_000;
const ATTEMPTS: u64 = 14;

/// The observable state of the interactions table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct State {
    rows: i64,
    distinct_ids: i64,
    hold_total: i64,
}

fn state(ws: &Workspace) -> State {
    let row = &ws.query("SELECT count(*) AS n, count(DISTINCT interaction_id) AS d, coalesce(sum(hold_seconds), 0) AS h FROM interactions")[0];
    State {
        rows: row["n"].as_i64().unwrap(),
        distinct_ids: row["d"].as_i64().unwrap(),
        hold_total: row["h"].as_i64().unwrap(),
    }
}

/// xorshift64*: enough randomness for kill times, reproducible from the printed seed.
struct Rng(u64);

impl Rng {
    fn next_f64(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[test]
fn killed_ingests_leave_the_store_before_or_after_each_batch() {
    let ws = Workspace::new();
    let seed = std::env::var("CXM_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    eprintln!("crash test seed {seed} (set CXM_CRASH_SEED to replay)");
    let mut rng = Rng(seed);

    // How long one uninterrupted ingest takes, to spread the kills over it.
    let probe = Workspace::new();
    let probe_file = probe.file("probe.csv", &interactions_csv("P", ROWS, 1));
    let started = Instant::now();
    assert_eq!(probe.ingest("interactions", &[&probe_file], &[]).0, 0);
    let full = started.elapsed();

    let mut before = state(&ws);
    let mut outcomes = (0, 0);
    for attempt in 0..ATTEMPTS {
        // Every third attempt rewrites the first batch's ids with a new hold time (MERGE);
        // the others append new ids.
        let replacing = attempt % 3 == 2;
        let (prefix, hold) = if replacing {
            ("B0".to_owned(), 100 + attempt as u32)
        } else {
            (format!("B{attempt}"), 1)
        };
        let file = ws.file(
            &format!("batch-{attempt}.csv"),
            &interactions_csv(&prefix, ROWS, hold),
        );
        // The batch holds ROWS ids: those already stored are replaced, the rest inserted.
        let stored = &ws.query(&format!(
            "SELECT count(*) AS n, coalesce(sum(hold_seconds), 0) AS h FROM interactions WHERE interaction_id LIKE '{prefix}-%'"
        ))[0];
        let (stored_rows, stored_hold) =
            (stored["n"].as_i64().unwrap(), stored["h"].as_i64().unwrap());
        let new_rows = ROWS as i64 - stored_rows;
        let after = State {
            rows: before.rows + new_rows,
            distinct_ids: before.distinct_ids + new_rows,
            hold_total: before.hold_total - stored_hold + ROWS as i64 * i64::from(hold),
        };

        let kill_after = full.mul_f64(1.3 * rng.next_f64());
        let mut child = ws
            .command()
            .args(["ingest", "interactions", file.to_str().unwrap(), "--json"])
            .spawn()
            .unwrap();
        std::thread::sleep(kill_after);
        let _ = child.kill();
        let status = child.wait().unwrap();

        let observed = state(&ws);
        assert!(
            observed == before || observed == after,
            "attempt {attempt} ({}, killed after {kill_after:?}, status {status}): {observed:?} is neither {before:?} nor {after:?}",
            if replacing { "replace" } else { "append" }
        );
        assert_eq!(
            observed.rows, observed.distinct_ids,
            "no id is ever stored twice"
        );
        if observed == after && after != before {
            outcomes.1 += 1;
        } else {
            outcomes.0 += 1;
        }
        before = observed;
    }
    eprintln!(
        "{} attempts left the store as before, {} as after",
        outcomes.0, outcomes.1
    );

    // The store still takes batches, and compaction clears what killed ingests left behind.
    let last = ws.file("last.csv", &interactions_csv("LAST", 100, 1));
    assert_eq!(ws.ingest("interactions", &[&last], &[]).0, 0);
    let output = ws.cxm(&["compact", "--retention-hours", "0"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let after_compaction = state(&ws);
    assert_eq!(after_compaction.rows, before.rows + 100);
    assert_eq!(after_compaction.hold_total, before.hold_total + 100);
}
