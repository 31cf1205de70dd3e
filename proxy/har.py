"""HAR 1.2 files (http://www.softwareishard.com/blog/har-12-spec/): the traffic the proxy saw,
to keep, to read in a browser's network panel, and to send again (`proxy.replay`).

No credential is written: the Authorization header is left out and the entry says which token
the request carried instead (`_authorization`: `writer`, `reader` or `token-N`, `proxy.tokens`;
absent when it carried none) and how (`_authorizationScheme: Bearer`; absent for a bare token),
so a replay can send a token of its own, spelt the same, where the recorded one went. Other
credential headers (cookies) are dropped; a token value anywhere else was already replaced by
``***`` in the `Exchange`.
"""

from __future__ import annotations

import base64
import datetime as dt
import http
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from .files import write_atomically
from .tokens import Credential

if TYPE_CHECKING:
    from .exchange import Exchange

__all__ = ["HarError", "HarLog", "RecordedRequest", "read_har"]

CREATOR = {"name": "expiring-targets-kit proxy", "version": "0.1.0"}
AUTHORIZATION, SCHEME = "_authorization", "_authorizationScheme"


class HarError(ValueError):
    """The file is not a HAR file the replay can use; the message says why."""


def _body(data: bytes) -> dict[str, str]:
    try:
        return {"text": data.decode("utf-8")}
    except UnicodeDecodeError:
        return {"text": base64.b64encode(data).decode("ascii"), "encoding": "base64"}


def _headers(pairs: Iterable[tuple[str, str]]) -> list[dict[str, str]]:
    return [{"name": name, "value": value} for name, value in pairs]


def entry(exchange: Exchange) -> dict[str, Any]:
    """One exchange as a HAR entry."""
    content_type = exchange.request_header("content-type") or ""
    request: dict[str, Any] = {
        "method": exchange.method, "url": exchange.url, "httpVersion": "HTTP/1.1",
        "cookies": [], "headers": _headers(exchange.request_headers),
        "queryString": [{"name": k, "value": v}
                        for k, v in parse_qsl(urlsplit(exchange.url).query)],
        "headersSize": -1, "bodySize": len(exchange.request_body),
    }
    if exchange.request_body:
        body = _body(exchange.request_body)
        request["postData"] = {"mimeType": content_type, "text": body["text"],
                               **({"_encoding": "base64"} if "encoding" in body else {})}
    status = exchange.status or 0
    response: dict[str, Any] = {
        "status": status, "statusText": _reason(status), "httpVersion": "HTTP/1.1",
        "cookies": [], "headers": _headers(exchange.response_headers),
        "content": {"size": len(exchange.response_body),
                    "mimeType": exchange.response_header("content-type") or "",
                    **_body(exchange.response_body)},
        "redirectURL": exchange.response_header("location") or "",
        "headersSize": -1, "bodySize": len(exchange.response_body),
    }
    recorded: dict[str, Any] = {
        "startedDateTime": dt.datetime.fromtimestamp(exchange.started_at, dt.UTC).isoformat(
            timespec="milliseconds").replace("+00:00", "Z"),
        "time": round(exchange.duration_ms, 3), "request": request, "response": response,
        "cache": {}, "timings": {"send": 0, "wait": round(exchange.duration_ms, 3),
                                 "receive": 0},
    }
    if exchange.credential is not None:
        recorded[AUTHORIZATION] = exchange.credential.label
        if exchange.credential.scheme is not None:
            recorded[SCHEME] = exchange.credential.scheme
    if exchange.infrastructure is not None:
        recorded["_error"] = exchange.infrastructure
    return recorded


def _reason(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return ""


class HarLog:
    """The entries so far; written whole at the end."""

    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []

    def add(self, exchange: Exchange) -> None:
        self.entries.append(entry(exchange))

    def write(self, path: Path, redact: Callable[[str], str]) -> Path:
        """The whole file at once; `redact` is the last guard against a token in it."""
        document = {"log": {"version": "1.2", "creator": CREATOR, "entries": self.entries}}
        return write_atomically(path, redact(json.dumps(document, indent=1,
                                                        ensure_ascii=False) + "\n"))


@dataclass(frozen=True)
class RecordedRequest:
    """What a replay needs of an entry."""

    method: str
    path_and_query: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    credential: Credential | None


def read_har(path: Path) -> list[RecordedRequest]:
    """The requests of a HAR file, in order; `HarError` naming the first problem."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise HarError(f"cannot read it ({exc.strerror or exc})") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise HarError(f"it is not JSON ({exc})") from None
    log = document.get("log") if isinstance(document, dict) else None
    if not isinstance(log, dict) or not isinstance(log.get("entries"), list):
        raise HarError("it has no log.entries array: not a HAR file")
    if not str(log.get("version", "")).startswith("1."):
        raise HarError(f"log.version is {log.get('version')!r}, not a HAR 1.x version")
    return [_request(number, e) for number, e in enumerate(log["entries"], 1)]


def _request(number: int, recorded: Any) -> RecordedRequest:
    request = recorded.get("request") if isinstance(recorded, dict) else None
    if not isinstance(request, dict) or not isinstance(request.get("method"), str) or \
            not isinstance(request.get("url"), str):
        raise HarError(f"entry {number} has no request with a method and a url")
    url = urlsplit(request["url"])
    headers = tuple((str(h.get("name")), str(h.get("value"))) for h in _list(
        request.get("headers"), number, "request.headers"))
    post = request.get("postData") or {}
    text = post.get("text", "") if isinstance(post, dict) else None
    if not isinstance(text, str):
        raise HarError(f"entry {number}: request.postData is not an object with a text")
    try:
        body = base64.b64decode(text) if post.get("_encoding") == "base64" else text.encode()
    except ValueError:
        raise HarError(f"entry {number}: its base64 postData text cannot be decoded") from None
    return RecordedRequest(request["method"], (url.path or "/") + (
        f"?{url.query}" if url.query else ""), headers, body, _credential(number, recorded))


def _credential(number: int, recorded: dict[str, Any]) -> Credential | None:
    label, scheme = recorded.get(AUTHORIZATION), recorded.get(SCHEME)
    if label is None:
        return None
    if not isinstance(label, str) or not isinstance(scheme, str | None):
        raise HarError(f"entry {number}: {AUTHORIZATION} and {SCHEME} are not strings")
    return Credential(label, scheme)


def _list(value: Any, number: int, what: str) -> Sequence[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise HarError(f"entry {number}: {what} is not a list of name/value objects")
    return value
