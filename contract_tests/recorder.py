"""Records every exchange the suite makes: what the conformance report shows was exercised.

An httpx transport wrapper, so every test's traffic is seen in one place whatever the target:
which operations answered which status codes, which instruction kinds succeeded or failed (and
for which documented reason, where the test that sent it says), which parameters, optional body
fields and error codes each operation saw, which rules' checks ran for it (usage.py names
them: the coverage report), the requests of the running test case (turned into curl commands and repro scripts when it fails),
and the setup writes of the whole session (what a repro script must provision again). Tokens are
never stored: each request's Authorization value is compared with the settings' tokens, kept
only as which kind of credential it was (`Credential`), and dropped.
"""

from __future__ import annotations

import json
import shlex
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Literal

import httpx
from hypothesis import currently_in_test_context
from hypothesis.control import current_build_context

from generated._runtime import media_type_matches
from generated.operations import OPERATIONS, SEMANTIC_PATCH_MEDIA_TYPE, match_operation

from .interrupts import INTERRUPTS
from .network import InfrastructureError
from .usage import error_code, fields_used, instruction_item, parameters_used

__all__ = [
    "CREDENTIAL_PLACEHOLDERS", "Credential", "Exchange", "Recorder", "RecordingTransport",
    "operation_for", "redact_secrets",
]

# Which token a request carried: the writer's, the read-only one, or one the settings do not
# know (the suite's made-up tokens); None on an Exchange: no Authorization header at all.
Credential = Literal["writer", "readonly", "unknown"]
# What reproductions write instead of a token: the variables the suite reads them from, and a
# named stand-in for a made-up one.
CREDENTIAL_PLACEHOLDERS: Mapping[Credential, str] = {
    "writer": "$LD_API_TOKEN", "readonly": "$LD_API_TOKEN_READONLY",
    "unknown": "api-unknown-token",
}
MAX_ANSWER = 65_536  # characters of a response body kept with an exchange
RECENT = 256  # exchanges of the running test case kept (a stateful run sends many)
ANSWERED = 8  # operations of the latest requests a rule's check may be about


def operation_for(method: str, path: str) -> str | None:
    """The operationId a request goes to, or None (admin routes, unknown paths)."""
    matched = match_operation(method, path)
    return matched[0].operation_id if matched is not None else None


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
    """One request and its response; no Authorization header, only which credential it was."""

    method: str
    url: str
    headers: tuple[tuple[str, str], ...]  # never Authorization
    body: bytes
    status: int | None  # None: no response (network failure)
    response_excerpt: str
    credential: Credential | None = None  # None: the request carried no Authorization

    @property
    def operation(self) -> str | None:
        return operation_for(self.method, httpx.URL(self.url).path)

    @property
    def is_write(self) -> bool:
        return self.method.upper() not in ("GET", "HEAD", "OPTIONS")

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)

    def as_curl(self) -> str:
        parts = ["curl", "-sS", "-X", self.method, shlex.quote(self.url)]
        if self.credential is not None:
            parts += ["-H", f'"Authorization: {CREDENTIAL_PLACEHOLDERS[self.credential]}"']
        for name, value in self.headers:
            if name.lower() in ("content-type", "accept"):
                parts += ["-H", shlex.quote(f"{name}: {value}")]
        if self.body:
            parts += ["--data-binary", shlex.quote(self.body.decode("utf-8", "replace"))]
        return " ".join(parts)


@dataclass
class Recorder:
    """Counters for the report, the exchanges of the running test case, the session's setup.

    `recent` holds the exchanges since the running test started or, within a Hypothesis test,
    since the test case (example) in progress began: when a test fails, they are the failing
    example's (Hypothesis replays it last). `setup_writes` holds, for the whole session, every
    successful write sent while pytest set a fixture up (`setting_up`) and
    every successful create: what made the state a failing request met.
    """

    secrets: tuple[str, ...] = ()
    credentials: Mapping[str, Credential] = field(default_factory=dict)  # token -> its kind
    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)
    outcomes: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    # (operation, dimension, item) -> times: rules checked, parameters and fields sent or not,
    # error codes, instruction failure reasons (usage.py)
    usage: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    recent: deque[Exchange] = field(default_factory=lambda: deque(maxlen=RECENT))
    setup_writes: list[Exchange] = field(default_factory=list)
    setting_up: bool = False  # a fixture is being set up (set by the report plugin)
    requests: int = 0
    network: Counter[str] = field(default_factory=Counter)  # retries and give-ups (network.py)
    # where the documents allow several answers: (open point, the answer seen) -> times
    choices: Counter[tuple[str, str]] = field(default_factory=Counter)
    # told of every request, with its operationId when it has one (progress.py)
    on_request: Callable[[str | None], None] | None = None
    test_operation: str | None = None  # the running test's operation, if it is about one
    checks_rules: bool = False  # the running test's checks count as rules exercised
    # the operations of the latest answered requests, oldest first (rule_checked)
    _answered: deque[str] = field(default_factory=lambda: deque(maxlen=ANSWERED), repr=False)
    _reasons: Mapping[int, str] = field(default_factory=dict, repr=False)  # see `expecting`
    _test_case: object = field(default=None, repr=False)  # the Hypothesis test case running

    def network_event(self, event: str) -> None:
        self.network[event] += 1

    def record_choice(self, point: str, answer: str) -> None:
        """The server picked `answer` where the documents allow several (docs/assertions.md);
        the report lists them, so a team sees which reading its server follows."""
        self.choices[(point, answer)] += 1

    @classmethod
    def for_tokens(cls, writer: str, readonly: str | None = None) -> Recorder:
        """A recorder that redacts both tokens and knows which is which."""
        credentials: dict[str, Credential] = {writer: "writer"}
        if readonly:
            credentials.setdefault(readonly, "readonly")
        return cls(secrets=tuple(credentials), credentials=credentials)

    def redact(self, text: str) -> str:
        return redact_secrets(text, self.secrets)

    def start_test(self, operation: str | None = None, checks_rules: bool = False) -> None:
        """A test starts: its exchanges alone are the recent ones. `operation` is the one it is
        about (None: several); `checks_rules`: its checks count as rules exercised (a tier-2
        test: tier 3 reuses tier-2 checks for the mock's policy, which proves no rule)."""
        self.recent.clear()
        self._test_case = None
        self.test_operation = operation
        self.checks_rules = checks_rules

    def rule_checked(self, rule: str) -> None:
        """A check of `rule` ran (checks.listen): for the running test's operation if the rule
        is one of its own, else (a test about several operations, a fixture, a check of the
        PATCH a GET was read after) for the latest operation answered that has the rule."""
        if not self.checks_rules:
            return
        mine = [self.test_operation] if self.test_operation and not self.setting_up else []
        for operation in (*mine, *reversed(self._answered)):
            if rule in OPERATIONS[operation].rules:
                self.usage[(operation, "rule", rule)] += 1
                return

    @contextmanager
    def expecting(self, reasons: Mapping[int, str]) -> Iterator[None]:
        """While the block runs, a semantic patch's instruction at index i that fails is
        counted as failed for the documented reason ``reasons[i]`` (reasons.py): the test that
        composed it knows why it must fail; the answer alone cannot say."""
        outer, self._reasons = self._reasons, reasons
        try:
            yield
        finally:
            self._reasons = outer

    def record(self, request: httpx.Request, response: httpx.Response | None) -> None:
        status = response.status_code if response is not None else None
        self._keep(request.method, str(request.url), request.headers.items(), request.content,
                   status, response.content if response is not None else None)
        operation_id = operation_for(request.method, request.url.path)
        if self.on_request is not None:
            self.on_request(operation_id)
        if operation_id is None or status is None:
            return
        self._count(operation_id, str(request.url), request.headers.items(), request.content,
                    status, response.content if response is not None else b"")
        self._record_outcomes(operation_id, request, response)

    def record_external(self, operation_id: str, method: str, url: str,
                        headers: Iterable[tuple[str, str]], body: bytes, status: int,
                        content: bytes) -> None:
        """For traffic that does not pass through the transport (Schemathesis' own client):
        counted as sent, and kept as the running test case's exchange."""
        headers = list(headers)
        self._keep(method, url, headers, body, status, content)
        self._count(operation_id, url, headers, body, status, content)
        if self.on_request is not None:
            self.on_request(operation_id)

    def _count(self, operation_id: str, url: str, headers: Iterable[tuple[str, str]],
               body: bytes, status: int, content: bytes) -> None:
        """What an answered request exercised of its operation (usage.py)."""
        operation = OPERATIONS[operation_id]
        if not self._answered or self._answered[-1] != operation_id:
            self._answered.append(operation_id)
        self.statuses[(operation_id, status)] += 1
        for item in parameters_used(operation, url, headers):
            self.usage[(operation_id, "parameter", item)] += 1
        for item in fields_used(operation, body):
            self.usage[(operation_id, "field", item)] += 1
        code = error_code(status, content)
        if code is not None:
            self.usage[(operation_id, "error code", code)] += 1

    def _keep(self, method: str, url: str, headers: Iterable[tuple[str, str]], body: bytes,
              status: int | None, content: bytes | None) -> None:
        self.requests += 1
        self._follow_test_case()
        credential: Credential | None = None
        kept = []
        for name, value in headers:
            if name.lower() == "authorization":
                credential = self.credentials.get(value, "unknown")
            else:
                kept.append((name, self.redact(value)))
        excerpt = "(no response)" if content is None else self.redact(
            content[:MAX_ANSWER].decode("utf-8", "replace"))
        exchange = Exchange(method.upper(), self.redact(url), tuple(kept), self._redacted(body),
                            status, excerpt, credential)
        self.recent.append(exchange)
        succeeded = status is not None and 200 <= status < 300
        creates = method.upper() == "POST" and exchange.operation is not None
        if succeeded and exchange.is_write and (self.setting_up or creates):
            self.setup_writes.append(exchange)

    def _redacted(self, body: bytes) -> bytes:
        """The body without secrets; bytes that are not UTF-8 stay as they are."""
        try:
            return self.redact(body.decode("utf-8")).encode("utf-8")
        except UnicodeDecodeError:
            for secret in self.secrets:
                body = body.replace(secret.encode(), b"***")
            return body

    def _follow_test_case(self) -> None:
        """A new Hypothesis test case (or the end of one): its exchanges start afresh."""
        case = current_build_context() if currently_in_test_context() else None
        if case is not self._test_case:
            self._test_case = case
            self.recent.clear()

    def _record_outcomes(
        self, operation_id: str, request: httpx.Request, response: httpx.Response | None
    ) -> None:
        if response is None or response.status_code != 200:
            return
        if not media_type_matches(request.headers.get("content-type", ""),
                                  SEMANTIC_PATCH_MEDIA_TYPE):
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
            if outcome == "failed" and index in self._reasons:
                item = instruction_item(kind, outcome, self._reasons[index])
                self.usage[(operation_id, "instruction", item)] += 1

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
