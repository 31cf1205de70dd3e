"""The admin routes (only when the config enables them): ``/_admin/clock``, ``/_admin/policy``,
``/_admin/requests``.

Clock: ``GET`` shows it, ``PUT {"now": <unix ms>}`` fixes it, ``DELETE`` returns
to real time. Policy: ``GET`` shows the tier-3 policy the mock runs with (the
contract suite's tier 3 checks that one). Requests: ``GET`` shows how many API requests the
server has answered since it started (admin requests not counted), so a client's request budget
can be checked at the server. Behind
:class:`~mock_server.access.AccessControl`, so a token is needed (a writer token
for PUT and DELETE); not rate limited.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .access import ADMIN_PREFIX
from .clock import SettableClock
from .policy import Policy
from .responses import send_error, send_json

__all__ = ["CLOCK_PATH", "POLICY_PATH", "REQUESTS_PATH", "AdminRoutes", "CountRequests",
           "Tally"]

CLOCK_PATH = "/_admin/clock"
POLICY_PATH = "/_admin/policy"
REQUESTS_PATH = "/_admin/requests"


@dataclass
class Tally:
    count: int = 0


class CountRequests:
    """Outermost: counts every HTTP request that is not an admin one."""

    def __init__(self, app: Any, tally: Tally) -> None:
        self.app = app
        self.tally = tally

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and not scope.get("path", "").startswith(ADMIN_PREFIX):
            self.tally.count += 1
        await self.app(scope, receive, send)
INT64_MAX = 2**63 - 1


class AdminRoutes:
    def __init__(self, app: Any, clock: SettableClock, policy: Policy,
                 tally: Tally) -> None:
        self.app = app
        self.clock = clock
        self.policy = policy
        self.tally = tally

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        path = scope.get("path") if scope["type"] == "http" else None
        shows = {POLICY_PATH: lambda: {"name": self.policy.name, **self.policy.as_dict()},
                 REQUESTS_PATH: lambda: {"count": self.tally.count}}
        if path in shows:
            if scope.get("method", "GET").upper() != "GET":
                await send_error(send, 405, "method_not_allowed", "use GET")
                return
            await send_json(send, 200, shows[path]())
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
