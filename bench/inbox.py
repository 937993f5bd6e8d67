#!/usr/bin/env python3
"""Case inbox benchmark: latency (p50/p95/p99) of the case inbox with 100,000 open cases,
under 64 concurrent clients from wrk on loopback.

1. Loads the generated organisation of N contacts as bench/metrics.py does (the ingest
   opens the cases the default rules call for).
2. Adds open cases until 100,000 are open, spread over every team with the team's lead as
   owner and due times over the next month, in the data directory's SQLite store (one
   transaction, as `cxm alerts run` would store them).
3. Starts `cxm serve` (release binary), signs in an executive (every case in scope) and
   the lead owning the most cases, and runs wrk on the inbox page (`/cases`), the lead's
   "mine" view (`/cases?mine=1`) and the API (`/api/v1/cases?limit=100`), with one client
   (a person opening the page) and with 64 at once.

Usage: bench/inbox.py [--contacts 200000] [--open 100000] [--cxm target/release/cxm]
                      [--work bench-data] [--seconds 20] [--keep]
"""
import argparse
import os
import platform
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from metrics import load_organisation
from serve import WRK_SCRIPT, free_port, request, rss_mib, sign_in, wrk


def add_open_cases(data_dir: Path, wanted: int) -> tuple[int, str]:
    """Tops the open cases up to `wanted`; returns the count and the busiest owner."""
    db = sqlite3.connect(data_dir / "cxm.sqlite")
    teams = [row[0] for row in db.execute("SELECT unit_id FROM org_units WHERE level = 'team'")]
    leads = dict(db.execute(
        "SELECT m.unit_id, m.person_id FROM memberships m JOIN people p ON p.person_id = m.person_id "
        "WHERE p.role = 'lead' AND m.valid_to IS NULL"))
    agents: dict[str, list[str]] = {}
    for unit, person in db.execute(
        "SELECT m.unit_id, m.person_id FROM memberships m JOIN people p ON p.person_id = m.person_id "
        "WHERE p.role = 'agent' AND m.valid_to IS NULL"):
        agents.setdefault(unit, []).append(person)
    (open_now,) = db.execute("SELECT COUNT(*) FROM cases WHERE status IN ('open', 'in_progress')").fetchone()
    rng = random.Random(5)
    now = datetime.now(timezone.utc).replace(microsecond=0)
    stamp = now.isoformat().replace("+00:00", "Z")
    rows = []
    for i in range(max(0, wanted - open_now)):
        team = teams[i % len(teams)]
        agent = rng.choice(agents.get(team) or ["A-BENCH"])
        triggered = now - timedelta(seconds=rng.randrange(30 * 86400))
        due = now + timedelta(seconds=rng.randrange(-3 * 86400, 30 * 86400))
        rows.append((
            "detractor", f"C-BENCH-{i}", f"R-BENCH-{i}", triggered.isoformat().replace("+00:00", "Z"),
            int(triggered.timestamp() * 1_000_000), f"NPS {rng.randrange(7)} from C-BENCH-{i}", agent, team,
            leads.get(team), "high", "open", stamp, due.isoformat().replace("+00:00", "Z"), 1,
        ))
    with db:
        db.executemany(
            "INSERT INTO cases (rule_id, customer_id, trigger_id, triggered_at, triggered_micros, summary, "
            "agent_id, unit_id, owner_id, priority, status, opened_at, due_at, version) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        db.execute(
            "INSERT INTO case_events (case_id, at, actor, kind, to_status, note) "
            "SELECT case_id, opened_at, 'rule:' || rule_id, 'opened', 'open', summary FROM cases "
            "WHERE customer_id LIKE 'C-BENCH-%'")
    (open_after,) = db.execute("SELECT COUNT(*) FROM cases WHERE status IN ('open', 'in_progress')").fetchone()
    (owner,) = db.execute(
        "SELECT owner_id FROM cases WHERE status = 'open' AND owner_id IS NOT NULL "
        "GROUP BY owner_id ORDER BY COUNT(*) DESC LIMIT 1").fetchone()
    db.close()
    return open_after, owner


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--contacts", type=int, default=200_000)
    parser.add_argument("--open", type=int, default=100_000)
    parser.add_argument("--cxm", default=os.environ.get("CXM_BIN", "target/release/cxm"))
    parser.add_argument("--work", default="bench-data")
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--keep", action="store_true", help="reuse a loaded data directory")
    args = parser.parse_args()

    _, data_dir, _ = load_organisation(args.cxm, Path(args.work), args.contacts, args.keep)
    cxm = [args.cxm, "--data-dir", str(data_dir)]
    subprocess.run(cxm + ["alerts", "run"], check=True, stdout=subprocess.DEVNULL)
    open_cases, owner = add_open_cases(data_dir, args.open)
    password = "bench-password-1"
    env = dict(os.environ, CXM_PASSWORD=password)
    for name, role, extra in (("bench-exec", "executive", []), ("bench-lead", "lead", ["--person", owner])):
        subprocess.run(cxm + ["users", "add", name, "--role", role, *extra], env=env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    token = subprocess.run(cxm + ["tokens", "create", "--name", "bench-inbox", "--scope", "read"],
                           check=True, capture_output=True, text=True).stdout.strip()
    port = free_port()
    server = subprocess.Popen(cxm + ["serve", "--listen", f"127.0.0.1:{port}"],
                              env=dict(os.environ, CXM_LOG="warn"))
    try:
        for _ in range(600):
            try:
                if request(port, "GET", "/readyz")[0] == 200:
                    break
            except OSError:
                pass
            time.sleep(0.5)
        else:
            sys.exit("the server did not get ready")
        executive = "Cookie: " + sign_in(port, "bench-exec", password)
        lead = "Cookie: " + sign_in(port, "bench-lead", password)
        bearer = f"Authorization: Bearer {token}"
        targets = [
            ("inbox page, executive (all open cases)", "/cases", executive),
            (f"inbox page, lead {owner} (mine)", "/cases?mine=1", lead),
            ("API, 100 most urgent of all", "/api/v1/cases?limit=100", bearer),
        ]
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
            script.write(WRK_SCRIPT)
        print(f"machine: {platform.platform()}, {os.cpu_count()} cores; {open_cases:,} open cases; "
              f"server RSS after start {rss_mib(server.pid):.0f} MiB")
        print("| what | clients | requests/s | p50 ms | p95 ms | p99 ms | max ms | non-200 |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        for name, path, header in targets:
            key, value = header.split(": ", 1)
            status, _, body = request(port, "GET", path, headers={key: value})
            assert status == 200, (path, status, body[:300])
            for clients in (1, 64):
                result = wrk(port, path, header, args.seconds, script.name, clients)
                print(f"| {name} | {clients} | {result['rps']:.0f} | {result['p50_ms']:.1f} | "
                      f"{result['p95_ms']:.1f} | {result['p99_ms']:.1f} | {result['max_ms']:.0f} | "
                      f"{result['bad_status']} |", flush=True)
    finally:
        server.terminate()
        server.wait(timeout=60)


if __name__ == "__main__":
    main()
