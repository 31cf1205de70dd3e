"""The suite on one process and on two pytest-xdist workers, same seed, same run.

    .venv/bin/python bench/bench_workers.py [--examples N] [--seed N]

Four runs, one after the other, of the whole suite at N examples per test:

- in-process (``pytest contract_tests``), WORKERS=1 and WORKERS=2 (``-n 2 --dist worksteal``);
- against the kit's mock as a process (``python -m contract_tests.run``), ``--workers 1`` and
  ``--workers 2``.

Prints, for each, the wall time, the tests and their outcomes (results.json's totals) and the
requests; then the speed-up of two workers over one. Reports, does not assert (a figure, not a
test); writes ``bench/results/workers.json`` with the date, the machine's CPUs and the load
average before each run (the other jobs on the machine share its cores).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(os.environ.get("WORKERS_RESULTS", ROOT / "bench" / "results" / "workers.json"))


def _command(kind: str, workers: int, examples: int, seed: int, reports: Path) -> list[str]:
    if kind == "in-process":
        return [sys.executable, "-m", "pytest", "contract_tests", "-q", "-p", "no:cacheprovider",
                f"--examples={examples}", f"--hypothesis-seed={seed}",
                f"--reports-dir={reports}",
                *(["-n", str(workers), "--dist", "worksteal"] if workers > 1 else [])]
    return [sys.executable, "-m", "contract_tests.run", "--examples", str(examples),
            "--seed", str(seed), "--reports-dir", str(reports), "--workers", str(workers)]


def _run(kind: str, workers: int, examples: int, seed: int) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LD_")}
    with tempfile.TemporaryDirectory(prefix="bench-workers-") as directory:
        reports = Path(directory)
        load = os.getloadavg()[0]
        started = time.monotonic()
        done = subprocess.run(_command(kind, workers, examples, seed, reports), cwd=ROOT,
                              env=env, capture_output=True, text=True, check=False)
        wall = time.monotonic() - started
        results = json.loads((reports / "results.json").read_text()) if (
            reports / "results.json").is_file() else {}
    totals = results.get("totals", {})
    return {"target": kind, "workers": workers, "wall_s": round(wall, 1),
            "exit_status": done.returncode, "status": results.get("status"),
            "tests": totals.get("tests"), "requests": results.get("requests"),
            "load_before": round(load, 2)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=25)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    runs = [_run(kind, workers, args.examples, args.seed)
            for kind in ("in-process", "mock process") for workers in (1, 2)]
    print(f"{'target':<14} {'workers':>7} {'wall s':>7} {'status':<8} {'requests':>8}  tests")
    for r in runs:
        print(f"{r['target']:<14} {r['workers']:>7} {r['wall_s']:>7} {r['status']!s:<8} "
              f"{r['requests']!s:>8}  {r['tests']} (load {r['load_before']})")
    speedups = {kind: round(one["wall_s"] / two["wall_s"], 2)
                for kind, one, two in ((runs[0]["target"], runs[0], runs[1]),
                                       (runs[2]["target"], runs[2], runs[3]))}
    for kind, ratio in speedups.items():
        print(f"{kind}: two workers {ratio}x the speed of one")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({
        "date": dt.date.today().isoformat(), "cpus": len(os.sched_getaffinity(0)),
        "examples": args.examples, "seed": args.seed, "runs": runs, "speedup": speedups,
        "command": f"bench/bench_workers.py --examples {args.examples} --seed {args.seed}",
    }, indent=2) + "\n", encoding="utf-8")
    print(f"written: {RESULTS.relative_to(ROOT) if RESULTS.is_relative_to(ROOT) else RESULTS}")
    return 0 if all(r["exit_status"] == 0 for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
