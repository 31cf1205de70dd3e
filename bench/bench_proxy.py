"""Proxy benchmark: the latency a 10-instruction PATCH gets through the validating proxy, against
the same PATCH sent straight to the mock, at a fixed request rate on loopback.

The mock (``python -m mock_server``, a temporary SQLite file and configuration, rate limit off)
and the proxy in front of it (``python -m proxy``, checking every exchange) run as processes on
127.0.0.1. The PATCH is the serve benchmark's: 10 ``updateExpiringTarget`` instructions without
``version`` on a segment whose 10 contexts are targeted and scheduled, so every instruction
succeeds and the state stays the same size. One asyncio load generator (raw HTTP/1.1 on keep-alive
connections, the requests prepared as bytes: it must not compete for the 2 cores with what it
measures) sends it open-loop at ``--rate`` requests per second -- each request leaves at its
scheduled time, whether or not earlier ones have been answered -- for ``--duration`` seconds to
one target, then to the other, for ``--rounds`` rounds in alternating order, so a slow spell of a
shared machine falls on both. Latency is timed from sending to having read the whole answer.
The load generator's garbage collector is off during a round (its pauses would count as the
servers' latency). Prints median and p99 for both and what the proxy adds (targets: +2 ms
median, +5 ms p99) over every request; then, from probes that watched every CPU meanwhile
(bench/host_probe.py, ``--no-host-probe`` to leave them out), the machine's slow spells and the
same figures over the requests no spell overlapped; and the proxy's own time per exchange from
its report (proxy/overhead.py): what it adds where it is spent.
Reports, does not assert; exits 1 when a request failed, 2 when the harness could not start.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Coroutine
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.host_probe import HostProbe, ProbeError
from contract_tests.run import write_mock_config
from mock_server.process import MockProcess, MockProcessError, free_port, wait_answering

WRITER = "api-writer-00000000-0000-0000-0000-000000000000"
SEMANTIC = "application/json; domain-model=launchdarkly.semanticpatch"
PROJECT, ENVIRONMENT = "default", "test"
# one segment per path: the proxy judges sequences assuming it sees every write to what it
# judges, so the direct requests must not write to the segment the proxied ones do
SEGMENTS = {"direct": "bench-direct", "proxy": "bench-proxied"}
CONTEXTS = [f"bench-org-{i}" for i in range(10)]
DAY_MS = 86_400_000
TIMEOUT_S = 30.0  # a request not answered in time counts as failed

Timing = tuple[float, float]  # (perf_counter when sent, latency in ms)
Loaded = tuple[list[Timing], int]  # a round's timings and how many requests failed


def _patch_path(segment: str) -> str:
    return f"/api/v2/segments/{PROJECT}/{segment}/expiring-targets/{ENVIRONMENT}"


def _body(kind: str, value: int) -> bytes:
    return json.dumps({"instructions": [
        {"kind": kind, "contextKind": "org", "contextKey": key, "targetType": "included",
         "value": value} for key in CONTEXTS]}).encode()


def provision(base_url: str, segment: str) -> None:
    """The segment, its 10 targeted contexts, and their schedules."""
    with httpx.Client(base_url=base_url, headers={"Authorization": WRITER}) as http:
        http.post(f"/api/v2/segments/{PROJECT}/{ENVIRONMENT}",
                  json={"key": segment, "name": segment}).raise_for_status()
        http.patch(f"/api/v2/segments/{PROJECT}/{ENVIRONMENT}/{segment}", json=[
            {"op": "add", "path": "/includedContexts",
             "value": [{"contextKind": "org", "values": CONTEXTS}]}]).raise_for_status()
        http.patch(_patch_path(segment), content=_body("addExpiringTarget", _future()),
                   headers={"Content-Type": SEMANTIC}).raise_for_status()


def _future() -> int:
    return int(time.time() * 1000) + 30 * DAY_MS


class _Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection of the load generator: a request written as bytes
    prepared once, the answer read by its Content-Length. A few microseconds per request, so
    the generator does not compete with what it measures (an httpx client costs milliseconds
    of CPU per request, which on a 2-core machine is as much as the proxy's own work)."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self.closed = False  # the server closes connections idle for 5 s

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        sock = transport.get_extra_info("socket")
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        head_end = self.buffer.find(b"\r\n\r\n")
        if head_end < 0 or self.waiter is None:
            return
        head = self.buffer[:head_end].decode("latin-1").lower()
        length = int(head.split("content-length:", 1)[1].split("\r\n", 1)[0])
        if len(self.buffer) < head_end + 4 + length:
            return
        body = self.buffer[head_end + 4:head_end + 4 + length]
        self.buffer = self.buffer[head_end + 4 + length:]
        self.waiter.set_result((int(head.split(" ", 2)[1]), body))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError("closed"))

    async def send(self, raw: bytes) -> tuple[int, bytes]:
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(raw)
        try:
            return await asyncio.wait_for(self.waiter, TIMEOUT_S)
        finally:
            self.waiter = None


def _request(base_url: str, segment: str, body: bytes) -> bytes:
    host = base_url.removeprefix("http://")
    return (f"PATCH {_patch_path(segment)} HTTP/1.1\r\nHost: {host}\r\nAuthorization: {WRITER}\r\n"
            f"Content-Type: {SEMANTIC}\r\nContent-Length: {len(body)}\r\n\r\n"
            ).encode() + body


async def load(base_url: str, segment: str, rate: float,
               duration_s: float) -> Loaded:
    """When each PATCH sent open-loop at `rate` left and what its latency was, and how many
    failed. A request whose time has come takes an idle connection or opens one."""
    loop = asyncio.get_running_loop()
    host, port = base_url.removeprefix("http://").split(":")
    idle: list[_Connection] = []
    latencies: list[Timing] = []
    failures = 0

    async def one(value: int) -> None:
        nonlocal failures
        while idle and idle[-1].closed:
            idle.pop()
        if idle:
            connection = idle.pop()
        else:
            _, connection = await loop.create_connection(_Connection, host, int(port))
        raw = _request(base_url, segment, _body("updateExpiringTarget", value))
        started = time.perf_counter()
        try:
            status, body = await connection.send(raw)
        except (ConnectionError, TimeoutError):
            failures += 1
            return
        elapsed = (time.perf_counter() - started) * 1000
        idle.append(connection)
        if status == 200 and b'"errors":[]' in body.replace(b" ", b""):
            latencies.append((started, elapsed))
        else:
            failures += 1

    await one(_future())  # open a connection before the clock starts
    latencies.clear()
    tasks = []
    start, count = time.perf_counter(), int(rate * duration_s)
    for i in range(count):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(_future() + i)))
    await asyncio.gather(*tasks)
    for connection in idle:
        assert connection.transport is not None
        connection.transport.close()
    return latencies, failures


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=200.0, help="requests per second (200)")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per round (10)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per target (3)")
    parser.add_argument("--no-host-probe", dest="host_probe", action="store_false",
                        help="do not watch for the machine's slow spells (bench/host_probe.py)")
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
            return _run(args, mock.base_url, f"http://127.0.0.1:{port}", proxy, work)
        except ProbeError as exc:
            print(f"bench_proxy: {exc}; --no-host-probe runs without them", file=sys.stderr)
            return 2
        except RuntimeError as exc:  # the proxy did not answer
            print(f"bench_proxy: {exc}", file=sys.stderr)
            return 2
        finally:
            if proxy.poll() is None:
                proxy.terminate()
                proxy.wait(timeout=30)
            mock.stop()


def _run(args: argparse.Namespace, direct: str, proxied: str,
         proxy: subprocess.Popen[bytes], work: Path) -> int:
    if not wait_answering(proxied + "/", proxy, time.monotonic() + 30):
        raise RuntimeError(f"{proxied} did not answer")
    for segment in SEGMENTS.values():
        provision(direct, segment)
    samples: dict[str, list[Timing]] = {"direct": [], "proxy": []}
    failed = 0
    load_before = os.getloadavg()[0]
    with HostProbe(work / "host-probe") if args.host_probe else nullcontext() as probe:
        for round_number in range(args.rounds):
            order = [("direct", direct), ("proxy", proxied)]
            for name, url in order if round_number % 2 == 0 else reversed(order):
                timings, failures = _without_gc(load(url, SEGMENTS[name], args.rate,
                                                     args.duration))
                samples[name] += timings
                failed += failures
                latencies = [ms for _, ms in timings]
                print(f"round {round_number + 1} {name}: median {statistics.median(latencies):.2f}"
                      f" ms, p99 {pct(latencies, 0.99):.2f} ms ({len(latencies)} requests; load"
                      f" average {os.getloadavg()[0]:.2f})", flush=True)
    print(f"\n10-instruction PATCH at {args.rate:.0f} requests/s, {args.rounds} x "
          f"{args.duration:.0f} s per target, loopback; load average {load_before:.2f} before, "
          f"{os.getloadavg()[0]:.2f} after")
    _table("every request", samples)
    if probe is not None:
        spells = probe.spells()
        print(f"\nthe machine's slow spells (bench/host_probe.py): {len(spells.spells)}, "
              f"{spells.slow_share:.1%} of the {spells.observed_s:.0f} s")
        _table("requests no slow spell overlapped",
               {name: [(sent, ms) for sent, ms in timings
                       if not spells.overlaps(sent, sent + ms / 1000)]
                for name, timings in samples.items()})
    proxy.terminate()  # it writes its report on the way out
    proxy.wait(timeout=30)
    judged = json.loads((work / "reports" / "proxy.json").read_text(encoding="utf-8"))
    print(f"\nthe proxy judged {judged['exchanges']} exchanges: "
          f"{judged['violations']['total']} violations")
    own = judged["proxy_overhead"]
    print(f"the proxy's own time per exchange (its report; the upstream's excluded): median "
          f"{own['p50_ms']:.2f} ms, p99 {own['p99_ms']:.2f} ms, max {own['max_ms']:.1f} ms")
    if failed:
        print(f"bench_proxy: {failed} requests failed", file=sys.stderr)
    return 1 if failed else 0


def _without_gc(run: Coroutine[Any, Any, Loaded]) -> Loaded:
    """`run` on a fresh event loop with the collector off: a full collection in the load
    generator, once it holds a few thousand timings, holds up every request in flight, which
    would count as the servers' latency (docs/proxy.md, Latency). A round allocates a few MB."""
    gc.collect()
    gc.disable()
    try:
        return asyncio.run(run)
    finally:
        gc.enable()


def _table(title: str, samples: dict[str, list[Timing]]) -> None:
    """Median and p99 of each path over `samples`, and what the proxy adds."""
    figures = {name: (statistics.median(ms for _, ms in timings),
                      pct([ms for _, ms in timings], 0.99), len(timings))
               for name, timings in samples.items()}
    print(f"{title}:\n{'':8} {'median':>9} {'p99':>9}  requests")
    for name, (median, p99, count) in figures.items():
        print(f"{name:8} {median:7.2f} ms {p99:6.2f} ms  {count}")
    added = [figures["proxy"][i] - figures["direct"][i] for i in (0, 1)]
    print(f"{'added':8} {added[0]:+7.2f} ms {added[1]:+6.2f} ms   "
          "(targets: +2 ms median, +5 ms p99)")


if __name__ == "__main__":
    sys.exit(main())
