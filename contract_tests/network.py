"""The network between the suite and a live target: bounded retries, and failures of the
infrastructure reported as such, never as contract violations.

A request that the network or a gateway in front of the target lost says nothing about the
contract. Against a base URL every request of the suite (the generated client, raw httpx and
Schemathesis' requests session) goes through one policy:

- 429: wait ``Retry-After`` (else ``X-Ratelimit-Reset``, else 1 s) and send again, any method:
  a rate-limited request was refused, not applied. At most `RetryPolicy.rate_limit_retries`
  waits and `RetryPolicy.max_rate_limit_wait_s` seconds per request.
- the connection could not be opened (connect error or timeout, no free connection): send
  again, any method: nothing was sent.
- any other network failure (reset, closed without an answer, read timeout) and 502/503/504:
  send again only if the method is idempotent (GET, HEAD, OPTIONS, PUT, DELETE). A POST or PATCH
  may have been applied before the answer was lost, so it is never re-sent blindly; callers
  that can prove it was not applied (a create with a key of their own, `provisioning`) retry
  themselves.
- when retries run out, or may not be made: `InfrastructureError`. The report counts it under
  "infrastructure", apart from contract failures.

`InfrastructureError` derives from BaseException, like pytest's own outcomes and
KeyboardInterrupt, and unlike every check's failure: Hypothesis does not catch it, so a lost
request ends its test at once instead of being shrunk and replayed against the same flaky network
(where the replay fails elsewhere or not at all: "Flaky", "Inconsistent data generation" -- errors
that would read as the suite's or the server's), and no ``except Exception`` on the way
(Schemathesis' included) turns it into something else. pytest reports the test as failed;
the report plugin as "infra".

The in-process target has no network: none of this applies to it.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import httpx

from generated._http import retry_after

from .interrupts import INTERRUPTS
from .pacing import Pacer

__all__ = [
    "GATEWAY_STATUSES",
    "IDEMPOTENT_METHODS",
    "InfrastructureError",
    "RetryPolicy",
    "RetryingTransport",
    "is_infrastructure",
    "retrying_session",
]

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
GATEWAY_STATUSES = frozenset({502, 503, 504})  # a gateway's answers, not the API's (undocumented)

Event = Callable[[str], None]


class InfrastructureError(BaseException):
    """The target could not be reached reliably enough to judge the contract: the network or a
    gateway failed (after the retries the policy allows). Not a contract violation. A
    BaseException on purpose (module docstring)."""


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 4  # sends per request on network failures and 502/503/504
    backoff_s: float = 0.2  # first pause between them, doubled each time
    max_backoff_s: float = 2.0
    rate_limit_retries: int = 6  # 429 waits per request
    max_rate_limit_wait_s: float = 60.0  # total Retry-After wait per request
    jitter_s: float = 0.25  # added to each 429 wait

    def backoff(self, failures: int) -> float:
        return float(min(self.max_backoff_s, self.backoff_s * 2 ** (failures - 1)))


class _Answer(Protocol):
    """What the retry loop reads of an httpx or a requests response."""

    @property
    def status_code(self) -> int: ...

    @property
    def headers(self) -> Mapping[str, str]: ...


_R = TypeVar("_R", bound=_Answer)


class _Attempts:
    """The retry decisions for one request (shared by the httpx and requests paths)."""

    def __init__(self, policy: RetryPolicy, method: str, path: str, on_event: Event | None,
                 sleep: Callable[[float], None], rng: random.Random,
                 pacer: Pacer | None = None, credential: str | None = None) -> None:
        self.policy, self.method, self.path = policy, method.upper(), path
        self.pacer, self.credential = pacer, credential
        self.idempotent = self.method in IDEMPOTENT_METHODS
        self.on_event = on_event or (lambda _: None)
        self.sleep, self.rng = sleep, rng
        self.failures = 0
        self.limited = 0
        self.waited = 0.0

    def _what(self) -> str:
        return f"{self.method} {self.path}"

    def send(self, send_once: Callable[[], _R], network_errors: tuple[type[BaseException], ...],
             unsent: Callable[[BaseException], bool], discard: Callable[[_R], None]) -> _R:
        """Send until the API answers; or raise `InfrastructureError`. ``discard`` reads and
        closes an answer that is not returned, so that its connection can be reused."""
        while True:
            INTERRUPTS.check()
            if self.pacer is not None:
                self.pacer.before_send(self._what(), self.credential)
            try:
                response = send_once()
            except network_errors as exc:
                error = self.after_network_failure(exc, unsent(exc))
                if error is None:
                    continue
                raise error from exc
            if self.pacer is not None:
                self.pacer.after_answer(response.headers, self.credential)
            status = response.status_code
            if status in GATEWAY_STATUSES:
                error = self.after_gateway_error(status)
            elif status == 429:
                error = self.after_rate_limit(response.headers)
            else:
                return response
            discard(response)
            if error is not None:
                raise error

    def after_network_failure(self, exc: BaseException, unsent: bool) -> InfrastructureError | None:
        """None: sleep done, send again. Else the error to raise."""
        reason = f"{exc}; {type(exc).__name__}" if str(exc) else type(exc).__name__
        if (unsent or self.idempotent) and self.failures + 1 < self.policy.attempts:
            self.failures += 1
            self.on_event("retried after a network failure")
            self.sleep(self.policy.backoff(self.failures))
            return None
        self.on_event("gave up: network failure")
        return InfrastructureError(self._gave_up(f"network failure ({reason})", unsent))

    def after_gateway_error(self, status: int) -> InfrastructureError | None:
        if self.idempotent and self.failures + 1 < self.policy.attempts:
            self.failures += 1
            self.on_event(f"retried after HTTP {status}")
            self.sleep(self.policy.backoff(self.failures))
            return None
        self.on_event(f"gave up: HTTP {status}")
        return InfrastructureError(self._gave_up(f"HTTP {status} from a gateway", False))

    def after_rate_limit(self, headers: Mapping[str, str]) -> InfrastructureError | None:
        delay = retry_after(headers) + self.rng.uniform(0, self.policy.jitter_s)
        if (self.limited < self.policy.rate_limit_retries
                and self.waited + delay <= self.policy.max_rate_limit_wait_s):
            self.limited += 1
            self.waited += delay
            self.on_event("waited after HTTP 429")
            self.sleep(delay)
            return None
        self.on_event("gave up: HTTP 429")
        return InfrastructureError(
            f"{self._what()}: still rate limited (429) after {self.limited} waits "
            f"({self.waited:.1f} s): the target's rate budget is exhausted")

    def _gave_up(self, what: str, unsent: bool) -> str:
        tries = self.failures + 1
        if unsent or self.idempotent:
            return f"{self._what()}: {what}, {tries} attempt(s)"
        return (f"{self._what()}: {what}; not re-sent: it may have been applied before the "
                "answer was lost")


def _httpx_unsent(exc: BaseException) -> bool:
    return isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)


def _discard_httpx(response: httpx.Response) -> None:
    response.read()
    response.close()


class RetryingTransport(httpx.BaseTransport):
    """Wraps the HTTP transport of a live target with the policy above."""

    def __init__(self, inner: httpx.BaseTransport, policy: RetryPolicy | None = None,
                 on_event: Event | None = None, sleep: Callable[[float], None] = time.sleep,
                 pacer: Pacer | None = None) -> None:
        self._inner = inner
        self.policy = policy or RetryPolicy()
        self._on_event = on_event
        self._sleep = sleep
        self._rng = random.Random()
        self._pacer = pacer

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.read()
        attempts = _Attempts(self.policy, request.method, request.url.path, self._on_event,
                             self._sleep, self._rng, self._pacer,
                             request.headers.get("authorization"))
        return attempts.send(lambda: self._inner.handle_request(request),
                             (httpx.TransportError,), _httpx_unsent, _discard_httpx)

    def close(self) -> None:
        self._inner.close()


def _requests_unsent(exc: BaseException) -> bool:
    import requests
    from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    seen: set[int] = set()
    stack: list[Any] = [exc]
    while stack:  # the urllib3 reason sits in args / __cause__ / __context__ / .reason
        current = stack.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, NewConnectionError | ConnectTimeoutError):
            return True
        if isinstance(current, BaseException):
            stack += [current.__cause__, current.__context__, getattr(current, "reason", None),
                      *(a for a in current.args if isinstance(a, BaseException))]
    return False


def _discard_requests(response: Any) -> None:
    response.content  # noqa: B018  # read it, so the connection can be reused
    response.close()


def retrying_session(policy: RetryPolicy | None = None, on_event: Event | None = None,
                     timeout_s: float = 30.0, pacer: Pacer | None = None) -> Any:
    """A `requests.Session` (for Schemathesis' ``case.call``) with the same policy."""
    import requests
    from requests.adapters import HTTPAdapter

    chosen = policy or RetryPolicy()
    rng = random.Random()

    class RetryingAdapter(HTTPAdapter):
        def send(self, request: Any, **kwargs: Any) -> Any:  # type: ignore[override]
            if kwargs.get("timeout") is None:
                kwargs["timeout"] = timeout_s
            path = request.path_url.split("?", 1)[0]
            attempts = _Attempts(chosen, request.method or "GET", path, on_event, time.sleep, rng,
                                 pacer, request.headers.get("Authorization"))
            return attempts.send(
                lambda: super(RetryingAdapter, self).send(request, **kwargs),
                (requests.exceptions.ConnectionError, requests.exceptions.Timeout),
                _requests_unsent, _discard_requests)

    session = requests.Session()
    adapter = RetryingAdapter(max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def is_infrastructure(exc: BaseException) -> bool:
    """Whether an exception says the network failed rather than the server broke a rule."""
    if isinstance(exc, InfrastructureError | httpx.TransportError):
        return True
    try:
        import requests
    except ImportError:  # pragma: no cover - Schemathesis brings it
        return False
    return isinstance(exc, requests.exceptions.ConnectionError | requests.exceptions.Timeout)
