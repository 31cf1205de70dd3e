"""Proxy benchmark: the latency a 10-instruction PATCH gets through the validating proxy, against
the same PATCH sent straight to the mock, at a fixed request rate on loopback.

The mock (``python -m mock_server``, a temporary SQLite file and configuration, rate limit off)
and the proxy in front of it (``python -m proxy``, checking every exchange) run as processes on
127.0.0.1. The PATCH is the serve benchmark's: 10 ``updateExpiringTarget`` instructions without
``version`` on a segment whose 10 contexts are targeted and scheduled, so every instruction
succeeds and the state stays the same size. One asyncio load generator (httpx, keep-alive
connections) sends it open-loop at ``--rate`` requests per second -- each request leaves at its
scheduled time, whether or not earlier ones have been answered -- for ``--duration`` seconds to
one target, then to the other, for ``--rounds`` rounds in alternating order, so a slow spell of a
shared machine falls on both. Latency is timed from sending to having read the whole answer.
Prints median and p99 for both and what the proxy adds (targets: +2 ms median, +5 ms p99).
Reports, does not assert; exits 1 when a request failed, 2 when the harness could not start.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from contract_tests.run import write_mock_config  # noqa: E402
from mock_server.process import MockProcess, MockProcessError, free_port  # noqa: E402

WRITER = "api-writer-00000000-0000-0000-0000-000000000000"
SEMANTIC = "application/json; domain-model=launchdarkly.semanticpatch"
PROJECT, ENVIRONMENT, SEGMENT = "default", "test", "bench-proxy"
CONTEXTS = [f"bench-org-{i}" for i in range(10)]
DAY_MS = 86_400_000


def _patch_path() -> str:
    return f"/api/v2/segments/{PROJECT}/{SEGMENT}/expiring-targets/{ENVIRONMENT}"


def _body(kind: str, value: int) -> bytes:
    return json.dumps({"instructions": [
        {"kind": kind, "contextKind": "org", "contextKey": key, "targetType": "included",
         "value": value} for key in CONTEXTS]}).encode()


def provision(base_url: str) -> None:
    """The segment, its 10 targeted contexts, and their schedules."""
    with httpx.Client(base_url=base_url, headers={"Authorization": WRITER}) as http:
        http.post(f"/api/v2/segments/{PROJECT}/{ENVIRONMENT}",
                  json={"key": SEGMENT, "name": SEGMENT}).raise_for_status()
        http.patch(f"/api/v2/segments/{PROJECT}/{ENVIRONMENT}/{SEGMENT}", json=[
            {"op": "add", "path": "/includedContexts",
             "value": [{"contextKind": "org", "values": CONTEXTS}]}]).raise_for_status()
        http.patch(_patch_path(), content=_body("addExpiringTarget", _future()),
                   headers={"Content-Type": SEMANTIC}).raise_for_status()


def _future() -> int:
    return int(time.time() * 1000) + 30 * DAY_MS


async def load(base_url: str, rate: float, duration_s: float) -> tuple[list[float], int]:
    """Latencies (ms) of the PATCHes sent open-loop at `rate`, and how many failed."""
    latencies: list[float] = []
    failures = 0
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=30.0,
                                 headers={"Authorization": WRITER,
                                          "Content-Type": SEMANTIC}) as http:
        async def one(value: int) -> None:
            nonlocal failures
            started = time.perf_counter()
            try:
                response = await http.patch(_patch_path(),
                                            content=_body("updateExpiringTarget", value))
                ok = response.status_code == 200 and not response.json().get("errors")
            except httpx.HTTPError:
                ok = False
            if ok:
                latencies.append((time.perf_counter() - started) * 1000)
            else:
                failures += 1

        await one(_future())  # warm the connection
        latencies.clear()
        tasks = []
        start, count = time.perf_counter(), int(rate * duration_s)
        for i in range(count):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(_future() + i)))
        await asyncio.gather(*tasks)
    return latencies, failures


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=200.0, help="requests per second (200)")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per round (10)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per target (3)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-proxy-") as tmp:
        work = Path(tmp)
        config = write_mock_config(work / "mock-config.yaml")
        try:
            mock = MockProcess(work / "mock.sqlite3", config, work / "mock.log")
            mock.start()
        except MockProcessError as exc:
            print(f"bench_proxy: {exc}", file=sys.stderr)
            return 2
        port = free_port()
        proxy = subprocess.Popen(
            [sys.executable, "-m", "proxy", "--upstream", mock.base_url, "--port", str(port),
             "--reports-dir", str(work / "reports"), "--every", "1000000"],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
            start_new_session=True)
        try:
            return _run(args, mock.base_url, f"http://127.0.0.1:{port}")
        finally:
            proxy.terminate()
            proxy.wait(timeout=30)
            mock.stop()


def _wait(url: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(url + "/", timeout=1.0)
            return
        except httpx.TransportError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer")


def _run(args: argparse.Namespace, direct: str, proxied: str) -> int:
    _wait(proxied)
    provision(direct)
    samples: dict[str, list[float]] = {"direct": [], "proxy": []}
    failed = 0
    for round_number in range(args.rounds):
        order = [("direct", direct), ("proxy", proxied)]
        for name, url in order if round_number % 2 == 0 else reversed(order):
            latencies, failures = asyncio.run(load(url, args.rate, args.duration))
            samples[name] += latencies
            failed += failures
            print(f"round {round_number + 1} {name}: median {statistics.median(latencies):.2f} "
                  f"ms, p99 {pct(latencies, 0.99):.2f} ms ({len(latencies)} requests)",
                  flush=True)
    result: dict[str, Any] = {
        name: {"median_ms": statistics.median(v), "p99_ms": pct(v, 0.99), "requests": len(v)}
        for name, v in samples.items()}
    added = {q: result["proxy"][f"{q}_ms"] - result["direct"][f"{q}_ms"] for q in ("median", "p99")}
    print(f"\n10-instruction PATCH at {args.rate:.0f} requests/s, {args.rounds} x "
          f"{args.duration:.0f} s per target, loopback")
    print(f"{'':8} {'median':>9} {'p99':>9}")
    for name in ("direct", "proxy"):
        print(f"{name:8} {result[name]['median_ms']:7.2f} ms {result[name]['p99_ms']:6.2f} ms")
    print(f"{'added':8} {added['median']:+7.2f} ms {added['p99']:+6.2f} ms   "
          "(targets: +2 ms median, +5 ms p99)")
    if failed:
        print(f"bench_proxy: {failed} requests failed", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
