"""A synchronous httpx transport that drives an ASGI app in-process, without sockets.

httpx only ships an async ASGI transport; the suite is synchronous (Hypothesis, Schemathesis), so
requests are handed to one long-lived event loop in a background thread through an anyio portal.
"""

from __future__ import annotations

from contextlib import ExitStack
from typing import Any

import anyio.from_thread
import httpx

__all__ = ["SyncASGITransport"]


class SyncASGITransport(httpx.BaseTransport):
    def __init__(self, app: Any) -> None:
        self._asgi = httpx.ASGITransport(app=app)
        self._stack = ExitStack()
        self._portal = self._stack.enter_context(anyio.from_thread.start_blocking_portal())

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.read()
        return self._portal.call(self._send, request)

    async def _send(self, request: httpx.Request) -> httpx.Response:
        response = await self._asgi.handle_async_request(request)
        content = await response.aread()
        return httpx.Response(
            status_code=response.status_code,
            headers=response.headers,
            content=content,
            request=request,
        )

    def close(self) -> None:
        self._stack.close()
