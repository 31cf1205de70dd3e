"""The proxy itself: an ASGI app that passes each request to the upstream and its answer back.

Unchanged both ways: method, raw path and query, headers (all but the hop-by-hop ones; `Host`
names the upstream, since virtual hosting needs it), body; status, headers, body, byte for
byte (content-encoded bodies stay encoded). Nothing is added (no `Via`, no `X-Forwarded-*`),
nothing retried, nothing held back: the exchange is judged after its answer has gone out, while
no other request is in flight (`proxy.backlog`), in the order the answers ended. When
no answer comes from the upstream the client gets 502 (504 on a timeout) with a JSON
`{code, message}`, and the exchange counts as infrastructure, not as a violation.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from contract_tests.network import GATEWAY_STATUSES
from generated._runtime import error_body

from .backlog import Backlog
from .checker import Checker, Ended
from .exchange import Credentials, Exchange, end_to_end
from .overhead import Overhead

__all__ = ["Forwarder"]

Scope = dict[str, Any]
Receive = Callable[[], Any]
Send = Callable[[dict[str, Any]], Any]


class Forwarder:
    """Each request goes to ``transport`` as an ``httpx.Request``, not through an
    ``httpx.AsyncClient``: what a client adds is wrong for a proxy (a cookie jar filled from
    every client's answers, proxies from the environment) or costly (CPU per exchange, and a
    reference cycle per answer that the collector frees in long pauses; docs/proxy.md,
    Latency, has the figures)."""

    def __init__(self, upstream: str, checker: Checker, credentials: Credentials,
                 transport: httpx.AsyncBaseTransport, timeout: httpx.Timeout,
                 overhead: Overhead, on_exchange: Callable[[Exchange], None] | None = None
                 ) -> None:
        self.upstream = httpx.URL(upstream)
        self.checker, self.credentials, self.transport = checker, credentials, transport
        self._extensions = {"timeout": timeout.as_dict()}  # what the transport reads
        self.overhead = overhead
        self.on_exchange = on_exchange
        self._count = 0
        self.backlog: Backlog[Ended] = Backlog(self._settle)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # no lifespan events; websockets are not this API
            return
        arrived = time.perf_counter()
        body = await _read_body(receive)
        if body is None:  # the client left before its request was complete: nothing to send
            return
        method = scope["method"]
        raw_path: bytes = scope.get("raw_path") or scope["path"].encode()
        query: bytes = scope.get("query_string", b"")
        path = raw_path.decode("latin-1")
        ticket = self.checker.begin(method, path)
        self.backlog.started()
        ended: Ended | None = None
        try:
            started_at, clock = time.time(), time.perf_counter()
            headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]]
            url = self.upstream.copy_with(raw_path=raw_path + (b"?" + query if query else b""))
            request = httpx.Request(method, url, content=body, headers=[
                (k, v) for k, v in end_to_end(headers)
                if k.lower() not in ("host", "content-length")], extensions=self._extensions)
            answer = await self._exchange(request)
            await send({"type": "http.response.start", "status": answer.status, "headers": [
                (k.encode("latin-1"), v.encode("latin-1")) for k, v in answer.headers]})
            await send({"type": "http.response.body", "body": answer.raw})
            answered = time.perf_counter()
            duration_ms = (answered - clock) * 1000
            if answer.upstream_ms is not None:
                self.overhead.add((answered - arrived) * 1000 - answer.upstream_ms)
            self._count += 1
            exchange = self._record(self._count, started_at, duration_ms, request, headers, body,
                                    answer)
            ended = self.checker.ended(exchange, ticket)
        finally:
            self.backlog.ended(ended)

    def drain(self) -> None:
        """Judge the exchanges still waiting: the proxy is stopping, its reports come next."""
        self.backlog.drain()

    def _settle(self, ended: Ended) -> None:
        self.checker.settle(ended)
        if self.on_exchange is not None:
            self.on_exchange(ended.exchange)

    async def _exchange(self, request: httpx.Request) -> _Answer:
        """The upstream's answer, or the proxy's own 502/504 when none came."""
        sent = time.perf_counter()
        try:
            response = await self.transport.handle_async_request(request)
            try:
                raw = b"".join([chunk async for chunk in response.aiter_raw()])
            finally:
                await response.aclose()
        except httpx.TimeoutException as exc:
            return _own_answer(504, "gateway_timeout", f"the upstream did not answer in time "
                               f"({type(exc).__name__})")
        except httpx.HTTPError as exc:
            return _own_answer(502, "bad_gateway", f"the upstream could not be reached "
                               f"({type(exc).__name__}: {exc})")
        gateway = response.status_code in GATEWAY_STATUSES  # a gateway's, not the API's
        return _Answer(response.status_code, end_to_end(response.headers.multi_items()), raw,
                       f"HTTP {response.status_code} from a gateway" if gateway else None, True,
                       (time.perf_counter() - sent) * 1000)

    def _record(self, index: int, started_at: float, duration_ms: float,
                request: httpx.Request, headers: list[tuple[str, str]], body: bytes,
                answer: _Answer) -> Exchange:
        credentials = self.credentials
        request_headers, credential = credentials.scrub(headers)
        return Exchange(
            index=index, started_at=started_at, duration_ms=duration_ms, method=request.method,
            url=credentials.redact(str(request.url)),
            path=request.url.raw_path.split(b"?", 1)[0].decode("latin-1"),
            request_headers=request_headers, request_body=credentials.redact_bytes(body),
            credential=credential, status=answer.status if answer.from_upstream else None,
            response_headers=credentials.scrub(answer.headers)[0],
            response_body=credentials.redact_bytes(answer.decoded()),
            infrastructure=answer.infrastructure)


@dataclass(frozen=True)
class _Answer:
    status: int
    headers: list[tuple[str, str]]
    raw: bytes  # as the upstream sent it (content-encoded, if it was)
    infrastructure: str | None  # why no API answered
    from_upstream: bool
    upstream_ms: float | None = None  # from sending the request to its answer's last byte

    def decoded(self) -> bytes:
        """The body without its content encoding, for the checks (the client got it as sent)."""
        if not any(k.lower() == "content-encoding" for k, _ in self.headers):
            return self.raw
        try:
            return httpx.Response(self.status, headers=self.headers, content=self.raw).content
        except httpx.DecodingError:
            return self.raw


async def _read_body(receive: Receive) -> bytes | None:
    """The whole request body; None if the client disconnected before it was complete."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


def _own_answer(status: int, code: str, message: str) -> _Answer:
    body = error_body(code, f"proxy: {message}")
    headers = [("content-type", "application/json"), ("content-length", str(len(body)))]
    return _Answer(status, headers, body, message, False)
