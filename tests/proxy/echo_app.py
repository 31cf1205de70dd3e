"""An upstream for the transparency tests: it answers with exactly what it received (method, raw
path, query, headers in order, body), with response headers and bodies a proxy might mangle;
``/slow`` answers the same after a pause."""

from __future__ import annotations

import asyncio
import base64
import gzip
import json
from typing import Any

ODD_HEADERS = [(b"x-multi", b"one"), (b"x-multi", b"two"), (b"X-Odd-Case", b"Value; q=1"),
               (b"cache-control", b"no-store")]
SLOW_S = 0.3  # how long /slow waits before it answers


def create() -> Any:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        if scope["path"] == "/slow":  # an upstream that takes its time
            await asyncio.sleep(SLOW_S)
        if scope["path"] == "/chunked":  # no Content-Length: sent in chunks
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"text/plain"), *ODD_HEADERS]})
            for part in (b"first part, ", b"", b"second part"):
                await send({"type": "http.response.body", "body": part, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
            return
        if scope["path"] == "/gzip":
            payload = gzip.compress(b'{"compressed": true}', mtime=0)
            headers = [(b"content-type", b"application/json"), (b"content-encoding", b"gzip")]
        elif scope["path"] == "/binary":
            payload, headers = bytes(range(256)), [(b"content-type", b"application/octet-stream")]
        else:
            payload = json.dumps({
                "method": scope["method"], "raw_path": scope["raw_path"].decode("latin-1"),
                "query": scope["query_string"].decode("latin-1"),
                "headers": [[k.decode("latin-1"), v.decode("latin-1")]
                            for k, v in scope["headers"]],
                "body": base64.b64encode(body).decode("ascii")}).encode()
            headers = [(b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": 299 if body == b"odd" else 200,
                    "headers": [*headers, *ODD_HEADERS,
                                (b"content-length", str(len(payload)).encode())]})
        await send({"type": "http.response.body", "body": payload})

    return app
