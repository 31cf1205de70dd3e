"""A small fault-injecting HTTP/1.1 proxy on loopback, between the contract suite and a server.

    with FaultProxy(upstream="http://127.0.0.1:8765", faults=Faults(drop_after=0.02)) as proxy:
        ...  # point the suite at proxy.url

asyncio, in a thread of its own; it binds 127.0.0.1 on a free port and forwards to one
upstream on 127.0.0.1 only. Per request, at the configured rates (a seeded RNG, so a run's
faults can be repeated):

- ``delay``: wait ``delay_s`` (uniform) before forwarding;
- ``drop_before``: read the request, close the connection without forwarding it (not applied);
- ``drop_after``: forward it, then close without answering (applied, the answer lost);
- ``bad_gateway``: answer 502 without forwarding; ``bad_gateway_after``: forward, then 502;
- ``storm``: start a 429 storm: for ``storm_s`` seconds every request gets 429 with
  ``Retry-After: 0`` or ``1`` and LaunchDarkly's rate-limit headers, without being forwarded.

``break_rules`` makes it a server that breaks the contract instead (for failing runs): 200
answers of semantic PATCHes on expiring targets report ``totalInstructions`` one too high
(tier 2, instruction counts) and 200 answers of GET segment lose the required ``generation``
(tier 1, response schema).

`counts` says what it did (requests, forwarded, and each fault by name).
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any, Self
from urllib.parse import urlsplit

import httpx

__all__ = ["FaultProxy", "Faults"]

HOST = "127.0.0.1"
HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te",
              "trailer", "upgrade", "content-length", "content-encoding"}
_EXPIRING_PATCH = re.compile(r"^/api/v2/(segments|flags|users)/.+/expiring-(user-)?targets/[^/]+$")
_GET_SEGMENT = re.compile(r"^/api/v2/segments/[^/]+/[^/]+/[^/]+$")
REASONS = {200: "OK", 201: "Created", 204: "No Content", 400: "Bad Request",
           401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
           409: "Conflict", 429: "Too Many Requests", 500: "Internal Server Error",
           502: "Bad Gateway"}


@dataclass(frozen=True)
class Faults:
    delay: float = 0.0
    delay_s: tuple[float, float] = (0.02, 0.2)
    drop_before: float = 0.0
    drop_after: float = 0.0
    bad_gateway: float = 0.0
    bad_gateway_after: float = 0.0
    storm: float = 0.0
    storm_s: tuple[float, float] = (0.3, 1.0)
    break_rules: bool = False
    seed: int = 0

    @property
    def any(self) -> bool:
        return any((self.delay, self.drop_before, self.drop_after, self.bad_gateway,
                    self.bad_gateway_after, self.storm, self.break_rules))


class _Close(Exception):
    """Close the client connection now, without an answer."""


class FaultProxy:
    def __init__(self, upstream: str, faults: Faults | None = None) -> None:
        parts = urlsplit(upstream)
        if parts.hostname != HOST:
            raise ValueError(f"the proxy forwards to {HOST} only, not {upstream}")
        self.upstream = upstream.rstrip("/")
        self.faults = faults or Faults()
        self.counts: Counter[str] = Counter()
        self.port = 0
        self._rng = random.Random(self.faults.seed)
        self._storm_until = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.base_events.Server | None = None
        self._client: httpx.AsyncClient | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._stopped = threading.Event()
        self._error: BaseException | None = None
        self._connections: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    # lifecycle ---------------------------------------------------------------------------

    def start(self, timeout_s: float = 10.0) -> Self:
        self._thread = threading.Thread(target=self._run, name="fault-proxy", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout_s) or self._error is not None:
            self.stop()
            raise RuntimeError(f"the fault proxy did not start: {self._error!r}")
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        loop = self._loop
        if loop is not None and not self._stopped.is_set():
            loop.call_soon_threadsafe(self._stopped.set)
        if self._thread is not None:
            self._thread.join(timeout_s)
            if self._thread.is_alive():
                raise RuntimeError("the fault proxy did not stop")
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except Exception as exc:  # noqa: BLE001  # reported to start(); the thread ends
            self._error = exc
            self._ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._client = httpx.AsyncClient(base_url=self.upstream, timeout=60.0)
        self._server = await asyncio.start_server(self._connection, HOST, 0)
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        try:
            while not self._stopped.is_set():
                await asyncio.sleep(0.05)
        finally:
            self._server.close()
            for writer in list(self._connections):
                writer.transport.abort()
            await self._server.wait_closed()
            await self._client.aclose()

    # one client connection: requests one after another (keep-alive) -------------------------

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._connections.add(writer)
        try:
            while True:
                request = await _read_request(reader)
                if request is None:
                    break
                try:
                    status, headers, body = await self._handle(*request)
                except _Close:
                    self.counts["connections closed without an answer"] += 1
                    break
                writer.write(_response_bytes(status, headers, body))
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            self._connections.discard(writer)
            writer.transport.abort()

    async def _handle(self, method: str, target: str, headers: list[tuple[str, str]],
                      body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        faults, rng = self.faults, self._rng
        self.counts["requests"] += 1
        now = time.monotonic()
        if now < self._storm_until:
            return self._rate_limited()
        if faults.storm and rng.random() < faults.storm:
            self.counts["429 storms"] += 1
            self._storm_until = now + rng.uniform(*faults.storm_s)
            return self._rate_limited()
        if faults.delay and rng.random() < faults.delay:
            self.counts["delayed"] += 1
            await asyncio.sleep(rng.uniform(*faults.delay_s))
        roll = rng.random()
        for name, rate, forward in (("dropped before forwarding", faults.drop_before, False),
                                    ("dropped after forwarding", faults.drop_after, True),
                                    ("502 without forwarding", faults.bad_gateway, False),
                                    ("502 after forwarding", faults.bad_gateway_after, True)):
            if roll < rate:
                self.counts[name] += 1
                self.counts[f"{name}: {method}"] += 1
                if forward:
                    await self._forward(method, target, headers, body)
                if name.startswith("dropped"):
                    raise _Close
                return 502, [("content-type", "text/html")], b"<html><body>502 Bad Gateway</body></html>"
            roll -= rate
        status, out_headers, out_body = await self._forward(method, target, headers, body)
        if faults.break_rules:
            out_body = self._break(method, target, status, out_body)
        return status, out_headers, out_body

    def _rate_limited(self) -> tuple[int, list[tuple[str, str]], bytes]:
        self.counts["429 answered"] += 1
        reset_ms = int(time.time() * 1000) + 1000
        headers = [("content-type", "application/json"),
                   ("retry-after", self._rng.choice(("0", "1"))),
                   ("x-ratelimit-global-remaining", "0"), ("x-ratelimit-route-remaining", "0"),
                   ("x-ratelimit-reset", str(reset_ms))]
        body = json.dumps({"code": "rate_limited", "message": "Too many requests"}).encode()
        return 429, headers, body

    async def _forward(self, method: str, target: str, headers: list[tuple[str, str]],
                       body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        assert self._client is not None
        forwarded = [(k, v) for k, v in headers if k.lower() not in HOP_BY_HOP | {"host"}]
        response = await self._client.request(method, target, headers=forwarded, content=body)
        self.counts["forwarded"] += 1
        out = [(k, v) for k, v in response.headers.multi_items() if k.lower() not in HOP_BY_HOP]
        return response.status_code, out, response.content

    def _break(self, method: str, target: str, status: int, body: bytes) -> bytes:
        path = target.split("?", 1)[0]
        if status != 200 or not body:
            return body
        try:
            data: Any = json.loads(body)
        except ValueError:
            return body
        if not isinstance(data, dict):
            return body
        if method == "PATCH" and _EXPIRING_PATCH.match(path) and isinstance(
                data.get("totalInstructions"), int):
            data["totalInstructions"] += 1
            self.counts["broken: totalInstructions"] += 1
        elif method == "GET" and _GET_SEGMENT.match(path) and "generation" in data:
            del data["generation"]
            self.counts["broken: segment without generation"] += 1
        else:
            return body
        return json.dumps(data).encode()


async def _read_request(
    reader: asyncio.StreamReader,
) -> tuple[str, str, list[tuple[str, str]], bytes] | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    lines = head.decode("latin-1").split("\r\n")
    method, target, _version = lines[0].split(" ", 2)
    headers = []
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers.append((name.strip(), value.strip()))
    fields = {k.lower(): v for k, v in headers}
    if "chunked" in fields.get("transfer-encoding", "").lower():
        chunks = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0].strip(), 16)
            if size == 0:
                while await reader.readuntil(b"\r\n") != b"\r\n":  # trailers
                    pass
                break
            chunks.append(await reader.readexactly(size))
            await reader.readexactly(2)
        body = b"".join(chunks)
    else:
        body = await reader.readexactly(int(fields.get("content-length", "0") or 0))
    return method, target, headers, body


def _response_bytes(status: int, headers: list[tuple[str, str]], body: bytes) -> bytes:
    lines = [f"HTTP/1.1 {status} {REASONS.get(status, 'Status')}"]
    lines += [f"{k}: {v}" for k, v in headers]
    if status not in (204, 304):
        lines.append(f"content-length: {len(body)}")
    else:
        body = b""
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
