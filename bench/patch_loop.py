"""The 10-instruction PATCH in process, in a loop: what the store adds to it, without HTTP.

    .venv/bin/python bench/patch_loop.py [--db URL] [--requests N] [--runs R]

The service (mock_server/service.py) over the store ``--db`` names (default: a temporary
SQLite file), the same segment and PATCH as the serve benchmark's wrk load (10
``updateExpiringTarget`` without version, on 10 scheduled contexts). Prints CPU and wall
microseconds per PATCH, the fastest run and the median; a quick before/after check of a
change to a store (the serve benchmark, bench_serve.py, measures over HTTP).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from generated.operations import OPERATIONS
from mock_server.clock import SettableClock
from mock_server.config import load_config
from mock_server.service import MockService
from mock_server.storage import describe, open_store

KINDS: dict[str, Any] = {op.python_name: op.instructions for op in OPERATIONS.values()}
P, E, T0, DAY = "default", "test", 1_700_000_000_000, 86_400_000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", help="a --db value (default: a temporary SQLite file)")
    parser.add_argument("--requests", type=int, default=1000, help="PATCHes per run")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="patch-loop-") as tmp:
        db = args.db or str(Path(tmp) / "loop.sqlite3")
        service = MockService(load_config(), open_store(db), SettableClock(T0))
        try:
            cpu, wall = _loop(service, args.requests, args.runs)
        finally:
            service.store.close()
    print(f"{describe(db) if args.db else 'sqlite (temporary file)'}: 10-instruction PATCH,"
          f" {args.runs} runs of {args.requests}: CPU {min(cpu):.0f} us (median"
          f" {statistics.median(cpu):.0f}), wall {min(wall):.0f} us (median"
          f" {statistics.median(wall):.0f})")
    return 0


def _loop(service: MockService, requests: int, runs: int) -> tuple[list[float], list[float]]:
    keys = [f"ctx-{i}" for i in range(10)]
    service.post_segment(P, E, {"key": "loop", "name": "loop"})
    service.patch_segment(P, E, "loop", {"instructions": [
        {"kind": "addIncludedTargets", "contextKind": "user", "values": keys}]},
        KINDS["patch_segment"])
    op = KINDS["patch_expiring_targets_for_segment"]

    def patch(kind: str, value: int) -> None:
        service.patch_segment_schedules(P, E, "loop", {"instructions": [
            {"kind": kind, "contextKind": "user", "contextKey": key, "targetType": "included",
             "value": value} for key in keys]}, op, users_only=False)

    patch("addExpiringTarget", T0 + DAY)
    cpu, wall = [], []
    for _ in range(runs):
        started, started_cpu = time.perf_counter(), time.process_time()
        for _ in range(requests):
            patch("updateExpiringTarget", T0 + 2 * DAY)
        cpu.append((time.process_time() - started_cpu) / requests * 1e6)
        wall.append((time.perf_counter() - started) / requests * 1e6)
    return cpu, wall


if __name__ == "__main__":
    sys.exit(main())
