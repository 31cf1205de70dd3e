"""A local LaunchDarkly-like server for the expiring-targets endpoints.

The domain (segments, flags, schedules) lives in plain modules over a
:class:`~mock_server.storage.Store` (SQLite or PostgreSQL); :mod:`mock_server.backend` adapts
it to the generated ``Backend`` protocol and :mod:`mock_server.app` wraps the
generated Starlette app with access control, rate limits and the clock admin
route.
"""

from .app import MockServer, create_mock_app
from .config import Config, load_config

__all__ = ["Config", "MockServer", "create_mock_app", "load_config"]
