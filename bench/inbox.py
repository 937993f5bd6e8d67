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

With `--changes N`, the executive works N cases a second through the API while wrk runs
(open → in progress → resolved → in progress …), so that the counts each page shows keep
changing as in a working contact centre.

Usage: bench/inbox.py [--contacts 200000] [--open 100000] [--cxm target/release/cxm]
                      [--work bench-data] [--seconds 20] [--keep] [--changes 0]
"""
import argparse
import os
import platform
import json
import random
import re
import sqlite3
import subprocess
import sys
import tempfile
import threading
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
    # new trigger ids after those of earlier runs (whose cases a run with --changes resolved)
    (first,) = db.execute("SELECT COUNT(*) FROM cases WHERE customer_id LIKE 'C-BENCH-%'").fetchone()
    rows = []
    for i in range(first, first + max(0, wanted - open_now)):
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
        # as every writer of cases does: a running server's kept counts are then stale
        db.execute("UPDATE change_generations SET generation = generation + 1 WHERE name = 'cases'")
    (open_after,) = db.execute("SELECT COUNT(*) FROM cases WHERE status IN ('open', 'in_progress')").fetchone()
    (owner,) = db.execute(
        "SELECT owner_id FROM cases WHERE status = 'open' AND owner_id IS NOT NULL "
        "GROUP BY owner_id ORDER BY COUNT(*) DESC LIMIT 1").fetchone()
    db.close()
    return open_after, owner


class CaseWorker(threading.Thread):
    """Works `per_second` active cases a second through the API as one signed-in person:
    reads each case's version and moves it one step (open → in progress → resolved → in
    progress), every move changing which cases are active."""

    NEXT = {"open": "in_progress", "in_progress": "resolved", "resolved": "in_progress"}

    def __init__(self, port: int, cookie: str, ids: list[int], per_second: float):
        super().__init__(daemon=True)
        self.port, self.cookie, self.ids, self.per_second = port, cookie, ids, per_second
        self.stop = threading.Event()
        self.changed = 0
        self.failed = 0
        status, _, page = request(port, "GET", f"/cases/{ids[0]}", headers={"Cookie": cookie})
        assert status == 200, status
        self.csrf = re.search(rb'name="csrf" value="([^"]+)"', page).group(1).decode()

    def run(self) -> None:
        rng = random.Random(11)
        started = time.monotonic()
        while not self.stop.is_set():
            case_id = rng.choice(self.ids)
            status, _, body = request(self.port, "GET", f"/api/v1/cases/{case_id}",
                                      headers={"Cookie": self.cookie})
            case = json.loads(body).get("case", {}) if status == 200 else {}
            move = self.NEXT.get(case.get("status"))
            if move:
                status, _, _ = request(
                    self.port, "PATCH", f"/api/v1/cases/{case_id}",
                    json.dumps({"version": case["version"], "status": move}),
                    {"Cookie": self.cookie, "X-CSRF-Token": self.csrf, "Content-Type": "application/json"})
            if status == 200:
                self.changed += 1
            else:
                self.failed += 1
            pause = started + (self.changed + self.failed) / self.per_second - time.monotonic()
            if pause > 0:
                self.stop.wait(pause)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--contacts", type=int, default=200_000)
    parser.add_argument("--open", type=int, default=100_000)
    parser.add_argument("--cxm", default=os.environ.get("CXM_BIN", "target/release/cxm"))
    parser.add_argument("--work", default="bench-data")
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--keep", action="store_true", help="reuse a loaded data directory")
    parser.add_argument("--changes", type=float, default=0, help="cases worked a second while wrk runs")
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
        worker = None
        if args.changes > 0:
            db = sqlite3.connect(data_dir / "cxm.sqlite")
            ids = [row[0] for row in db.execute(
                "SELECT case_id FROM cases WHERE status IN ('open', 'in_progress', 'resolved') "
                "ORDER BY case_id")]
            db.close()
            worker = CaseWorker(port, executive.split(": ", 1)[1], ids, args.changes)
            worker.start()
            print(f"while the executive works {args.changes:g} cases a second")
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
        if worker:
            worker.stop.set()
            worker.join()
            print(f"cases worked: {worker.changed:,} ({worker.failed:,} refused or failed)")
    finally:
        server.terminate()
        server.wait(timeout=60)


if __name__ == "__main__":
    main()
