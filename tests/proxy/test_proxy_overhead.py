"""The proxy's own time per exchange (proxy/overhead.py): its histogram's quantiles, what a
real proxy reports of a slow upstream (the exchanges, without the upstream's time), and that an
exchange leaves nothing for the garbage collector, whose pauses every request in flight waits."""

from __future__ import annotations

import asyncio
import gc
import json
import random
from typing import Any

import httpx
from echo_app import SLOW_S
from proxy_helpers import WRITER, Processes, ProxyRun, serve_app, wait_http

from proxy.checker import Checker
from proxy.exchange import Credentials
from proxy.forward import Forwarder
from proxy.ledger import Ledger
from proxy.overhead import Overhead


def test_quantiles_are_within_two_percent_above_the_exact_ones() -> None:
    rng = random.Random(7)
    values = [rng.lognormvariate(0, 1.5) for _ in range(5000)]
    overhead = Overhead()
    for value in values:
        overhead.add(value)
    ordered = sorted(values)
    for q in (0.5, 0.9, 0.99):
        exact = ordered[int(q * len(ordered)) - 1]
        found = overhead.quantile(q)
        assert found is not None and exact <= found <= exact * 1.02 + 1e-9, (q, exact, found)
    assert overhead.max_ms == max(values) and overhead.count == 5000
    assert len(overhead._buckets) < 1000  # bounded by the range, not by the count


def test_an_empty_histogram_has_no_quantile() -> None:
    assert Overhead().quantile(0.5) is None
    assert Overhead().as_json() == {"exchanges": 0, "p50_ms": None, "p99_ms": None,
                                    "max_ms": 0.0}


def test_the_report_gives_the_proxy_s_own_time_without_the_upstream_s(
        processes: Processes) -> None:
    upstream, server = serve_app(processes, "tests.proxy.echo_app:create")
    wait_http(upstream, server)
    proxy = ProxyRun(processes, upstream).ready()
    with httpx.Client(timeout=10, headers={"Authorization": WRITER}) as http:
        for path in ("/slow", "/", "/slow", "/"):
            assert http.get(f"{proxy.url}{path}").status_code == 200
    assert proxy.stop() == 0
    overhead = proxy.report()["proxy_overhead"]
    assert overhead["exchanges"] >= 4  # and the readiness probe's
    assert 0 < overhead["p50_ms"] <= overhead["p99_ms"] <= overhead["max_ms"]
    assert overhead["max_ms"] < SLOW_S * 1000 * 0.8, overhead  # the upstream's pause not in it
    markdown = (proxy.reports / "proxy.md").read_text(encoding="utf-8")
    assert "the proxy's own time per exchange" in markdown


def test_a_judged_exchange_leaves_no_reference_cycles() -> None:
    """Found by bench/bench_proxy.py: through an httpx client, an answer and its stream point at
    each other, and the collector freed them in long pauses (docs/proxy.md, Latency)."""
    listing = json.dumps({"items": [], "_links": {}}).encode()

    async def upstream(request: httpx.Request) -> httpx.Response:  # streamed, as on a socket
        return httpx.Response(200, headers={"Content-Type": "application/json"},
                              stream=httpx.ByteStream(listing))

    async def exchanges(count: int) -> tuple[int, Ledger]:
        ledger = Ledger(target="http://upstream")
        async with httpx.MockTransport(upstream) as transport:
            forwarder = Forwarder("http://upstream", Checker(ledger), Credentials(), transport,
                                  httpx.Timeout(5.0), ledger.overhead)

            async def get(path: str) -> None:  # by hand: httpx's ASGI client makes cycles
                messages = [{"type": "http.request", "body": b"", "more_body": False}]

                async def receive() -> dict[str, Any]:
                    return messages.pop() if messages else {"type": "http.disconnect"}

                async def send(message: dict[str, Any]) -> None:
                    pass

                await forwarder({"type": "http", "method": "GET", "path": path,
                                 "raw_path": path.encode(), "query_string": b"",
                                 "headers": [(b"authorization", WRITER.encode())]},
                                receive, send)

            await get("/api/v2/segments/p/warm-up/expiring-targets/e")
            await asyncio.sleep(0.01)  # its judging, off the request path
            gc.collect()
            gc.disable()
            try:
                for i in range(count):
                    await get(f"/api/v2/segments/p/s{i}/expiring-targets/e")
                await asyncio.sleep(0.05)
                return gc.collect(), ledger
            finally:
                gc.enable()

    garbage, ledger = asyncio.run(exchanges(100))
    assert ledger.judged[("getExpiringTargetsForSegment", 2)] == 101  # judged, tiers 1 and 2
    assert garbage == 0, f"{garbage} objects in reference cycles after 100 exchanges"
