"""Serve benchmark on PostgreSQL: one mock replica and two, side by side, and SQLite beside them.

    .venv/bin/python bench/bench_serve_pg.py [--pg-url URL] [--duration S] [--rounds N]

The same 10-instruction PATCH as bench_serve.py (10 ``updateExpiringTarget`` on one segment,
wrk with a Lua script), against, in a rotating order each round:

- ``sqlite``: one ``python -m mock_server`` on a SQLite file (the reference);
- ``postgres x1``: one process on PostgreSQL, loaded by one wrk (2 threads, 16 connections);
- ``postgres x2``: two processes (two ports) on the same database and the same segment, each
  loaded by its own wrk (1 thread, 8 connections) at the same time: throughput is the sum,
  p50/p99 the worse of the two;
- ``postgres x2, a segment each``: the same, each replica on a segment of its own (no row
  lock shared).

The GET of a segment with 10,000 schedules on each store (bench_serve.measure_get), before the
PATCH load and after it (when PostgreSQL's autovacuum has the updated rows to clean up): the
same listing again and again, and each right after a one-instruction PATCH of that segment
(which no listing kept from the GET before can answer).
PostgreSQL is the server ``--pg-url`` names (its schema ``public`` must be empty or the
mock's), or by default a throwaway one (tests/pg_cluster.py: fsync off, like the mock's own
``synchronous_commit = off`` a trade of durability no benchmark here depends on). Reports,
does not assert; writes ``bench/results/serve-pg.json``. About 2 minutes with the defaults.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench_serve import (
    DAY_MS,
    HOST,
    PY,
    ROOT,
    SEMANTIC,
    Client,
    Processes,
    bulk_segment,
    expiring_path,
    free_port,
    measure_get,
    patch_script,
    provision_wrk_segment,
    run_wrk,
    tail,
    unlimited_config,
    wait_ready,
)

sys.path.insert(0, str(ROOT / "tests"))  # pg_cluster: the throwaway server of the tests
DEFAULT_JSON = ROOT / "bench" / "results" / "serve-pg.json"


@contextlib.contextmanager
def _postgres(url: str | None) -> Iterator[str]:
    if url:
        yield url
        return
    from pg_cluster import PgCluster  # type: ignore[import-not-found]  # tests/, on sys.path

    with PgCluster() as cluster:
        yield cluster.fresh_url()


def _mock(procs: Processes, db: str, config: Path, log: Path) -> int:
    port = free_port()
    proc = procs.start([str(PY), "-m", "mock_server", "--host", HOST, "--port", str(port),
                        "--db", db, "--config", str(config), "--log-level", "warning"], log)
    wait_ready(proc, port, "/openapi.json", log)
    _LOGS.append((proc, log))
    return port


_LOGS: list[tuple[subprocess.Popen[bytes], Path]] = []  # the mocks, for a post-mortem


def _post_mortem() -> None:
    """What happened to a mock that is gone (printed before its temporary log is deleted)."""
    for proc, log in _LOGS:
        if proc.poll() is not None:
            print(f"bench_serve_pg: {log.name}: exited {proc.returncode}: {tail(log, 8)}",
                  file=sys.stderr)


def _wrk_together(wrk: str, urls: list[str], script: Path, duration: int) -> dict[str, Any]:
    """One wrk per URL, all at once (1 thread, 8 connections each); throughput summed,
    latencies the worse replica's."""
    with ThreadPoolExecutor(len(urls)) as pool:
        runs = list(pool.map(lambda url: run_wrk(wrk, url, script, 1, 8, duration), urls))
    return {"requests_per_s": sum(r["requests_per_s"] for r in runs),
            "requests": sum(r["requests"] for r in runs),
            "non_2xx": sum(r["non_2xx"] for r in runs),
            **{f"p{q}_ms": max(r[f"p{q}_ms"] for r in runs) for q in ("50", "99")},
            "per_replica": runs}


def _gets(ports: dict[str, list[int]], requests: int,
          change_to: int) -> dict[str, dict[str, Any]]:
    """The GET of 10,000 schedules on each store, over a fresh keep-alive connection: the
    same listing again and again, and each right after a change to it (measure_get)."""
    out: dict[str, dict[str, Any]] = {}
    for name, replicas in ports.items():
        client = Client(replicas[0])
        out[name] = {"repeated": measure_get(client, "get-10k", requests, 10_000),
                     "after a change": measure_get(client, "get-10k", requests, 10_000,
                                                   change_to=change_to)}
        client.close()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pg-url", help="a PostgreSQL URL (default: a throwaway server)")
    parser.add_argument("--duration", type=int, default=6, help="wrk seconds per case and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--get-requests", type=int, default=50)
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON)
    args = parser.parse_args()
    wrk = shutil.which("wrk")
    if wrk is None:
        print("bench_serve_pg: wrk missing: apt-get install -y wrk", file=sys.stderr)
        return 2
    procs = Processes()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-serve-pg-") as tmp, \
                _postgres(args.pg_url) as pg_url:
            try:
                report = run(args, Path(tmp), procs, wrk, pg_url)
            except (RuntimeError, subprocess.SubprocessError, OSError):
                _post_mortem()
                raise
    except (RuntimeError, subprocess.SubprocessError, OSError) as exc:
        print(f"bench_serve_pg: {exc}", file=sys.stderr)
        return 1
    finally:
        procs.stop_all()
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"written {args.json}")
    return 0


def run(args: argparse.Namespace, tmp: Path, procs: Processes, wrk: str,
        pg_url: str) -> dict[str, Any]:
    config = unlimited_config(tmp / "config.yaml")
    load_before = [round(x, 2) for x in os.getloadavg()]
    expires = int(time.time() * 1000) + 30 * DAY_MS
    sqlite_db = str(tmp / "mock.sqlite3")
    for db in (sqlite_db, pg_url):
        bulk_segment(db, "get-10k", 10_000, 10_000, expires)

    ports = {"sqlite": [_mock(procs, sqlite_db, config, tmp / "sqlite.log")],
             "postgres": [_mock(procs, pg_url, config, tmp / f"pg-{n}.log") for n in range(2)]}
    clients = {name: Client(p[0]) for name, p in ports.items()}
    for name, segments in (("sqlite", ["wrk"]), ("postgres", ["wrk", "wrk-b"])):
        for segment in segments:
            provision_wrk_segment(clients[name], segment, 10, expires)
    script = tmp / "patch.lua"
    body = patch_script(script, expires)
    status, data, _ = clients["postgres"].call("PATCH", expiring_path("wrk"), json.loads(body),
                                               SEMANTIC)
    if status != 200 or json.loads(data)["successfulInstructions"] != 10:
        raise RuntimeError(f"the 10-instruction PATCH on PostgreSQL: {status} {data[:300]!r}")

    def url(port: int, segment: str = "wrk") -> str:
        return f"http://{HOST}:{port}{expiring_path(segment)}"

    pg = ports["postgres"]
    cases = {
        "sqlite x1": lambda d: run_wrk(wrk, url(ports["sqlite"][0]), script, 2, 16, d),
        "postgres x1": lambda d: run_wrk(wrk, url(pg[0]), script, 2, 16, d),
        "postgres x2": lambda d: _wrk_together(wrk, [url(pg[0]), url(pg[1])], script, d),
        "postgres x2, a segment each": lambda d: _wrk_together(
            wrk, [url(pg[0]), url(pg[1], "wrk-b")], script, d),
    }
    gets: dict[str, dict[str, Any]] = {"before": _gets(ports, args.get_requests, expires)}
    names = list(cases)
    print(f"10-instruction PATCH, {args.rounds} rounds of {args.duration} s per case", flush=True)
    for name in names:
        cases[name](args.warmup)
    rounds: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    for number in range(args.rounds):
        for name in names[number % len(names):] + names[:number % len(names)]:
            rounds[name].append(cases[name](args.duration))
        print("  round " + str(number + 1) + ": " + ", ".join(
            f"{name} {rounds[name][-1]['requests_per_s']:,.0f}/s" for name in names), flush=True)
    patch = {name: {key: statistics.median(r[key] for r in rounds[name])
                    for key in ("requests_per_s", "p50_ms", "p99_ms")}
             | {"non_2xx": sum(r["non_2xx"] for r in rounds[name]), "rounds": rounds[name]}
             for name in names}

    for client in clients.values():
        client.close()
    gets["after"] = _gets(ports, args.get_requests, expires + 7 * DAY_MS)

    print(f"\n{'10-instruction PATCH':<30}{'req/s':>10}{'p50':>10}{'p99':>10}{'non-2xx':>9}")
    for name, r in patch.items():
        print(f"{name:<30}{r['requests_per_s']:>10,.0f}{r['p50_ms']:>8.1f}ms"
              f"{r['p99_ms']:>8.1f}ms{r['non_2xx']:>9}")
    for when, by_store in gets.items():
        for name, by_way in by_store.items():
            for way, g in by_way.items():
                print(f"GET 10,000 schedules, {name}, {when} the PATCH load, {way}: median"
                      f" {g['median_ms']:.2f} ms, p99 {g['p99_ms']:.2f} ms"
                      f" ({g['response_bytes']:,} bytes)")
    return {"date": dt.date.today().isoformat(),
            "machine": {"cores": os.cpu_count(), "loadavg_before": load_before,
                        "loadavg_after": [round(x, 2) for x in os.getloadavg()]},
            "postgres": "given by --pg-url" if args.pg_url else "throwaway (tests/pg_cluster.py)",
            "load": {"duration_s": args.duration, "rounds": args.rounds, "warmup_s": args.warmup},
            "patch_10": patch, "get_10k": gets}


if __name__ == "__main__":
    sys.exit(main())
