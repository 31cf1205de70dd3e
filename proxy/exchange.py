"""One request and its answer as the proxy saw them, with every credential already taken out.

An `Exchange` is what every later stage works on (the checks, the HAR file, the reports), so a
token is removed once, here: the Authorization header becomes a `Credential`, its scheme and the
token's label (`writer`, `reader` for the environment's tokens, else `token-1`, ...;
`proxy.tokens`), and any token value anywhere else in the exchange becomes ``***``. The tokens
themselves stay in `Credentials`, in memory only.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import httpx

from contract_tests.recorder import redact_secrets

from .tokens import Credential, split_authorization, token_roles

__all__ = ["CREDENTIAL_HEADERS", "HOP_BY_HOP", "NOT_JSON", "Credentials", "Exchange",
           "end_to_end"]

# RFC 9110 section 7.6.1 and the headers every proxy treats so (RFC 2616 section 13.5.1)
HOP_BY_HOP = frozenset({
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection",
    "te", "trailer", "transfer-encoding", "upgrade",
})
CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie"})
MIN_SECRET = 8
Headers = tuple[tuple[str, str], ...]


def end_to_end(headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """The headers a proxy passes on: all but the hop-by-hop ones and those the Connection
    header names."""
    pairs = list(headers)
    named = {token.strip().lower() for name, value in pairs if name.lower() == "connection"
             for token in value.split(",")}
    return [(n, v) for n, v in pairs if n.lower() not in HOP_BY_HOP and n.lower() not in named]


@dataclass
class Credentials:
    """The tokens seen so far (in memory only) and the label each is written as."""

    roles: Mapping[str, str] = field(default_factory=token_roles)  # token -> role label
    labels: dict[str, str] = field(init=False, default_factory=dict)  # token -> label
    secrets: tuple[str, ...] = field(init=False, default=())  # every token value to keep out
    _opaque: int = field(init=False, default=0)  # `token-N` labels given

    def __post_init__(self) -> None:
        self._update()

    def _update(self) -> None:
        """Values shorter than `MIN_SECRET` are no credential and would garble every text
        they occur in."""
        self.secrets = tuple(s for s in {**self.roles, **self.labels} if len(s) >= MIN_SECRET)

    def label(self, token: str) -> str:
        """Its role, or the next `token-N`; one token keeps one label."""
        if token not in self.labels:
            role = self.roles.get(token)
            if role is None:
                self._opaque += 1
            self.labels[token] = role or f"token-{self._opaque}"
            self._update()
        return self.labels[token]

    def redact(self, text: str) -> str:
        return redact_secrets(text, self.secrets) if self.secrets else text

    def redact_bytes(self, data: bytes) -> bytes:
        if not self.secrets or not any(s.encode() in data for s in self.secrets):
            return data
        return self.redact(data.decode("utf-8", "surrogateescape")).encode(
            "utf-8", "surrogateescape")

    def scrub(self, headers: Iterable[tuple[str, str]]) -> tuple[Headers, Credential | None]:
        """Headers without credentials, and the Authorization header as a `Credential` (None:
        the request carried none). Credential headers other than Authorization are dropped."""
        kept, credential = [], None
        for name, value in headers:
            lowered = name.lower()
            if lowered == "authorization":
                scheme, token = split_authorization(value)
                credential = Credential(self.label(token), scheme)
            elif lowered not in CREDENTIAL_HEADERS:
                kept.append((lowered, self.redact(value)))
        return tuple(kept), credential


@dataclass(frozen=True)
class Exchange:
    """A request and its answer; ``status`` None when no API answered (`infrastructure` says
    why). Bodies are as on the wire but content-decoded. Also duck-types the parts of an httpx
    response the suite's `check_error_body` reads (`status_code`, `json()`)."""

    index: int
    started_at: float  # Unix time, seconds
    duration_ms: float
    method: str
    url: str  # where it went, credentials removed
    path: str  # as sent (percent-encoded)
    request_headers: Headers
    request_body: bytes
    credential: Credential | None  # None: no Authorization header
    status: int | None
    response_headers: Headers = ()
    response_body: bytes = b""
    infrastructure: str | None = None  # the network or a gateway failed, not the API

    @classmethod
    def from_httpx(cls, index: int, request: httpx.Request, response: httpx.Response | None,
                   credentials: Credentials, started_at: float, duration_ms: float,
                   infrastructure: str | None = None) -> Exchange:
        """An exchange an httpx client made (replays, the fidelity comparison); the response
        read already."""
        headers, credential = credentials.scrub(request.headers.multi_items())
        answer_headers, _ = credentials.scrub(response.headers.multi_items()) if (
            response is not None) else ((), None)
        return cls(
            index=index, started_at=started_at, duration_ms=duration_ms,
            method=request.method, url=credentials.redact(str(request.url)),
            path=request.url.raw_path.split(b"?", 1)[0].decode("ascii"),
            request_headers=headers, request_body=credentials.redact_bytes(request.content),
            credential=credential, status=response.status_code if response is not None else None,
            response_headers=answer_headers,
            response_body=credentials.redact_bytes(response.content) if response is not None
            else b"", infrastructure=infrastructure)

    @property
    def status_code(self) -> int:
        return self.status or 0

    def json(self) -> Any:
        return json.loads(self.response_body)

    def request_header(self, name: str) -> str | None:
        return _header(self.request_headers, name)

    def response_header(self, name: str) -> str | None:
        return _header(self.response_headers, name)

    @cached_property
    def request_json(self) -> Any:
        """The request body as JSON, or `NOT_JSON`."""
        return _parse(self.request_body)

    @cached_property
    def response_json(self) -> Any:
        return _parse(self.response_body)

    def summary(self) -> Mapping[str, Any]:
        """What a report shows of the exchange (credentials are already out)."""
        return {
            "index": self.index, "method": self.method, "url": self.url,
            "credential": str(self.credential) if self.credential else None,
            "status": self.status,
            "request_content_type": self.request_header("content-type"),
            "request_body": _excerpt(self.request_body),
            "response_content_type": self.response_header("content-type"),
            "response_body": _excerpt(self.response_body),
            **({"infrastructure": self.infrastructure} if self.infrastructure else {}),
        }


class _NotJson:
    def __repr__(self) -> str:
        return "NOT_JSON"


NOT_JSON: Any = _NotJson()
EXCERPT = 2000


def _parse(raw: bytes) -> Any:
    if not raw:
        return NOT_JSON
    try:
        return json.loads(raw)
    except ValueError:
        return NOT_JSON


def _header(headers: Headers, name: str) -> str | None:
    wanted = name.lower()
    return next((v for n, v in headers if n == wanted), None)


def _excerpt(body: bytes) -> str:
    text = body.decode("utf-8", "replace")
    return text if len(text) <= EXCERPT else text[:EXCERPT] + " …(truncated)"
