#!/usr/bin/env python3
"""Server benchmark: page and API latency (p50/p95/p99) and throughput of `cxm serve` under
64 concurrent clients from wrk on loopback, with the generated organisation of N contacts
loaded, and the server's memory over a long run.

1. Loads the organisation as bench/metrics.py does (`--keep` reuses a loaded directory).
2. Adds an executive user and a read token, starts `cxm serve` (release binary, logs at
   warn) on a free loopback port, and signs in through the form for a session cookie.
3. For each page and API call: checks it answers 200, then runs
   `wrk -t1 -c64 -d{seconds}s` with a Lua script that reports latency percentiles.
   The first request of each URL is timed on its own: the server keeps answers for the
   life of its engine (until new data arrives), so it is the cost of a question nobody
   asked yet.
4. Runs the scorecard API for `--soak` seconds, sampling the server's RSS every 5 s.

Usage: bench/serve.py [--contacts 10000000] [--cxm target/release/cxm] [--work bench-data]
                      [--seconds 30] [--soak 600] [--keep]
"""
import argparse
import http.client
import json
import os
import platform
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

from metrics import load_organisation

WRK_SCRIPT = """
done = function(summary, latency, requests)
  io.write(string.format(
    '{"requests": %d, "seconds": %.3f, "p50_ms": %.3f, "p95_ms": %.3f, "p99_ms": %.3f, "max_ms": %.3f, "bad_status": %d, "socket_errors": %d}\\n',
    summary.requests, summary.duration / 1e6,
    latency:percentile(50) / 1e3, latency:percentile(95) / 1e3, latency:percentile(99) / 1e3,
    latency.max / 1e3, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(port, method, path, body=None, headers=None):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    connection.request(method, path, body=body, headers=headers or {})
    response = connection.getresponse()
    data = response.read()
    return response.status, response.getheaders(), data


def cookies(headers) -> dict:
    found = {}
    for name, value in headers:
        if name.lower() == "set-cookie":
            pair = value.split(";", 1)[0]
            key, _, val = pair.partition("=")
            found[key] = val
    return found


def sign_in(port, username, password) -> str:
    status, headers, page = request(port, "GET", "/login")
    assert status == 200, status
    login_cookie = cookies(headers)["cxm_login_csrf"]
    csrf = re.search(rb'name="csrf" value="([^"]+)"', page).group(1).decode()
    body = urllib.parse.urlencode({"username": username, "password": password, "csrf": csrf, "next": "/"})
    status, headers, _ = request(
        port, "POST", "/login", body,
        {"Content-Type": "application/x-www-form-urlencoded", "Cookie": f"cxm_login_csrf={login_cookie}"},
    )
    assert status == 303, status
    return "cxm_session=" + cookies(headers)["cxm_session"]


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def wrk(port, path, header, seconds, script, clients=64) -> dict:
    out = subprocess.run(
        ["wrk", "-t1", f"-c{clients}", f"-d{seconds}s", "--timeout", "10s", "-s", script, "-H", header,
         f"http://127.0.0.1:{port}{path}"],
        check=True, capture_output=True, text=True,
    ).stdout
    result = json.loads(out.strip().splitlines()[-1])
    result["rps"] = result["requests"] / result["seconds"]
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--contacts", type=int, default=10_000_000)
    parser.add_argument("--cxm", default=os.environ.get("CXM_BIN", "target/release/cxm"))
    parser.add_argument("--work", default="bench-data")
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--soak", type=int, default=600)
    parser.add_argument("--keep", action="store_true", help="reuse a loaded data directory")
    args = parser.parse_args()

    _, data_dir, load_rows = load_organisation(args.cxm, Path(args.work), args.contacts, args.keep)
    for step, wall, note in load_rows:
        print(f"| {step} | {wall:.2f} | {note} |", flush=True)
    cxm = [args.cxm, "--data-dir", str(data_dir)]
    password = "bench-password-1"
    env = dict(os.environ, CXM_PASSWORD=password)
    subprocess.run(cxm + ["users", "add", "bench-exec", "--role", "executive"], env=env,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    token = subprocess.run(cxm + ["tokens", "create", "--name", "bench", "--scope", "read"],
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
        cookie = "Cookie: " + sign_in(port, "bench-exec", password)
        bearer = f"Authorization: Bearer {token}"
        status, _, body = request(port, "GET", "/api/v1/catalogue", headers={"Authorization": f"Bearer {token}"})
        assert status == 200, status
        status, _, body = request(port, "GET", "/api/v1/org/units", headers={"Authorization": f"Bearer {token}"})
        units = json.loads(body)
        site = next(u["id"] for u in units if u["level"] == "site")
        team = next(u["id"] for u in units if u["level"] == "team")
        targets = [
            ("executive overview (page)", "/overview", cookie),
            (f"unit scorecard (page /units/{site})", f"/units/{site}", cookie),
            (f"unit scorecard (API, {team})", f"/api/v1/org/units/{team}/scorecard", bearer),
            (f"records (page, team {team}, 50 newest)", f"/records/contacts?unit={team}", cookie),
            (f"records (API, team {team}, 50 newest)", f"/api/v1/records/contacts?unit={team}&limit=50", bearer),
        ]
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
            script.write(WRK_SCRIPT)
        print(f"\nmachine: {platform.platform()}, {os.cpu_count()} cores; server RSS after start "
              f"{rss_mib(server.pid):.0f} MiB")
        print("| what | first request ms | requests/s | p50 ms | p95 ms | p99 ms | max ms | non-200 | socket errors |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        for name, path, header in targets:
            name_, value = header.split(": ", 1)
            # The first request of a URL computes what the server then keeps for the
            # engine's life (until new data arrives): timed on its own.
            started = time.perf_counter()
            status, _, body = request(port, "GET", path, headers={name_: value})
            first_ms = (time.perf_counter() - started) * 1000
            assert status == 200, (path, status, body[:300])
            result = wrk(port, path, header, args.seconds, script.name)
            print(f"| {name} | {first_ms:.0f} | {result['rps']:.0f} | {result['p50_ms']:.1f} | "
                  f"{result['p95_ms']:.1f} | {result['p99_ms']:.1f} | {result['max_ms']:.0f} | "
                  f"{result['bad_status']} | {result['socket_errors']} |", flush=True)

        if args.soak > 0:
            samples = []
            stop = threading.Event()

            def sample():
                started = time.time()
                while not stop.is_set():
                    samples.append((time.time() - started, rss_mib(server.pid)))
                    stop.wait(5)

            sampler = threading.Thread(target=sample)
            sampler.start()
            name, path, header = targets[2]
            result = wrk(port, path, header, args.soak, script.name)
            stop.set()
            sampler.join()
            values = [rss for _, rss in samples]
            tenth = max(1, len(values) // 10)
            print(f"\nsoak: {name} for {args.soak} s: {result['rps']:.0f} requests/s, p95 {result['p95_ms']:.1f} ms, "
                  f"non-200 {result['bad_status']}; server RSS MiB: first {values[0]:.0f}, "
                  f"mean of first tenth {sum(values[:tenth]) / tenth:.0f}, mean of last tenth "
                  f"{sum(values[-tenth:]) / tenth:.0f}, max {max(values):.0f} ({len(values)} samples)")
    finally:
        server.terminate()
        server.wait(timeout=60)


if __name__ == "__main__":
    main()
