"""A target is configuration of one transport: in-process ASGI, or HTTP to a base URL.

Everything else in the suite (provisioning, checks, Schemathesis) goes through the same
generated client, so there is one code path for every target.
"""

from __future__ import annotations

import functools
import importlib
from typing import Any

import httpx

from generated.client import Client

from .network import RetryingTransport, retrying_session
from .pacing import Pacer
from .recorder import Recorder, RecordingTransport
from .settings import ConfigurationError, SuiteSettings
from .transport import SyncASGITransport

__all__ = ["Target", "mock_app", "open_target"]

IN_PROCESS_URL = "http://mock.local"
CLOCK_PATH = "/_admin/clock"
POLICY_PATH = "/_admin/policy"


class Target:
    """Where requests go, with which tokens, and (on the kit's mock) control of its clock."""

    def __init__(self, settings: SuiteSettings, recorder: Recorder, app: Any = None) -> None:
        self.settings = settings
        self.recorder = recorder
        self.app = app  # the ASGI app when in-process
        self.base_url = settings.base_url or IN_PROCESS_URL
        # a live target: the budget and pacing (pacing.py), bounded retries, network failures
        # raised as InfrastructureError (network.py)
        self.pacer = Pacer(settings.max_requests, settings.rate, workers=settings.workers)
        self._inner: httpx.BaseTransport = (
            SyncASGITransport(app) if app is not None else RetryingTransport(
                httpx.HTTPTransport(retries=0), on_event=recorder.network_event,
                pacer=self.pacer)
        )
        self._transport = RecordingTransport(self._inner, recorder)
        self._clients: list[Client] = []
        self._sessions: list[Any] = []

    @property
    def project(self) -> str:
        return self.settings.project_key

    @property
    def environment(self) -> str:
        return self.settings.environment_key

    def client(self, token: str | None = None, *, anonymous: bool = False) -> Client:
        """A generated client on this target; the writer token unless told otherwise."""
        chosen = None if anonymous else (token or self.settings.token)
        # no retries of its own: the transport's policy (network.py) is the kit's one policy
        client = Client(self.base_url, chosen, transport=self._transport, max_retries=0,
                        timeout=30.0)
        self._clients.append(client)
        return client

    def raw(self) -> httpx.Client:
        """A plain httpx client on this target, for requests the generated client won't send
        (wrong content types, malformed bodies). Carries no token by itself."""
        return httpx.Client(base_url=self.base_url, transport=self._transport, timeout=30.0)

    def requests_session(self) -> Any:
        """A `requests.Session` for Schemathesis' ``case.call`` on a base URL, with the same
        retry policy as the suite's own requests (network.py)."""
        session = retrying_session(on_event=self.recorder.network_event, pacer=self.pacer)
        self._sessions.append(session)
        return session

    # The kit's mock only: its clock.
    def set_clock(self, now_ms: int) -> None:
        self._clock_request("PUT", {"now": now_ms})

    def reset_clock(self) -> None:
        self._clock_request("DELETE", None)

    def now_ms(self) -> int:
        return int(self._clock_request("GET", None)["now"])

    def policy(self) -> dict[str, Any]:
        """The tier-3 policy the kit's mock runs with (mock_server/policy.py)."""
        return self._admin_request("GET", POLICY_PATH, None)

    def _clock_request(self, method: str, body: Any) -> dict[str, Any]:
        return self._admin_request(method, CLOCK_PATH, body)

    def _admin_request(self, method: str, path: str, body: Any) -> dict[str, Any]:
        if not self.settings.kit_mock:
            raise RuntimeError("the admin routes exist only on the kit's mock server")
        with self.raw() as http:
            response = http.request(method, path, json=body,
                                    headers={"Authorization": self.settings.token})
        response.raise_for_status()
        return response.json()  # type: ignore[no-any-return]

    def close(self) -> None:
        for client in self._clients:
            client.close()
        for session in self._sessions:
            session.close()
        self._inner.close()


def mock_app(policy: str = "reference") -> Any:
    """The default in-process app: the kit's mock, admin clock on, no rate limit, with the
    tier-3 policy variant `policy`."""
    from mock_server import create_mock_app
    from mock_server.config import load_config
    from mock_server.policy import VARIANTS

    return create_mock_app(load_config().with_overrides(
        admin=True, rate_limit=None, policy=VARIANTS[policy]))


def open_target(settings: SuiteSettings, recorder: Recorder) -> Target:
    """Build the target; in-process it is the app `--app` names (default: `mock_app`)."""
    if not settings.in_process:
        return Target(settings, recorder)
    factory: Any = functools.partial(mock_app, settings.mock_policy)
    if settings.app_factory:
        module_name, _, attribute = settings.app_factory.partition(":")
        try:
            factory = getattr(importlib.import_module(module_name), attribute)
        except (ImportError, AttributeError) as exc:
            raise ConfigurationError(f"--app {settings.app_factory}: {exc}") from None
    return Target(settings, recorder, app=factory())
