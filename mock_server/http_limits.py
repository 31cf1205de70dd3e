"""A cap on the request head (request line + headers) of the uvicorn server.

``max_body_bytes`` bounds the body, but uvicorn's httptools protocol buffers a request head of
any size (uvicorn has ``h11_max_incomplete_event_size`` for h11 only): one 50 MB header
cost several times its size in memory (docs/mock-server.md, Design figures). The httptools
protocol here counts the bytes received while a request's head is incomplete and, beyond
:data:`MAX_HEAD_BYTES`, answers 400 ``{code, message}`` and closes the connection;
``serve.py`` gives h11 the same limit.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from generated._runtime import error_body

__all__ = ["MAX_HEAD_BYTES", "http_protocol"]

#: Largest request line + headers accepted, in bytes (nginx: 32 KiB, h11's default: 16 KiB); with
#: httptools a head may exceed it by what one socket read brought (checked after each read).
MAX_HEAD_BYTES = 64 * 1024

#: After refusing a head, how long the connection reads and drops what the client still sends.
LINGER_S = 2.0


def http_protocol(name: str) -> Any:
    """What to give ``uvicorn.run(http=...)`` for ``name`` ("httptools" or "h11")."""
    return _bounded_httptools() if name == "httptools" else name


@cache
def _bounded_httptools() -> Any:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol  # needs httptools

    class BoundedHttpToolsProtocol(HttpToolsProtocol):  # type: ignore[misc]
        # bytes received since the connection opened or the last request ended, while the
        # next request's head is incomplete; None from the end of a head to the end of its body
        _head_bytes: int | None = 0

        _refused = False

        def data_received(self, data: bytes) -> None:
            if self._refused:
                return  # draining what the client still sends, so that it reads the 400
            if self._head_bytes is not None:
                self._head_bytes += len(data)
            super().data_received(data)
            # still no complete head after this chunk (which may also hold body bytes, so
            # check after parsing): the parser holds at most one chunk more than the limit
            if self._head_bytes is not None and self._head_bytes > MAX_HEAD_BYTES:
                self._head_bytes, self._refused = None, True
                if not self.transport.is_closing():
                    self.transport.write(_HEAD_TOO_LARGE)
                    if self.transport.can_write_eof():
                        self.transport.write_eof()
                    # a close now would reset the connection under a client still sending
                    self.loop.call_later(LINGER_S, self.transport.close)

        def on_headers_complete(self) -> None:
            self._head_bytes = None
            super().on_headers_complete()

        def on_message_complete(self) -> None:
            self._head_bytes = 0  # what comes next on this connection is the next head
            super().on_message_complete()

    return BoundedHttpToolsProtocol


_BODY = error_body("invalid_request", f"the request line and headers exceed {MAX_HEAD_BYTES} bytes")
_HEAD_TOO_LARGE = (
    b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\n"
    b"content-length: " + str(len(_BODY)).encode() + b"\r\nconnection: close\r\n\r\n"
    + _BODY
)
