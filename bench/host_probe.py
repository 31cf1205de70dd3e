"""Host slowdowns: spells in which the machine itself runs slower, so that a latency benchmark
can say which of its requests fell in one.

One probe process per CPU (pinned) sleeps a millisecond, then times a fixed computation of a
few tens of microseconds that touches no memory to speak of, again and again. On a quiet
machine the computation always takes the same time; a *slow spell* is a run of at least
``MIN_RUN`` consecutive samples that each took at least ``FACTOR`` times the probe's median.
One slow sample alone is the scheduler putting the probe aside for a moment (one of the
benchmark's own processes woke on its CPU), not the machine, and is not counted.

Why a benchmark needs this: on the virtual machines this project is measured on, both CPUs run
such a computation many times slower for tens of milliseconds, every second or two, with
nothing of the project running (docs/proxy.md, "Where the tail comes from", has the dated
figures). A p99 over a few thousand requests is made of the requests those spells fell on,
whatever the software does.
The benchmarks report their figures over every request, and beside them the same figures over
the requests that no slow spell overlapped.

    python -m bench.host_probe --watch 20   # is this machine quiet? probes on every CPU
    python -m bench.host_probe --cpu 0 --out samples.txt   # one probe; SIGTERM ends it
"""

from __future__ import annotations

import argparse
import bisect
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self

__all__ = ["FACTOR", "MIN_RUN", "HostProbe", "ProbeError", "SlowSpells", "read_samples",
           "slow_spells"]

ROOT = Path(__file__).resolve().parent.parent
FACTOR = 3.0  # a sample this many times the median is slow
MIN_RUN = 3  # consecutive slow samples that make a spell
LOOP = 150  # iterations of the timed computation: tens of microseconds
INTERVAL_S = 0.001

Sample = tuple[float, float]  # (perf_counter at the start, seconds the computation took)


class ProbeError(RuntimeError):
    """The probes could not be started."""


def probe(cpu: int, out: Path) -> None:
    """Sample until SIGTERM, then write one ``start duration`` line per sample to ``out``."""
    stop = False

    def _stop(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, _stop)
    os.sched_setaffinity(0, {cpu})
    out.write_text("", encoding="utf-8")  # sampling has begun: HostProbe waits for this
    samples: list[Sample] = []
    clock = time.perf_counter
    while not stop:
        time.sleep(INTERVAL_S)
        started, x = clock(), 1
        for _ in range(LOOP):
            x = (x * 48271) % 2147483647
        samples.append((started, clock() - started))
    out.write_text("".join(f"{start:.6f} {took:.7f}\n" for start, took in samples),
                   encoding="utf-8")


def read_samples(path: Path) -> list[Sample]:
    """The samples one probe wrote."""
    rows = (line.split() for line in path.read_text(encoding="utf-8").splitlines())
    return [(float(start), float(took)) for start, took in rows]


@dataclass(frozen=True)
class SlowSpells:
    """The machine's slow spells during a run, as sorted, disjoint (start, end) intervals of
    ``time.perf_counter`` (the same clock in every process of the machine)."""

    spells: tuple[tuple[float, float], ...]
    observed_s: float  # from the first sample to the last

    def overlaps(self, start: float, end: float) -> bool:
        """Whether the interval [start, end] meets a slow spell."""
        i = bisect.bisect_left(self.spells, (start, start))
        if i > 0 and self.spells[i - 1][1] >= start:
            return True
        return i < len(self.spells) and self.spells[i][0] <= end

    @property
    def slow_share(self) -> float:
        """The share of the observed time the machine spent in slow spells."""
        if self.observed_s <= 0:
            return 0.0
        return sum(end - start for start, end in self.spells) / self.observed_s


def slow_spells(per_cpu: Iterable[Sequence[Sample]], *, factor: float = FACTOR,
                min_run: int = MIN_RUN) -> SlowSpells:
    """The slow spells the probes saw, each CPU's runs of slow samples merged into one list."""
    found: list[tuple[float, float]] = []
    first, last = float("inf"), float("-inf")
    for samples in per_cpu:
        if not samples:
            continue
        first, last = min(first, samples[0][0]), max(last, samples[-1][0] + samples[-1][1])
        threshold = factor * statistics.median(took for _, took in samples)
        run: list[Sample] = []
        for sample in [*samples, (float("inf"), 0.0)]:  # a fast sentinel ends the last run
            if sample[1] >= threshold:
                run.append(sample)
                continue
            if len(run) >= min_run:
                found.append((run[0][0], run[-1][0] + run[-1][1]))
            run = []
    merged: list[tuple[float, float]] = []
    for start, end in sorted(found):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return SlowSpells(tuple(merged), max(0.0, last - first))


class HostProbe:
    """A probe on every CPU this process may use, for the length of a ``with`` block; then
    :meth:`spells`. The probes cost each CPU a few per cent."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self._procs: list[tuple[subprocess.Popen[bytes], Path]] = []
        self._result: SlowSpells | None = None

    def __enter__(self) -> Self:
        self.work.mkdir(parents=True, exist_ok=True)
        for cpu in sorted(os.sched_getaffinity(0)):
            out = self.work / f"host-probe-cpu{cpu}.txt"
            out.unlink(missing_ok=True)
            proc = subprocess.Popen([sys.executable, "-m", "bench.host_probe", "--cpu", str(cpu),
                                     "--out", str(out)], cwd=ROOT)
            self._procs.append((proc, out))
        deadline = time.monotonic() + 30
        while not all(out.exists() for _, out in self._procs):
            if time.monotonic() > deadline or any(p.poll() is not None for p, _ in self._procs):
                self.__exit__(None, None, None)
                raise ProbeError("the host probes did not start (python -m bench.host_probe"
                                 " --cpu N --out FILE)")
            time.sleep(0.01)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        for proc, _ in self._procs:
            proc.terminate()
        samples = []
        for proc, out in self._procs:
            proc.wait(timeout=30)
            samples.append(read_samples(out) if proc.returncode == 0 else [])
        self._result = slow_spells(samples)

    def spells(self) -> SlowSpells:
        """What the probes saw (after the ``with`` block)."""
        if self._result is None:
            raise RuntimeError("HostProbe.spells() is only known after the with block")
        return self._result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--watch", type=float, metavar="SECONDS",
                        help="watch every CPU for SECONDS and print the slow spells seen")
    parser.add_argument("--cpu", type=int, help="run one probe pinned to this CPU (with --out)")
    parser.add_argument("--out", type=Path, help="where that probe writes its samples")
    args = parser.parse_args(argv)
    if args.cpu is not None and args.out is not None:
        probe(args.cpu, args.out)
        return 0
    if args.watch is None or args.watch <= 0:
        parser.error("give --watch SECONDS (more than 0), or --cpu and --out")
    try:
        with tempfile.TemporaryDirectory(prefix="host-probe-") as tmp, \
                HostProbe(Path(tmp)) as watching:
            time.sleep(args.watch)
    except ProbeError as exc:
        print(f"host_probe: {exc}", file=sys.stderr)
        return 2
    found = watching.spells()
    longest = max((end - start for start, end in found.spells), default=0.0)
    print(f"{len(found.spells)} slow spells in {found.observed_s:.0f} s on "
          f"{len(os.sched_getaffinity(0))} CPUs ({found.slow_share:.1%} of the time; the longest "
          f"{longest * 1000:.0f} ms): a spell is {MIN_RUN} or more samples in a row each at least"
          f" {FACTOR:g}x the median")
    return 0


if __name__ == "__main__":
    sys.exit(main())
