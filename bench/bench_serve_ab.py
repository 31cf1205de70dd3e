"""Before and after: the serve benchmark's 10-instruction PATCH on this checkout's mock and on
another checkout's, up together and taking turns, so a slow spell of the machine falls on both.

    git worktree add /tmp/before REV
    .venv/bin/python bench/bench_serve_ab.py --before /tmp/before [--rounds 10] [--duration 6]

Each checkout's ``python -m mock_server`` (this venv's interpreter, the checkout as working
directory, so its own code) on a SQLite file of its own, rate limit off; the segment and the
wrk load of bench_serve.py (2 threads, 16 connections). Prints every round and the medians of
the throughput and of the per-round ratio (after / before). Reports, does not assert.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench_serve import (
    DAY_MS,
    PY,
    ROOT,
    Client,
    Processes,
    expiring_path,
    free_port,
    patch_script,
    provision_wrk_segment,
    run_wrk,
    unlimited_config,
    wait_ready,
)


def _mock(procs: Processes, checkout: Path, tmp: Path, name: str, config: Path) -> int:
    port = free_port()
    log = tmp / f"{name}.log"
    proc = procs.start([str(PY), "-m", "mock_server", "--port", str(port), "--db",
                        str(tmp / f"{name}.sqlite3"), "--config", str(config)], log, cwd=checkout)
    wait_ready(proc, port, expiring_path("none"), log)
    return port


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", type=Path, required=True, help="the other checkout")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--duration", type=int, default=6, help="wrk seconds per server, round")
    args = parser.parse_args()
    wrk = shutil.which("wrk")
    if wrk is None or not (args.before / "mock_server").is_dir():
        print("bench_serve_ab: " + ("wrk missing: apt-get install -y wrk" if wrk is None else
              f"--before {args.before}: no mock_server/ there"), file=sys.stderr)
        return 2
    procs = Processes()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-serve-ab-") as name:
            tmp = Path(name)
            config = unlimited_config(tmp / "config.yaml")
            ports = {side: _mock(procs, checkout, tmp, side, config)
                     for side, checkout in (("before", args.before.resolve()), ("after", ROOT))}
            expires = int(time.time() * 1000) + 30 * DAY_MS
            for port in ports.values():
                client = Client(port)
                provision_wrk_segment(client, "wrk", 10, expires)
                client.close()
            script = tmp / "patch.lua"
            patch_script(script, expires)
            urls = {side: f"http://127.0.0.1:{port}{expiring_path('wrk')}"
                    for side, port in ports.items()}
            for url in urls.values():
                run_wrk(wrk, url, script, 2, 16, 2)  # warm-up
            rates: dict[str, list[float]] = {"before": [], "after": []}
            for number in range(args.rounds):
                order = ["before", "after"] if number % 2 == 0 else ["after", "before"]
                for side in order:
                    rates[side].append(run_wrk(wrk, urls[side], script, 2, 16,
                                               args.duration)["requests_per_s"])
                print(f"round {number + 1}: before {rates['before'][-1]:,.0f}/s, after "
                      f"{rates['after'][-1]:,.0f}/s", flush=True)
    finally:
        procs.stop_all()
    ratios = [a / b for a, b in zip(rates["after"], rates["before"], strict=True)]
    print(f"medians: before {statistics.median(rates['before']):,.0f}/s, after "
          f"{statistics.median(rates['after']):,.0f}/s; after/before per round: median "
          f"{statistics.median(ratios):.2f} ({min(ratios):.2f}-{max(ratios):.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
