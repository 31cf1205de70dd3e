"""Assembly: the generated app around :class:`MockBackend`, wrapped in middleware.

``create_mock_app(config, db=...)`` returns a :class:`MockServer`, itself
an ASGI application (give it to uvicorn or ``httpx.ASGITransport``), with
its clock, store and service reachable for tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .access import AccessControl
from .admin import AdminRoutes, CountRequests, Tally
from .clock import Clock, SettableClock, SystemClock
from .config import Config, load_config
from .ratelimit import FixedWindowLimiter
from .service import MockService
from .storage import Store, open_store
from .wire_policy import AlternativeErrorCodes, ExactMediaTypeValue

__all__ = ["MockServer", "create_mock_app"]


@dataclass
class MockServer:
    app: Any  # the outermost ASGI application
    config: Config
    clock: Clock
    store: Store
    service: MockService

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)

    def close(self) -> None:
        self.store.close()


def create_mock_app(
    config: Config | None = None,
    *,
    db: str = ":memory:",
    store: Store | None = None,
    clock: Clock | None = None,
    validate_responses: bool = False,
) -> MockServer:
    """The mock server as an ASGI app.

    ``config`` defaults to the shipped ``default-config.yaml``; ``store`` to the one
    ``db`` names (:func:`~mock_server.storage.open_store`: a SQLite path or ``:memory:``,
    ``sqlite:///path``, ``postgresql://...``); ``clock`` to a settable clock when
    the config enables the admin route, else real time. ``validate_responses``
    checks every response body against its generated model (tests).
    """
    from generated.app import create_app

    from .backend import MockBackend

    config = config if config is not None else load_config()
    if clock is None:
        clock = SettableClock() if config.admin else SystemClock()
    if store is None:
        store = open_store(db, busy_timeout_ms=config.busy_timeout_ms)
    service = MockService(config, store, clock)
    # The domain works on plain JSON: bodies skip the pydantic round trip (model, then dump).
    backend = MockBackend(service, validate_responses=validate_responses)
    app: Any = create_app(backend, body_models=False,
                          max_body_bytes=config.limits.max_body_bytes)
    if config.policy.media_type_value == "exact":
        app = ExactMediaTypeValue(app)
    tally = Tally()
    if config.admin:
        if not isinstance(clock, SettableClock):
            raise ValueError("the clock admin route needs a SettableClock")
        app = AdminRoutes(app, clock, config.policy, tally)
    app = AccessControl(app, config, FixedWindowLimiter(config.rate_limit, clock))
    if config.policy.error_codes == "alternative":
        app = AlternativeErrorCodes(app)
    if config.admin:  # outermost: every request the server answered
        app = CountRequests(app, tally)
    return MockServer(app, config, clock, store, service)
