"""Records every exchange the suite makes: what the conformance report shows was exercised.

An httpx transport wrapper, so every test's traffic is seen in one place whatever the target:
which operations answered which status codes, which instruction kinds succeeded or failed, and
the last requests of the running test (turned into curl reproductions when it fails). Tokens are
never stored: the Authorization header is replaced before anything is kept.
"""

from __future__ import annotations

import json
import re
import shlex
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from generated.operations import OPERATIONS, SEMANTIC_PATCH_MEDIA_TYPE

from .interrupts import INTERRUPTS
from .network import InfrastructureError

__all__ = ["Exchange", "Recorder", "RecordingTransport", "operation_for", "redact_secrets"]

TOKEN_PLACEHOLDER = "$LD_API_TOKEN"
_ROUTES = [
    (op.method.upper(), re.compile("^" + re.sub(r"\{[^/]+\}", "[^/]+", op.path) + "$"), op_id)
    for op_id, op in OPERATIONS.items()
]


def operation_for(method: str, path: str) -> str | None:
    """The operationId a request goes to, or None (admin routes, unknown paths)."""
    for route_method, pattern, op_id in _ROUTES:
        if route_method == method.upper() and pattern.match(path):
            return op_id
    return None


ELLIPSES = ("...", "…")
MIN_FRAGMENT = 6  # shorter pieces of a secret next to an ellipsis are left alone


def redact_secrets(text: str, secrets: tuple[str, ...] | list[str]) -> str:
    """Every secret replaced by ``***``; also a secret cut in two by a shortened repr (pytest's
    saferepr keeps a long repr's start and end around ``...``): its start before an ellipsis
    and its end after one."""
    for secret in secrets:
        text = text.replace(secret, "***")
    if not any(e in text for e in ELLIPSES):
        return text
    for secret in secrets:
        for ellipsis in ELLIPSES:
            if ellipsis not in text:
                continue
            for size in range(len(secret) - 1, MIN_FRAGMENT - 1, -1):
                text = text.replace(secret[:size] + ellipsis, "***" + ellipsis)
                text = text.replace(ellipsis + secret[-size:], ellipsis + "***")
    return text


@dataclass(frozen=True)
class Exchange:
    """One request and its response, with the token already removed."""

    method: str
    url: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    status: int | None  # None: no response (network failure)
    response_excerpt: str

    def as_curl(self) -> str:
        parts = ["curl", "-sS", "-X", self.method, shlex.quote(self.url)]
        for name, value in self.headers:
            if name.lower() == "authorization":
                parts += ["-H", f'"Authorization: {TOKEN_PLACEHOLDER}"']
            elif name.lower() in ("content-type", "accept"):
                parts += ["-H", shlex.quote(f"{name}: {value}")]
        if self.body:
            parts += ["--data-binary", shlex.quote(self.body.decode("utf-8", "replace"))]
        return " ".join(parts)


@dataclass
class Recorder:
    """Counters for the report, plus the recent exchanges of the current test."""

    secrets: tuple[str, ...] = ()
    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)
    outcomes: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    recent: deque[Exchange] = field(default_factory=lambda: deque(maxlen=5))
    requests: int = 0
    network: Counter[str] = field(default_factory=Counter)  # retries and give-ups (network.py)
    # where the documents allow several answers: (open point, the answer seen) -> times
    choices: Counter[tuple[str, str]] = field(default_factory=Counter)
    # told of every request, with its operationId when it has one (progress.py)
    on_request: Callable[[str | None], None] | None = None

    def network_event(self, event: str) -> None:
        self.network[event] += 1

    def record_choice(self, point: str, answer: str) -> None:
        """The server picked `answer` where the documents allow several (docs/assertions.md);
        the report lists them, so a team sees which reading its server follows."""
        self.choices[(point, answer)] += 1

    def redact(self, text: str) -> str:
        return redact_secrets(text, self.secrets)

    def record(self, request: httpx.Request, response: httpx.Response | None) -> None:
        self.requests += 1
        status = response.status_code if response is not None else None
        excerpt = self.redact(response.content[:300].decode("utf-8", "replace")) if (
            response is not None
        ) else "(no response)"
        headers = tuple(
            (k, "***" if k.lower() == "authorization" else self.redact(v))
            for k, v in request.headers.items()
        )
        self.recent.append(
            Exchange(request.method, self.redact(str(request.url)), headers,
                     self.redact(request.content.decode("utf-8", "replace")).encode(),
                     status, excerpt)
        )
        operation_id = operation_for(request.method, request.url.path)
        if self.on_request is not None:
            self.on_request(operation_id)
        if operation_id is None or status is None:
            return
        self.statuses[(operation_id, status)] += 1
        self._record_outcomes(operation_id, request, response)

    def record_status(self, operation_id: str, status: int) -> None:
        """For traffic that does not pass through the transport (Schemathesis' own client)."""
        self.requests += 1
        self.statuses[(operation_id, status)] += 1
        if self.on_request is not None:
            self.on_request(operation_id)

    def _record_outcomes(
        self, operation_id: str, request: httpx.Request, response: httpx.Response | None
    ) -> None:
        media = request.headers.get("content-type", "").replace(" ", "").lower()
        if response is None or response.status_code != 200:
            return
        if media != SEMANTIC_PATCH_MEDIA_TYPE.replace(" ", "").lower():
            return
        try:
            instructions = json.loads(request.content)["instructions"]
            body = response.json()
            failed = {e["instructionIndex"] for e in body.get("errors") or []}
        except (ValueError, KeyError, TypeError, AttributeError):
            return
        if "instruction-counts" in OPERATIONS[operation_id].rules:
            self._record_answer_form(body, failed)
        for index, instruction in enumerate(instructions):
            kind = instruction.get("kind") if isinstance(instruction, dict) else None
            kind = kind if isinstance(kind, str) and kind in OPERATIONS[
                operation_id
            ].instructions else "(unknown kind)"
            outcome = "failed" if index in failed else "succeeded"
            self.outcomes[(operation_id, kind, outcome)] += 1


    def _record_answer_form(self, body: dict[str, object], failed: set[object]) -> None:
        """How a 200 PATCH answer spells what the schema leaves optional."""
        if not failed:
            self.record_choice("`errors` when no instruction failed",
                               "[]" if "errors" in body else "left out")
        counts = [body.get(n) for n in ("totalInstructions", "successfulInstructions",
                                        "failedInstructions") if n in body]
        form = ("left out" if not counts else "integer-valued decimals (1.0)" if any(
            isinstance(c, float) for c in counts) else "integers")
        self.record_choice("instruction counts", form)


class RecordingTransport(httpx.BaseTransport):
    def __init__(self, inner: httpx.BaseTransport, recorder: Recorder) -> None:
        self._inner = inner
        self._recorder = recorder

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        INTERRUPTS.check()  # a Ctrl-C that something swallowed stops the run here
        request.read()
        try:
            response = self._inner.handle_request(request)
        except (httpx.TransportError, InfrastructureError):
            self._recorder.record(request, None)
            raise
        response.read()
        self._recorder.record(request, response)
        return response

    def close(self) -> None:
        """Clients come and go; the target closes the shared inner transport itself."""
