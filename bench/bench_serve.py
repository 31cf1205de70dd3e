"""Serve benchmark: the mock server against Prism, and the mock's own scaling.

Everything runs as real processes on loopback (127.0.0.1), with the same
load generator (wrk) and the same settings for both servers:

1. **10-instruction PATCH**, ours vs Prism. The mock server
   (``python -m mock_server``, uvicorn, a temporary SQLite file, rate limit
   disabled through a temporary config, ``--log-level warning``) gets a
   segment whose 10 contexts are individually targeted and scheduled; each
   request is a semantic patch on the expiring-targets endpoint with 10
   ``updateExpiringTarget`` instructions without ``version``, so every
   instruction succeeds, does real work (find, check the target, write the
   schedule) and the state stays the same size (steady state). Prism
   (``prism mock`` on the bundled ``generated/openapi.json``, static
   examples; as shipped, and with ``-v warn`` so that its per-request logging
   does not count against it) gets the identical request. All three servers
   are up at once; after a short warm-up each, wrk runs ``--threads``
   threads, ``--connections`` connections for ``--duration`` seconds against
   one server at a time (the others idle), for ``--wrk-rounds`` rounds in a
   rotating order, so that a slow spell of a shared machine does not fall on
   one server. Reported: per server the median over the rounds of
   requests/s, p50 and p99 latency, non-2xx answers; the throughput ratio is
   the median of the per-round ratios (targets: throughput ours/Prism >= 2
   against both; p99 ours <= Prism's as it ships, <= half of ``-v warn``'s).
2. **GET of a segment with 10,000 schedules** (getExpiringTargetsForSegment):
   ``--get-requests`` requests from one keep-alive ``http.client``
   connection, timed from sending the request to having read the whole body
   (median and p99; target <= 20 ms).
3. **1,000-instruction PATCH** (1,000 ``addExpiringTarget``, then the same
   1,000 removed again so that every round starts alike; the add is timed)
   on a segment that has 100 schedules, in a store with ~10k other
   schedules; the same with 100,000 more schedules in another segment of the
   store ("elsewhere": a second mock process on a copy of the store with that
   segment added); and on a segment that itself has 100,000
   schedules ("same resource", in that second store). The three cases take
   turns round by round, so that a slow spell of the machine falls on all
   of them; ``--rounds`` timed rounds after an untimed one. The scaling ratios
   compare the fastest rounds (a cost: noise only ever adds to it); medians
   are reported too. The answer of such a PATCH
   lists only the schedules its add and update instructions touched (the
   mock's tier-3 policy, docs/mock-server.md): 1,000 items, however many
   the resource has.

The big data sets are written straight into the SQLite file through
``mock_server.storage`` (the same rows the API would create; creating
100,000 schedules over HTTP would take most of the time budget); the wrk
segment is provisioned over HTTP through the setup operations.

Prints a table and writes ``bench/results/serve.json``. Reports, does not
assert: exits 1 only when a measurement could not be taken, 2 when the
harness cannot run. Every server is started in its own process group and
killed on exit, also on Ctrl-C or an error. The whole run takes about a
minute with the defaults.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import http.client
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # mock_server, for bulk-loading the SQLite file

PY = ROOT / ".venv" / "bin" / "python"
PRISM = ROOT / "bench" / "node_modules" / ".bin" / "prism"
SPEC = ROOT / "generated" / "openapi.json"
DEFAULT_JSON = ROOT / "bench" / "results" / "serve.json"
HOST = "127.0.0.1"
TOKEN = "api-writer-00000000-0000-0000-0000-000000000000"
PROJECT, ENV = "default", "test"
SEMANTIC = "application/json; domain-model=launchdarkly.semanticpatch"
DAY_MS = 86_400_000

# Prism as it ships (logs every request at info level; to a file here) and quiet (-v warn,
# like ours, which runs without an access log): the target is checked against both.
PRISM_VARIANTS: tuple[tuple[str, list[str]], ...] = (
    ("prism", []), ("prism -v warn", ["-v", "warn"]),
)

TARGET_THROUGHPUT_RATIO = 2.0  # ours / Prism, at least
# p99 ours / Prism, at most: Prism's own as it ships; half the quiet Prism's (issue #11)
TARGET_P99_RATIO = {"prism": 1.0, "prism -v warn": 0.5}
TARGET_GET_MS = 20.0  # median GET of 10,000 schedules, at most
TARGET_SCALING_RATIO = 1.5  # 1,000-instruction PATCH, 100,000 / 100 schedules, at most


def expiring_path(segment: str) -> str:
    return f"/api/v2/segments/{PROJECT}/{segment}/expiring-targets/{ENV}"


# -- processes -------------------------------------------------------------------------------


class Processes:
    """Servers started by the bench; each in its own session, killed as a group."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, argv: list[str], log: Path, cwd: Path = ROOT) -> subprocess.Popen[bytes]:
        with open(log, "wb") as out:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.STDOUT, cwd=cwd, start_new_session=True)
        self.procs.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen[bytes]) -> None:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
        else:  # the leader is gone; children of its group may not be
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)

    def stop_all(self) -> None:
        for proc in reversed(self.procs):
            self.stop(proc)
        self.procs.clear()

    def stop_all_but(self, keep: subprocess.Popen[bytes]) -> None:
        for proc in [p for p in self.procs if p is not keep]:
            self.stop(proc)
        self.procs = [keep]


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def wait_ready(proc: subprocess.Popen[bytes], port: int, path: str, log: Path,
               timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}: {tail(log)}")
        try:
            conn = http.client.HTTPConnection(HOST, port, timeout=2)
            conn.request("GET", path, headers={"Authorization": TOKEN})
            conn.getresponse().read()
            conn.close()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"server on port {port} not ready after {timeout_s} s: {tail(log)}")


def tail(log: Path, lines: int = 5) -> str:
    try:
        return " | ".join(log.read_text(errors="replace").strip().splitlines()[-lines:])
    except OSError:
        return "(no log)"


# -- HTTP client -----------------------------------------------------------------------------


class Client:
    """One keep-alive connection; ``call`` times request -> whole body read."""

    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection(HOST, port, timeout=60)

    def call(self, method: str, path: str, body: Any = None,
             content_type: str = "application/json") -> tuple[int, bytes, float]:
        headers = {"Authorization": TOKEN}
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            headers["Content-Type"] = content_type
        start = time.perf_counter()
        self.conn.request(method, path, body=payload, headers=headers)
        response = self.conn.getresponse()
        data = response.read()
        return response.status, data, time.perf_counter() - start

    def ok(self, method: str, path: str, body: Any = None,
           content_type: str = "application/json") -> tuple[Any, float]:
        status, data, elapsed = self.call(method, path, body, content_type)
        if status >= 300:
            raise RuntimeError(f"{method} {path}: {status} {data[:300]!r}")
        return (json.loads(data) if data else None), elapsed

    def close(self) -> None:
        self.conn.close()


# -- wrk -------------------------------------------------------------------------------------

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if not match:
        raise ValueError(f"unparsable wrk latency {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def lua_script(path: Path, body: str) -> None:
    path.write_text(
        'wrk.method = "PATCH"\n'
        f'wrk.headers["Content-Type"] = {json.dumps(SEMANTIC)}\n'
        f'wrk.headers["Authorization"] = {json.dumps(TOKEN)}\n'
        f"wrk.body = {json.dumps(body)}\n",
        encoding="utf-8",
    )


def unlimited_config(path: Path) -> Path:
    """The shipped mock configuration without its rate limit (a load test sends far more than
    600 requests in 10 s), written to `path`."""
    import yaml

    from mock_server.config import DEFAULT_CONFIG_PATH

    raw = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text(encoding="utf-8"))
    raw["rate_limit"] = {"requests_per_10s": None}
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


def patch_script(path: Path, expires: int) -> str:
    """The wrk script of the 10-instruction PATCH (10 ``updateExpiringTarget`` on the contexts
    provision_wrk_segment schedules, a day past `expires`) in `path`; returns the body."""
    body = json.dumps(instructions("updateExpiringTarget", [f"ctx-{i}" for i in range(10)],
                                   expires + DAY_MS), separators=(",", ":"))
    lua_script(path, body)
    return body


def run_wrk(wrk: str, url: str, script: Path, threads: int, connections: int,
            duration_s: int) -> dict[str, Any]:
    argv = [wrk, f"-t{threads}", f"-c{connections}", f"-d{duration_s}s", "--latency",
            "-s", str(script), url]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=duration_s + 60,
                          check=False)
    out = proc.stdout
    if proc.returncode != 0 or "Requests/sec" not in out:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {proc.stderr.strip() or out}")
    result: dict[str, Any] = {
        "requests_per_s": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        "requests": int(re.search(r"(\d+) requests in", out).group(1)),  # type: ignore[union-attr]
        "non_2xx": 0,
        "socket_errors": None,
    }
    for pct in ("50", "75", "90", "99"):
        match = re.search(rf"^\s+{pct}%\s+(\S+)", out, re.MULTILINE)
        result[f"p{pct}_ms"] = _ms(match.group(1)) if match else None
    match = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    if match:
        result["non_2xx"] = int(match.group(1))
    match = re.search(r"Socket errors:.*", out)
    if match:
        result["socket_errors"] = match.group(0)
    return result


# -- data ------------------------------------------------------------------------------------


def bulk_segment(db: Path | str, key: str, targets: int, scheduled: int, expires: int) -> float:
    """A segment with ``targets`` included users ``u0..``, the first ``scheduled`` scheduled,
    written straight into the store (a SQLite file or any ``--db`` URL; one transaction);
    returns the seconds it took."""
    from mock_server.expiring import new_schedule_id
    from mock_server.storage import Resource, Schedule, SegmentRecord, TargetRow, Tx, open_store

    start = time.perf_counter()
    store = open_store(str(db))
    now = int(time.time() * 1000)
    res = Resource("segment", PROJECT, ENV, key)
    try:
        def load(tx: Tx) -> None:
            tx.insert_segment(SegmentRecord(PROJECT, ENV, key, key, "", [], 1, now, now))
            tx.replace_targets(res, ("included",),
                               (TargetRow("included", "user", f"u{i}") for i in range(targets)))
            tx.write_schedules([], [], [Schedule(new_schedule_id(), res, "user", f"u{i}",
                                                 "included", "", 1, expires + i)
                                        for i in range(scheduled)])

        store.write(load)
    finally:
        store.close()
    return time.perf_counter() - start


def instructions(kind: str, keys: list[str], value: int | None) -> dict[str, Any]:
    out = []
    for key in keys:
        instruction: dict[str, Any] = {"kind": kind, "contextKind": "user", "contextKey": key,
                                       "targetType": "included"}
        if value is not None:
            instruction["value"] = value
        out.append(instruction)
    return {"instructions": out}


def provision_wrk_segment(client: Client, key: str, contexts: int, expires: int) -> None:
    """Over HTTP, through the setup operations: a segment, its targets, their schedules."""
    client.ok("POST", f"/api/v2/segments/{PROJECT}/{ENV}", {"key": key, "name": key})
    keys = [f"ctx-{i}" for i in range(contexts)]
    client.ok("PATCH", f"/api/v2/segments/{PROJECT}/{ENV}/{key}",
              {"instructions": [{"kind": "addIncludedTargets", "contextKind": "user",
                                 "values": keys}]}, SEMANTIC)
    result, _ = client.ok("PATCH", expiring_path(key),
                          instructions("addExpiringTarget", keys, expires), SEMANTIC)
    if result["successfulInstructions"] != contexts:
        raise RuntimeError(f"provisioning failed: {result['errors'][:3]}")


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-q * len(ordered) // 100))))
    return ordered[rank - 1]


# -- measurements ----------------------------------------------------------------------------


def measure_get(client: Client, segment: str, requests: int, expected: int, *,
                change_to: int | None = None) -> dict[str, Any]:
    """``requests`` timed GETs of the segment's listing; ``change_to`` (a date): before each,
    an untimed PATCH moves one schedule of the segment there, so that no listing a store
    keeps between requests (PostgreSQL's listing cache) can answer it."""
    status, data, _ = client.call("GET", expiring_path(segment))
    items = len(json.loads(data)["items"]) if status == 200 else -1
    if items != expected:
        raise RuntimeError(f"GET {segment}: status {status}, {items} items, expected {expected}")
    for _ in range(3):  # warm-up
        client.call("GET", expiring_path(segment))
    times = []
    for n in range(requests):
        if change_to is not None:
            client.ok("PATCH", expiring_path(segment), instructions(
                "updateExpiringTarget", [f"u{n % expected}"], change_to + n), SEMANTIC)
        status, data, elapsed = client.call("GET", expiring_path(segment))
        if status != 200:
            raise RuntimeError(f"GET {segment}: {status}")
        times.append(elapsed * 1000)
    return {"requests": requests, "items": expected, "response_bytes": len(data),
            "median_ms": statistics.median(times), "p99_ms": pct(times, 99),
            "min_ms": min(times), "max_ms": max(times)}


def measure_thousand(cases: list[tuple[Client, str, int]], rounds: int,
                     expires: int) -> list[dict[str, Any]]:
    """Per case (server, segment key, first unscheduled user): rounds of adding 1,000
    schedules (timed) and removing them again (timed separately). The cases take turns
    round by round, so that a slow spell of a shared machine falls on all of them alike,
    after one untimed round."""
    work = []
    for client, segment, first in cases:
        keys = [f"u{i}" for i in range(first, first + 1000)]
        work.append((client, segment, instructions("addExpiringTarget", keys, expires),
                     instructions("removeExpiringTarget", keys, None)))
    adds: list[list[float]] = [[] for _ in cases]
    removes: list[list[float]] = [[] for _ in cases]
    items = [0 for _ in cases]
    for number in range(rounds + 1):
        for index, (client, segment, add, remove) in enumerate(work):
            result, add_s = client.ok("PATCH", expiring_path(segment), add, SEMANTIC)
            if result["successfulInstructions"] != 1000:
                raise RuntimeError(f"1,000 adds on {segment}: {result['errors'][:3]}")
            items[index] = len(result["items"])
            result, remove_s = client.ok("PATCH", expiring_path(segment), remove, SEMANTIC)
            if result["successfulInstructions"] != 1000:
                raise RuntimeError(f"1,000 removes on {segment}: {result['errors'][:3]}")
            if number:  # round 0 warms up
                adds[index].append(add_s * 1000)
                removes[index].append(remove_s * 1000)
    return [{"rounds": rounds, "items_in_answer": items[index],
             "adds_ms": [round(a, 2) for a in adds[index]],
             "add_median_ms": statistics.median(adds[index]), "add_min_ms": min(adds[index]),
             "remove_median_ms": statistics.median(removes[index])}
            for index in range(len(cases))]


def _first_line(argv: list[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"unknown ({exc})"
    return ((done.stdout or done.stderr).strip().splitlines() or ["unknown"])[0]


def _module_version(module: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(module)
    except metadata.PackageNotFoundError:
        return None


def _median_round(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """Per figure, the median over the rounds (requests: the total)."""
    out: dict[str, Any] = {"requests": sum(r["requests"] for r in rounds),
                           "non_2xx": sum(r["non_2xx"] for r in rounds)}
    for key in ("requests_per_s", "p50_ms", "p75_ms", "p90_ms", "p99_ms"):
        values = [r[key] for r in rounds if r[key] is not None]
        out[key] = round(statistics.median(values), 2) if values else None
    return out


def ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or not b else a / b


def fmt(v: float | None, unit: str = "", digits: int = 1) -> str:
    return "n/a" if v is None else f"{v:,.{digits}f}{unit}"


# -- main ------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=6, help="wrk seconds per server and round")
    parser.add_argument("--wrk-rounds", type=int, default=3,
                        help="rounds of the 10-instruction PATCH load, servers taking turns")
    parser.add_argument("--warmup", type=int, default=2, help="wrk warm-up seconds per server")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--get-requests", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=9, help="rounds of 1,000-instruction PATCHes")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON)
    parser.add_argument("--no-prism", action="store_true", help="measure the mock server only")
    args = parser.parse_args(argv)

    wrk = shutil.which("wrk")
    problems = []
    if not PY.exists():
        problems.append(f"{PY} missing: run `make install`")
    if wrk is None:
        problems.append("wrk missing: apt-get install -y wrk")
    if not args.no_prism and not PRISM.exists():
        problems.append(f"{PRISM} missing: npm ci --prefix bench")
    if problems:
        for problem in problems:
            print(f"bench_serve: {problem}", file=sys.stderr)
        return 2

    procs = Processes()

    def on_signal(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_signal)
    started = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp_name:
            report = run(args, Path(tmp_name), procs, wrk)  # type: ignore[arg-type]
    except KeyboardInterrupt:
        print("\nbench_serve: interrupted; servers stopped", file=sys.stderr)
        return 130
    except (RuntimeError, subprocess.SubprocessError, OSError) as exc:
        print(f"bench_serve: {exc}", file=sys.stderr)
        return 1
    finally:
        procs.stop_all()
    report["wall_s"] = round(time.perf_counter() - started, 1)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    shown = args.json.relative_to(ROOT) if args.json.is_relative_to(ROOT) else args.json
    print(f"\nwhole bench {report['wall_s']} s; written {shown}")
    return 0


def run(args: argparse.Namespace, tmp: Path, procs: Processes, wrk: str) -> dict[str, Any]:
    db = tmp / "mock.sqlite3"
    config = unlimited_config(tmp / "config.yaml")

    load_before = [round(x, 2) for x in os.getloadavg()]  # other work on the machine skews it
    expires = int(time.time() * 1000) + 30 * DAY_MS  # far enough ahead for the whole run
    # big data sets first, straight into the file (the server is not up yet)
    load_s = bulk_segment(db, "get-10k", 10_000, 10_000, expires)
    load_s += bulk_segment(db, "few", 1_100, 100, expires)
    # a second store: the same, plus a segment with 100,000 schedules (served by a second
    # mock process for the 1,000-instruction PATCHes)
    big_db = tmp / "mock-big.sqlite3"
    shutil.copyfile(db, big_db)
    load_s += bulk_segment(big_db, "many", 101_000, 100_000, expires)

    ours_port = free_port()
    ours_log = tmp / "mock.log"
    ours = procs.start([str(PY), "-m", "mock_server", "--host", HOST, "--port", str(ours_port),
                        "--db", str(db), "--config", str(config), "--log-level", "warning"],
                       ours_log)
    wait_ready(ours, ours_port, "/openapi.json", ours_log)
    client = Client(ours_port)
    provision_wrk_segment(client, "wrk", 10, expires)

    script = tmp / "patch.lua"
    body = patch_script(script, expires)
    path = expiring_path("wrk")
    status, data, _ = client.call("PATCH", path, json.loads(body), SEMANTIC)
    sample = json.loads(data)
    if status != 200 or sample.get("successfulInstructions") != 10:
        raise RuntimeError(f"our 10-instruction PATCH: {status} {data[:300]!r}")

    load = {"threads": args.threads, "connections": args.connections,
            "duration_s": args.duration, "warmup_s": args.warmup, "rounds": args.wrk_rounds}
    urls = {"ours": f"http://{HOST}:{ours_port}{path}"}
    servers: dict[str, Any] = {"ours": {
        "command": "python -m mock_server --log-level warning (no access log)",
        "sample_answer": {k: v for k, v in sample.items() if k != "items"}}}
    for name, extra in ([] if args.no_prism else PRISM_VARIANTS):
        prism_port = free_port()
        prism_log = tmp / f"prism-{len(servers)}.log"
        prism = procs.start([str(PRISM), "mock", "-h", HOST, "-p", str(prism_port), *extra,
                             str(SPEC)], prism_log)
        wait_ready(prism, prism_port, path, prism_log)
        pclient = Client(prism_port)
        status, data, _ = pclient.call("PATCH", path, json.loads(body), SEMANTIC)
        pclient.close()
        if status >= 300:
            raise RuntimeError(f"{name}: 10-instruction PATCH answered {status} {data[:300]!r}")
        urls[name] = f"http://{HOST}:{prism_port}{path}"
        servers[name] = {"command": " ".join(["prism", "mock", *extra, "generated/openapi.json"]),
                         "sample_answer": {k: v for k, v in json.loads(data).items()
                                           if k != "items"}}
    # Every server is up (the idle ones cost nothing); each round loads one at a time, in an
    # order that rotates, so that a slow spell of a shared machine does not fall on one server.
    print(f"wrk -t{args.threads} -c{args.connections} -d{args.duration}s, {args.wrk_rounds}"
          f" rounds (after a {args.warmup} s warm-up each), 10-instruction PATCH {path}",
          flush=True)
    names = list(urls)
    if args.warmup:
        for name in names:
            run_wrk(wrk, urls[name], script, args.threads, args.connections, args.warmup)
    rounds: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    for number in range(args.wrk_rounds):
        order = names[number % len(names):] + names[:number % len(names)]
        for name in order:
            rounds[name].append(run_wrk(wrk, urls[name], script, args.threads,
                                        args.connections, args.duration))
        print("  round " + str(number + 1) + ": " + ", ".join(
            f"{name} {rounds[name][-1]['requests_per_s']:,.0f}/s" for name in names), flush=True)
    for name in names:
        servers[name].update(_median_round(rounds[name]))
        servers[name]["rounds"] = rounds[name]
    for name, extra in ([] if args.no_prism else PRISM_VARIANTS):
        per_round = [ratio(o["requests_per_s"], r["requests_per_s"])
                     for o, r in zip(rounds["ours"], rounds[name], strict=True)]
        servers[name]["throughput_ratio_per_round"] = per_round
    procs.stop_all_but(ours)

    client.close()  # idle while the others ran: uvicorn has closed it (keep-alive timeout)
    client = Client(ours_port)
    get = measure_get(client, "get-10k", args.get_requests, 10_000)
    big_port = free_port()
    big = procs.start([str(PY), "-m", "mock_server", "--host", HOST, "--port", str(big_port),
                       "--db", str(big_db), "--config", str(config), "--log-level", "warning"],
                      tmp / "mock-big.log")
    wait_ready(big, big_port, "/openapi.json", tmp / "mock-big.log")
    big_client = Client(big_port)
    few, few_after, many = measure_thousand(
        [(client, "few", 100), (big_client, "few", 100), (big_client, "many", 100_000)],
        args.rounds, expires)
    client.close()
    big_client.close()
    procs.stop_all()

    # -- report ---------------------------------------------------------------------------
    o = servers["ours"]
    # the fastest rounds: a cost, which noise on a shared machine only ever adds to
    elsewhere = ratio(few_after["add_min_ms"], few["add_min_ms"])
    same = ratio(many["add_min_ms"], few_after["add_min_ms"])
    checks: dict[str, dict[str, Any]] = {}
    for name, r in servers.items():
        if name == "ours":
            continue
        per_round = [x for x in r["throughput_ratio_per_round"] if x is not None]
        tput = statistics.median(per_round) if per_round else None
        p99 = ratio(o["p99_ms"], r["p99_ms"])
        checks[f"throughput ours / {name}"] = {
            "value": tput, "target": f">= {TARGET_THROUGHPUT_RATIO}",
            "met": tput is not None and tput >= TARGET_THROUGHPUT_RATIO}
        checks[f"p99 ours / {name}"] = {"value": p99, "target": f"<= {TARGET_P99_RATIO[name]:g}",
                                        "met": p99 is not None and p99 <= TARGET_P99_RATIO[name]}
    checks["GET 10,000 schedules, median ms"] = {
        "value": get["median_ms"], "target": f"<= {TARGET_GET_MS}",
        "met": get["median_ms"] <= TARGET_GET_MS}
    checks["1,000-instruction PATCH, 100,000 elsewhere / 100"] = {
        "value": elsewhere, "target": f"<= {TARGET_SCALING_RATIO}",
        "met": elsewhere is not None and elsewhere <= TARGET_SCALING_RATIO}
    checks["1,000-instruction PATCH, 100,000 in the resource / 100"] = {
        "value": same, "target": f"<= {TARGET_SCALING_RATIO}",
        "met": same is not None and same <= TARGET_SCALING_RATIO}

    print()
    print(f"{'10-instruction PATCH':<24}{'req/s':>10}{'p50':>11}{'p99':>11}{'non-2xx':>9}")
    for name, r in servers.items():
        print(f"{name:<24}{r['requests_per_s']:>10,.0f}{fmt(r['p50_ms'], ' ms', 2):>11}"
              f"{fmt(r['p99_ms'], ' ms', 2):>11}{r['non_2xx']:>9}")
    for name, r in servers.items():
        if name != "ours":
            print(f"{'ours / ' + name:<24}{fmt(checks[f'throughput ours / {name}']['value'], 'x', 2):>10}"
                  f"{fmt(ratio(o['p50_ms'], r['p50_ms']), 'x', 2):>11}"
                  f"{fmt(ratio(o['p99_ms'], r['p99_ms']), 'x', 2):>11}")
    for name, r in servers.items():
        print(f"  {name} answers: {json.dumps(r['sample_answer'])[:150]}")
    print()
    print(f"GET 10,000 schedules ({get['response_bytes']:,} bytes, {get['requests']} requests):"
          f" median {fmt(get['median_ms'], ' ms', 2)}, p99 {fmt(get['p99_ms'], ' ms', 2)}")
    print()
    print(f"{'1,000-instruction PATCH (add)':<46}{'min':>10}{'median':>10}{'items in answer':>17}")
    rows = [("resource 100, store ~10k", few), ("resource 100, +100,000 elsewhere", few_after),
            ("resource 100,000 (same resource)", many)]
    for label, r in rows:
        print(f"{label:<46}{fmt(r['add_min_ms'], ' ms'):>10}{fmt(r['add_median_ms'], ' ms'):>10}"
              f"{r['items_in_answer']:>17,}")
    print()
    for name, check in checks.items():
        print(f"  {'met   ' if check['met'] else 'MISSED'} {name} = {fmt(check['value'], '', 2)}"
              f" (target {check['target']})")

    versions: dict[str, Any] = {
        "wrk": _first_line([wrk, "--version"]),
        "mock_server": tail(ours_log, 50).split(" | ")[0],  # its banner: loop/http in use
    }
    if not args.no_prism:
        versions["prism"] = _first_line([str(PRISM), "--version"])
    for module in ("uvloop", "httptools", "orjson", "uvicorn", "starlette"):
        versions[module] = _module_version(module)
    return {
        "date": dt.date.today().isoformat(),
        "machine": {"cores": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform(), "loadavg_before": load_before,
                    "loadavg_after": [round(x, 2) for x in os.getloadavg()]},
        "tools": versions,
        "method": ("real processes on 127.0.0.1; wrk with a Lua script (PATCH, semantic-patch"
                   " content type, token), same settings for both servers, one at a time,"
                   " after a warm-up; GET and 1,000-instruction PATCH timed with http.client"
                   " from request to whole body read"),
        "load": load,
        "patch_10": servers,
        "get_10k": get,
        "patch_1000": {"resource_100": few, "resource_100_plus_100k_elsewhere": few_after,
                       "resource_100k": many},
        "bulk_load_s": round(load_s, 2),
        "checks": checks,
    }


if __name__ == "__main__":
    sys.exit(main())
