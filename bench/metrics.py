#!/usr/bin/env python3
"""Metric engine benchmark: the same questions asked of cxm, DuckDB and Polars over the
same generated organisation, side by side in one run.

1. The team × month scorecard: contacts, repeat-contact rate and FCR (7-day window, open
   windows excluded), topics per contact, hold and handle mean and p90, complaint rate,
   CSAT (top-2-box and mean) and CES of post-contact answers. cxm answers its whole
   catalogue (also NPS, purchases, revenue and attrition), the peers the metrics listed.
2. The repeat-contact window alone (repeat rate and FCR by team × month).
3. The per-agent p50/p90 handle-time ranking.
4. One team's scorecard for one month (cxm: `cxm scorecard`, with its peers, parent and
   the previous month; the peers: that team's metrics for the month).

cxm is timed as a whole process (`cxm metrics`, `cxm scorecard`: start-up, opening the
data directory, reading the rollup, answering). DuckDB and Polars are timed in-process
over the Delta tables' Parquet files (the fact data) and the generated CSV reference
files. Each question runs three times; the table shows the median.

Usage: bench/metrics.py [--contacts 10000000] [--cxm target/release/cxm] [--work bench-data]
"""
import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from ingest import run

REPEATS = 3


def delta_files(table: Path) -> list:
    """The Parquet files of a Delta table's current version (adds minus removes)."""
    live = {}
    for entry in sorted((table / "_delta_log").glob("*.json")):
        for line in entry.read_text().splitlines():
            action = json.loads(line)
            if "add" in action:
                live[action["add"]["path"]] = True
            if "remove" in action:
                live.pop(action["remove"]["path"], None)
    return [str(table / path) for path in live]


def timed(function):
    times = []
    result = None
    for _ in range(REPEATS):
        started = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def scorecard_sql(complaint_codes, team_filter="", month_filter=""):
    """The scorecard in SQL both DuckDB and Polars accept."""
    complaint = " OR ".join(f"array_contains(topics, '{code}')" for code in complaint_codes) or "FALSE"
    return f"""
WITH c AS (
  SELECT i.interaction_id, i.customer_id, i.started_at, i.hold_seconds, i.handle_seconds,
         i.topics, m.unit_id AS team,
         LAG(i.started_at) OVER (PARTITION BY i.customer_id ORDER BY i.started_at, i.interaction_id) AS previous_at,
         LEAD(i.started_at) OVER (PARTITION BY i.customer_id ORDER BY i.started_at, i.interaction_id) AS next_at
  FROM interactions i JOIN memberships m ON m.person_id = i.agent_id
  WHERE i.started_at >= m.valid_from AND (m.valid_to IS NULL OR i.started_at < m.valid_to)
),
h AS (SELECT MAX(started_at) AS horizon FROM interactions),
f AS (
  SELECT c.*, date_trunc('month', c.started_at) AS month,
         CASE WHEN previous_at IS NOT NULL AND started_at - previous_at <= INTERVAL '7 days' THEN 1 ELSE 0 END AS is_repeat,
         CASE WHEN next_at IS NOT NULL AND next_at - started_at <= INTERVAL '7 days' THEN 0
              WHEN started_at + INTERVAL '7 days' <= h.horizon THEN 1 END AS resolved,
         CASE WHEN {complaint} THEN 1 ELSE 0 END AS complaint
  FROM c CROSS JOIN h
),
s AS (
  SELECT f.team, f.month,
         COUNT(r.csat) AS csat_n,
         AVG(CASE WHEN r.csat >= 4 THEN 1.0 WHEN r.csat IS NOT NULL THEN 0.0 END) AS csat,
         AVG(r.csat) AS csat_mean, AVG(r.ces) AS ces
  FROM survey_responses r JOIN f ON r.interaction_id = f.interaction_id
  GROUP BY f.team, f.month
),
k AS (
  SELECT team, month, COUNT(*) AS contacts, AVG(is_repeat) AS repeat_contact_rate,
         AVG(resolved) AS fcr_rate, AVG(array_length(topics)) AS topics_per_contact,
         AVG(hold_seconds) AS hold_seconds, QUANTILE_CONT(hold_seconds, 0.9) AS hold_p90,
         AVG(handle_seconds) AS handle_seconds, QUANTILE_CONT(handle_seconds, 0.9) AS handle_p90,
         AVG(complaint) AS complaint_rate
  FROM f GROUP BY team, month
)
SELECT k.*, s.csat, s.csat_mean, s.ces FROM k LEFT JOIN s ON k.team = s.team AND k.month = s.month
WHERE TRUE {team_filter} {month_filter}
"""


REPEAT_SQL = """
WITH c AS (
  SELECT i.started_at, m.unit_id AS team,
         LAG(i.started_at) OVER (PARTITION BY i.customer_id ORDER BY i.started_at, i.interaction_id) AS previous_at,
         LEAD(i.started_at) OVER (PARTITION BY i.customer_id ORDER BY i.started_at, i.interaction_id) AS next_at
  FROM interactions i JOIN memberships m ON m.person_id = i.agent_id
  WHERE i.started_at >= m.valid_from AND (m.valid_to IS NULL OR i.started_at < m.valid_to)
),
h AS (SELECT MAX(started_at) AS horizon FROM interactions)
SELECT team, date_trunc('month', started_at) AS month,
       AVG(CASE WHEN previous_at IS NOT NULL AND started_at - previous_at <= INTERVAL '7 days' THEN 1 ELSE 0 END) AS repeat_contact_rate,
       AVG(CASE WHEN next_at IS NOT NULL AND next_at - started_at <= INTERVAL '7 days' THEN 0
                WHEN started_at + INTERVAL '7 days' <= h.horizon THEN 1 END) AS fcr_rate
FROM c CROSS JOIN h GROUP BY team, date_trunc('month', started_at)
"""

RANKING_SQL = """
SELECT agent_id, QUANTILE_CONT(handle_seconds, 0.5) AS p50, QUANTILE_CONT(handle_seconds, 0.9) AS p90,
       COUNT(*) AS n
FROM interactions GROUP BY agent_id ORDER BY p90
"""


def load_organisation(cxm_bin: str, work: Path, contacts: int, keep: bool):
    """Generate the demo organisation with `contacts` contacts and load it into a data
    directory under `work` (reused with `keep` when already loaded). Returns the generated
    files' folder, the data directory and the timed load steps."""
    work.mkdir(exist_ok=True)
    generated = work / f"generated-{contacts}"
    data_dir = work / f"metrics-data-{contacts}"
    cxm = [cxm_bin, "--data-dir", str(data_dir)]
    load_rows = []
    if not (keep and (data_dir / "metrics" / "rollup.json").exists()):
        shutil.rmtree(generated, ignore_errors=True)
        shutil.rmtree(data_dir, ignore_errors=True)
        wall, _, _ = run([cxm_bin, "generate", "--out", str(generated), "--contacts", str(contacts), "--json"])
        load_rows.append(("cxm generate", wall, ""))
        subprocess.run(cxm + ["init"], check=True, stdout=subprocess.DEVNULL)
        files = [
            ("org_units.csv", "org-units"), ("people.csv", "people"), ("memberships.csv", "memberships"),
            ("topics.csv", "topics"), ("customers.csv", "customers"), ("interactions.csv", "interactions"),
            ("survey_responses.csv", "surveys"), ("transactions.csv", "transactions"),
            ("customer_events.csv", "customer-events"),
        ]
        for file, kind in files:
            wall, rss, out = run(cxm + ["ingest", kind, str(generated / file), "--json", "--no-refresh"])
            summary = json.loads(out)
            assert summary["rejected"] == 0, summary
            load_rows.append((f"cxm ingest {kind}", wall, f"{summary['accepted']:,} rows, {rss:,.0f} MiB peak"))
        wall, rss, out = run(cxm + ["refresh"])
        load_rows.append(("cxm refresh (derive + rollup)", wall, f"{rss:,.0f} MiB peak; {out.decode().strip()}"))
    return generated, data_dir, load_rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--contacts", type=int, default=10_000_000)
    parser.add_argument("--cxm", default=os.environ.get("CXM_BIN", "target/release/cxm"))
    parser.add_argument("--work", default="bench-data")
    parser.add_argument("--keep", action="store_true", help="reuse a loaded data directory")
    args = parser.parse_args()

    import duckdb
    import polars as pl

    generated, data_dir, load_rows = load_organisation(args.cxm, Path(args.work), args.contacts, args.keep)
    cxm = [args.cxm, "--data-dir", str(data_dir)]
    tables = data_dir / "tables"
    facts = {name: delta_files(tables / name) for name in ["interactions", "survey_responses"]}
    complaint_codes = [
        line.split(",")[0]
        for line in (generated / "topics.csv").read_text().splitlines()[1:]
        if line.split(",")[3] == "complaint"
    ]
    memberships_csv = str(generated / "memberships.csv")

    # DuckDB: views over the same files.
    duck = duckdb.connect()
    for name, paths in facts.items():
        duck.execute(f"CREATE VIEW {name} AS SELECT * FROM read_parquet({paths!r})")
    duck.execute(
        f"CREATE VIEW memberships AS SELECT person_id, unit_id, CAST(valid_from AS TIMESTAMPTZ) AS valid_from, "
        f"CAST(NULLIF(valid_to, '') AS TIMESTAMPTZ) AS valid_to FROM read_csv('{memberships_csv}', all_varchar=true)"
    )

    # Polars: lazy frames over the same files.
    members = pl.read_csv(memberships_csv, infer_schema_length=0).with_columns(
        pl.col("valid_from").str.to_datetime(time_zone="UTC", time_unit="us"),
        pl.col("valid_to").replace("", None).str.to_datetime(time_zone="UTC", time_unit="us"),
    )
    polars = pl.SQLContext(
        interactions=pl.scan_parquet(facts["interactions"]),
        survey_responses=pl.scan_parquet(facts["survey_responses"]),
        memberships=members.lazy(),
    )

    month = "2025-06"
    team = "S01-T01"
    questions = [
        (
            "team × month scorecard",
            [*cxm, "metrics", "--by", "team", "--grain", "month", "--format", "json"],
            scorecard_sql(complaint_codes),
        ),
        (
            "repeat-contact window (repeat rate, FCR by team × month)",
            [*cxm, "metrics", "--metric", "repeat_contact_rate,fcr_rate", "--by", "team", "--grain", "month", "--format", "json"],
            REPEAT_SQL,
        ),
        (
            "per-agent p50/p90 handle-time ranking",
            [*cxm, "metrics", "--metric", "handle_seconds_p50,handle_seconds_p90", "--by", "agent", "--grain", "all", "--format", "json"],
            RANKING_SQL,
        ),
        (
            f"one team, one month ({team}, {month})",
            [*cxm, "scorecard", "--unit", team, "--period", month, "--format", "json"],
            scorecard_sql(
                complaint_codes,
                team_filter=f"AND k.team = '{team}'",
                month_filter=f"AND k.month = CAST('{month}-01T00:00:00Z' AS TIMESTAMPTZ)",
            ),
        ),
    ]
    # Warm the page cache for everyone alike.
    subprocess.run(cxm + ["metrics", "--metric", "contacts", "--grain", "all"], check=True, stdout=subprocess.DEVNULL)
    duck.execute("SELECT COUNT(*) FROM interactions").fetchall()

    rows = []
    for name, command, sql in questions:
        cxm_time, _ = timed(lambda: run(command))
        duck_time, duck_rows = timed(lambda: duck.execute(sql).fetchall())
        try:
            polars_time, _ = timed(lambda: polars.execute(sql).collect())
        except Exception as error:  # a dialect gap is reported, not hidden
            polars_time = None
            print(f"polars could not run {name}: {error}", file=sys.stderr)
        rows.append((name, cxm_time, duck_time, polars_time, len(duck_rows)))

    print()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, {platform.platform()}")
    print(f"data: {args.contacts:,} generated contacts, one year; duckdb {duckdb.__version__}, polars {pl.__version__}")
    if load_rows:
        print()
        print("| load step | wall s | notes |")
        print("|---|---:|---|")
        for step, wall, notes in load_rows:
            print(f"| {step} | {wall:.2f} | {notes} |")
    print()
    print("| question | cxm s | DuckDB s | Polars s | cxm vs faster peer |")
    print("|---|---:|---:|---:|---:|")
    for name, cxm_time, duck_time, polars_time, _ in rows:
        peers = [t for t in (duck_time, polars_time) if t is not None]
        ratio = min(peers) / cxm_time
        polars_text = f"{polars_time:.3f}" if polars_time is not None else "n/a"
        print(f"| {name} | {cxm_time:.3f} | {duck_time:.3f} | {polars_text} | {ratio:.1f}× |")


if __name__ == "__main__":
    main()
