"""The pre-flight: before any test, prove in a few seconds that a base URL can be tested as
configured, or stop with one line naming what is wrong and the variable that fixes it.

Without it a wrong setting surfaces late and disguised: a bogus read-only token as a dozen
"contract failures" (``expected 403, got 401``) minutes in, a base URL with a stray path or
a server that is not this API as "project does not exist". Each step relies on the ones
before it, so the first problem found is the one reported:

1. ``BASE_URL`` is the server's root: no path (the operations' paths start with ``/api/v2``
   already), no query, no fragment (checked with the settings, ``settings._checked_base_url``,
   so that PLAN=1, which runs no pre-flight, refuses such a URL too).
2. A GET of an unknown path under ``/api/v2`` answers 404 with a JSON ``{code, message}`` body
   (the API's error format): the host is reachable, speaks TLS if the URL says https, and is
   this API. A 401 there is the write token's (step 3).
3. The write token creates a throwaway segment (``ct-…-preflight``, the run-id prefix):
   401 rejected, 403 read-only or not granted the project. A 404 is an unknown project or an
   unknown environment; a throwaway flag (its path has no environment) tells them apart.
4. With ``LD_API_TOKEN_READONLY``: it reads that segment (not 401, not 403) and may not
   delete it (403, or 401: the reference's 401 also covers "does not have permission").
5. The write token deletes what the pre-flight created, also when a step failed or the run
   was interrupted; what it cannot delete is the problem reported.

Reads only, except the creates that are the only way to know (step 3) and the refused delete
(step 4), all on resources the pre-flight created itself. Requests go through the suite's
retry policy (network.py) with fewer network retries and short connect timeouts, so an
unreachable host is reported in seconds. No message contains a token or a response body.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote

import httpx

from generated.operations import OPERATIONS

from .interrupts import INTERRUPTS
from .network import InfrastructureError, RetryingTransport, RetryPolicy
from .pacing import Pacer
from .provisioning import create_surviving, new_run_id
from .settings import ConfigurationError, SuiteSettings

__all__ = ["check"]

POLICY = RetryPolicy(attempts=2)  # one retry after a network failure: a few seconds in all
TIMEOUT = httpx.Timeout(10.0, connect=3.0)
REJECTED = "the write token was rejected (401): check LD_API_TOKEN"
# kind -> its create, read and delete operations and the name of its key in their paths
THROWAWAYS = {"segment": ("postSegment", "getSegment", "deleteSegment", "segmentKey"),
              "flag": ("postFeatureFlag", "getFeatureFlag", "deleteFeatureFlag", "featureFlagKey")}


def check(settings: SuiteSettings) -> int:
    """Run the pre-flight against ``settings.base_url``; ConfigurationError with one line.
    Returns how many requests it sent (they count against the run's request budget)."""
    assert settings.base_url is not None, "the pre-flight is for a base URL"
    pacer = Pacer(rate=settings.rate)
    transport = RetryingTransport(httpx.HTTPTransport(retries=0), POLICY, pacer=pacer)
    with httpx.Client(base_url=settings.base_url, transport=transport, timeout=TIMEOUT) as http:
        try:
            _Preflight(settings, http).run()
        except InfrastructureError as exc:
            raise ConfigurationError(_unreachable(settings.base_url, exc)) from None
    return pacer.sent


class _Preflight:
    def __init__(self, settings: SuiteSettings, http: httpx.Client) -> None:
        self.settings, self.http = settings, http
        self.run_id = new_run_id()
        self.project, self.environment = settings.project_key, settings.environment_key
        self.where = f"project {self.project!r}, environment {self.environment!r}"

    def run(self) -> None:
        self._speaks_the_api()
        with self._throwaway("segment", f"{self.run_id}-preflight-segment") as segment:
            if self.settings.readonly_token:
                self._read_only(segment)

    def _send(self, operation_id: str, token: str | None, body: Any = None,
              **path: str) -> httpx.Response:
        """One operation of the contract (``token`` None: the write token)."""
        operation = OPERATIONS[operation_id]
        url = operation.path.format(**{name: quote(value, safe="") for name, value in
                                       path.items()})
        return self.http.request(operation.method, url, json=body,
                                 headers={"Authorization": token or self.settings.token})

    def _speaks_the_api(self) -> None:
        path = f"/api/v2/{self.run_id}-no-such-resource"
        response = self.http.get(path, headers={"Authorization": self.settings.token})
        if response.status_code == 401 and _error_body(response):
            raise ConfigurationError(REJECTED)
        if response.status_code != 404 or not _error_body(response):
            kind = response.headers.get("content-type", "no content type").split(";")[0]
            raise ConfigurationError(
                f"GET {path} answered {response.status_code} ({kind}), not 404 with a JSON "
                "{code, message} error: this is not the LaunchDarkly API; check BASE_URL"
            )

    @contextmanager
    def _throwaway(self, kind: str, key: str) -> Iterator[str]:
        """Create a segment (``kind`` "segment") or flag with the write token, yield its key,
        delete it. A create answered with a refusal created nothing, so nothing is deleted."""
        post, get, delete, key_name = THROWAWAYS[kind]
        where = {"projectKey": self.project} | (
            {"environmentKey": self.environment} if kind == "segment" else {})
        named = {key_name: key}
        created = True  # until an answer says otherwise: a lost one may have been applied
        try:
            response = create_surviving(
                lambda: self._send(post, None, {"key": key, "name": key}, **where),
                lambda: self._send(get, None, **where, **named))
            created = 200 <= response.status_code < 300
            if not created:
                self._refused_create(kind, response.status_code)
            yield key
        finally:
            if created:
                self._delete(delete, kind, key, {**where, **named})

    def _refused_create(self, kind: str, status: int) -> None:
        if status == 401:
            raise ConfigurationError(REJECTED)
        if status == 403:
            raise ConfigurationError(
                f"the write token may not create a {kind} in {self.where} (403): it is "
                "read-only or not granted the project; LD_API_TOKEN needs write access")
        if status == 404 and kind == "segment":
            with self._throwaway("flag", f"{self.run_id}-preflight-flag"):
                pass  # the project exists, so the environment does not
            raise ConfigurationError(
                f"environment {self.environment!r} does not exist in project {self.project!r} "
                "(404 creating a segment in it): check LD_ENVIRONMENT_KEY")
        if status == 404:
            raise ConfigurationError(f"project {self.project!r} does not exist (404 creating a "
                                     "flag in it): check LD_PROJECT_KEY")
        raise ConfigurationError(f"creating a {kind} in {self.where} answered {status}, not "
                                 "201: this does not behave like the LaunchDarkly API; check "
                                 "BASE_URL")

    def _read_only(self, segment: str) -> None:
        where = {"projectKey": self.project, "environmentKey": self.environment,
                 "segmentKey": segment}
        token = self.settings.readonly_token
        read = self._send("getSegment", token, **where).status_code
        if read == 401:
            raise ConfigurationError("the read-only token was rejected (401): check "
                                     "LD_API_TOKEN_READONLY (or unset it to skip the 403 checks)")
        if read != 200:
            raise ConfigurationError(f"the read-only token cannot read a segment in {self.where} "
                                     f"({read}): check LD_API_TOKEN_READONLY")
        write = self._send("deleteSegment", token, **where).status_code
        if write not in (401, 403):  # the reference allows either for "no permission"
            raise ConfigurationError(
                f"the read-only token was not refused a write (DELETE of the pre-flight's own "
                f"segment answered {write}, not 403 or 401): check LD_API_TOKEN_READONLY")

    def _delete(self, operation_id: str, kind: str, key: str, path: dict[str, str]) -> None:
        with INTERRUPTS.cleaning():  # a Ctrl-C during the pre-flight still deletes
            status = self._send(operation_id, None, **path).status_code
        if status not in (204, 404):  # 404: the refused delete was not refused after all
            raise ConfigurationError(f"could not delete the pre-flight's {kind} {key!r} "
                                     f"({status}): delete it by hand; check LD_API_TOKEN")


def _error_body(response: httpx.Response) -> bool:
    """Whether the body is the API's error format, a JSON ``{code, message}``."""
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, dict) and all(isinstance(body.get(f), str) for f in ("code", "message"))


def _unreachable(base_url: str, exc: InfrastructureError) -> str:
    """One line for a request the network lost, with a hint for the usual causes."""
    cause: BaseException | None = exc
    while cause is not None and not isinstance(cause, ssl.SSLError):
        cause = cause.__cause__ or cause.__context__
    if isinstance(cause, ssl.SSLCertVerificationError):
        return (f"its TLS certificate is not trusted ({cause.verify_message}): check BASE_URL "
                "(the host name) or the certificate authorities of this machine")
    if cause is not None:
        plain = base_url.replace("https://", "http://", 1)
        return (f"the TLS handshake failed ({cause.reason or cause}): the port seems to speak "
                f"plain HTTP; check BASE_URL ({plain}?)")
    innermost: BaseException = exc
    while innermost.__cause__ is not None:
        innermost = innermost.__cause__
    reason = str(innermost) or type(innermost).__name__
    return (f"cannot reach it ({reason}): check BASE_URL (host and port) and that the server "
            "is up")
