"""The proxy's transport to the upstream: HTTP/1.1 keep-alive connections on asyncio, answers
parsed by httptools (the C parser uvicorn uses), behind httpx's transport interface.

Why not httpx's own transport: through httpcore, anyio and h11 a request costs the proxy about
as much CPU as the mock needs to answer it (docs/proxy.md, Design figures), which at 200
requests/s on two cores leaves the proxy behind its load. This transport sends the httpx
request as it is (its headers in order, Host and Content-Length as httpx set them, the body)
and returns the answer whole: status, headers as received, the body with the transfer
coding removed and the content coding kept (what `aiter_raw` gives). It never retries: an idle
connection the upstream has closed is not reused, and a request that fails is reported (the
proxy answers 502 or 504), never sent twice.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from dataclasses import dataclass, field

import httptools
import httpx

__all__ = ["UpstreamTransport"]

MAX_IDLE = 64  # idle connections kept per upstream


@dataclass
class _Answer:
    status: int = 0
    reason: bytes = b""
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    body: list[bytes] = field(default_factory=list)


class _Connection(asyncio.Protocol):
    """One connection: one request at a time (no pipelining)."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self._waiter: asyncio.Future[_Answer] | None = None
        self._answer = _Answer()
        self._parser = httptools.HttpResponseParser(self)
        self._head = False
        self._keep_alive = False

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        if self._waiter is None or self._waiter.done():
            self._fail(httpx.RemoteProtocolError("the upstream sent data nobody asked for"))
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(httpx.RemoteProtocolError(f"the upstream's answer is not HTTP ({exc})"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail(httpx.RemoteProtocolError("the upstream closed the connection before its "
                                             "answer was complete"))

    # httptools callbacks
    def on_status(self, reason: bytes) -> None:
        self._answer.reason += reason

    def on_header(self, name: bytes, value: bytes) -> None:
        self._answer.headers.append((name, value))

    def on_headers_complete(self) -> None:
        self._answer.status = self._parser.get_status_code()
        self._keep_alive = self._parser.should_keep_alive()  # known here, not once complete
        if self._head:  # no body follows, whatever Content-Length says
            self.on_message_complete()

    def on_body(self, body: bytes) -> None:
        self._answer.body.append(body)

    def on_message_complete(self) -> None:
        if 100 <= self._answer.status < 200:  # interim: the answer is still to come
            self._reset()
            return
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(self._answer)

    # the transport's side
    def _reset(self) -> None:
        self._answer = _Answer()
        self._parser = httptools.HttpResponseParser(self)

    def _fail(self, error: Exception) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(error)

    async def exchange(self, request: bytes, head: bool) -> tuple[_Answer, bool]:
        """The answer, and whether the connection may carry another request."""
        assert self.transport is not None
        self._reset()
        self._head = head
        self._waiter = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        try:
            answer = await self._waiter
        finally:
            self._waiter = None
        return answer, not self.closed and self._keep_alive

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


def _serialised(request: httpx.Request) -> bytes:
    target = request.url.raw_path
    head = [request.method.encode("ascii"), b" ", target, b" HTTP/1.1\r\n"]
    for name, value in request.headers.raw:
        head += [name, b": ", value, b"\r\n"]
    head.append(b"\r\n")
    return b"".join(head) + request.content


class UpstreamTransport(httpx.AsyncBaseTransport):
    def __init__(self) -> None:
        self._idle: dict[tuple[str, str, int], list[_Connection]] = {}
        self._tls = ssl.create_default_context()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeouts = request.extensions.get("timeout", {})
        key = (request.url.scheme, request.url.host, request.url.port or (
            443 if request.url.scheme == "https" else 80))
        connection = await self._connection(key, timeouts.get("connect"))
        try:
            async with asyncio.timeout(timeouts.get("read")):  # no task per request
                answer, reusable = await connection.exchange(_serialised(request),
                                                             request.method == "HEAD")
        except TimeoutError:
            connection.close()
            raise httpx.ReadTimeout("the upstream did not answer in time",
                                    request=request) from None
        except BaseException:
            connection.close()
            raise
        if reusable:
            idle = self._idle.setdefault(key, [])
            if len(idle) < MAX_IDLE:
                idle.append(connection)
            else:
                connection.close()
        else:
            connection.close()
        return httpx.Response(answer.status, headers=answer.headers,
                              stream=httpx.ByteStream(b"".join(answer.body)),
                              extensions={"http_version": b"HTTP/1.1",
                                          "reason_phrase": answer.reason},
                              request=request)

    async def _connection(self, key: tuple[str, str, int],
                          timeout: float | None) -> _Connection:
        idle = self._idle.get(key, [])
        while idle:
            connection = idle.pop()
            if not connection.closed and connection.transport is not None and \
                    not connection.transport.is_closing():
                return connection
        scheme, host, port = key
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                _, connection = await loop.create_connection(
                    _Connection, host, port, ssl=self._tls if scheme == "https" else None)
        except TimeoutError:
            raise httpx.ConnectTimeout(f"connecting to {host}:{port} timed out") from None
        except OSError as exc:
            raise httpx.ConnectError(f"{exc.strerror or exc} ({host}:{port})") from None
        return connection

    async def aclose(self) -> None:
        for idle in self._idle.values():
            for connection in idle:
                connection.close()
        self._idle.clear()
