"""The admin routes (only when the config enables them): ``/_admin/clock``, ``/_admin/policy``.

Clock: ``GET`` shows it, ``PUT {"now": <unix ms>}`` fixes it, ``DELETE`` returns
to real time. Policy: ``GET`` shows the tier-3 policy the mock runs with (the
contract suite's tier 3 checks that one). Behind
:class:`~mock_server.access.AccessControl`, so a token is needed (a writer token
for PUT and DELETE); not rate limited.
"""

from __future__ import annotations

import json
from typing import Any

from .clock import SettableClock
from .policy import Policy
from .responses import send_error, send_json

__all__ = ["CLOCK_PATH", "POLICY_PATH", "AdminRoutes"]

CLOCK_PATH = "/_admin/clock"
POLICY_PATH = "/_admin/policy"
INT64_MAX = 2**63 - 1


class AdminRoutes:
    def __init__(self, app: Any, clock: SettableClock, policy: Policy) -> None:
        self.app = app
        self.clock = clock
        self.policy = policy

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        path = scope.get("path") if scope["type"] == "http" else None
        if path == POLICY_PATH:
            if scope.get("method", "GET").upper() != "GET":
                await send_error(send, 405, "method_not_allowed", "use GET")
                return
            await send_json(send, 200, {"name": self.policy.name, **self.policy.as_dict()})
            return
        if path != CLOCK_PATH:
            await self.app(scope, receive, send)
            return
        method = scope.get("method", "GET").upper()
        if method == "PUT":
            body = await _read_body(receive)
            try:
                now = json.loads(body).get("now")
            except (ValueError, AttributeError):
                now = None
            if not isinstance(now, int) or isinstance(now, bool) or not 0 <= now <= INT64_MAX:
                await send_error(send, 400, "invalid_request",
                                 'the body must be {"now": <Unix milliseconds>}')
                return
            self.clock.set(now)
        elif method == "DELETE":
            self.clock.reset()
        elif method != "GET":
            await send_error(send, 405, "method_not_allowed", "use GET, PUT or DELETE")
            return
        await send_json(send, 200, {"now": self.clock.now_ms(), "fixed": self.clock.is_fixed})


async def _read_body(receive: Any) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)
