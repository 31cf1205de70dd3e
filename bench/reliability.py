"""Reliability figures: run the hardening tests, then print the README's "Reliability" table.

    .venv/bin/python bench/reliability.py            # run tests/hardening, then the table
    .venv/bin/python bench/reliability.py --table    # only the table, from the last run

The tests (tests/hardening, ~1.5 min on 2 cores) write their measurements to
``bench/results/reliability.json``; this script renders them as Markdown. Exits with pytest's
status when it runs the tests.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "reliability.json"


def table(data: dict[str, Any]) -> str:
    rows = []
    c = data.get("concurrency")
    if c:
        rows.append(((f"{c['clients']} clients updating the same {c['schedules']} schedules for "
                     f"{c['seconds']} s (real process, SQLite file)"),
                     (f"{c['requests']:,} requests, {c['requests_per_s']:,} req/s, p50 {c['p50_ms']} "
                     f"ms, p99 {c['p99_ms']} ms; {c['successful_instructions']:,} updates "
                     f"succeeded, {c['failed_instructions']:,} failed their version check, "
                     f"{c['status_409']} × 409, 0 lost (final `_version` = 1 + successes)")))
    k = data.get("crash_recovery")
    if k:
        rows.append((f"SIGKILL under load, restart on the same file ({k['kills']} times)",
                     (f"{k['lost_updates']} acknowledged updates lost, integrity_check "
                     f"{k['integrity_check']}, no half-applied PATCH; {k['answered_before_kills']:,}"
                     f" answered before the kills, restart {k['restart_s_median']} s (median)")))
    h = data.get("hostile_input")
    if h:
        slowest = max(v["slowest_ms"] for v in h["per_case"].values())
        rows.append(((f"hostile input: {h['cases']} classics × {h['endpoints']} endpoints + "
                     f"{h['fuzz_examples']} fuzzed bodies"),
                     (f"no 500; slowest answer {slowest:.0f} ms; RSS {h['rss_start_kib'] // 1024} → "
                     f"{h['rss_after_round_2_kib'] // 1024} MiB after two rounds, peak "
                     f"{h['peak_rss_kib'] // 1024} MiB")))
    a = data.get("access_matrix")
    if a:
        rows.append((f"access matrix: {a['operations']} operations × {a['callers']} callers",
                     f"all {a['cases']} as documented; refused requests change nothing"))
    r = data.get("rate_limit_model")
    if r:
        rows.append((f"rate limits ({r['limit_per_10s']} per 10 s), model-based",
                     (f"{r['requests']:,} requests in {r['examples']} random interleavings, "
                     f"{r['429']} × 429, all as the model; the client waits Retry-After and "
                     "writes once")))
    lines = ["| check | result |", "| --- | --- |", *(f"| {a} | {b} |" for a, b in rows)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--table", action="store_true", help="only print the last run's table")
    args = parser.parse_args(argv)
    status = 0
    if not args.table:
        status = subprocess.call([sys.executable, "-m", "pytest", "tests/hardening", "tests/live_safety", "-q"],
                                 env={**os.environ, "RELIABILITY_RESULTS": str(RESULTS)},
                                 cwd=ROOT)
    try:
        data = json.loads(RESULTS.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        print(f"no results in {RESULTS}: {exc}", file=sys.stderr)
        return status or 1
    print(table(data))
    return status


if __name__ == "__main__":
    sys.exit(main())
