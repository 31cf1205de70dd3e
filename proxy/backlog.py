"""Judging off the request path: the exchanges whose answers have gone out wait in a FIFO and
are judged by the event loop while no request is in flight, one per loop turn.

Why: the checks are CPU-bound (docs/proxy.md, Design figures; more for a large listing) and
the proxy has one event loop; judged as each answer went out, they held up the requests that
arrived meanwhile, and on a busy machine they took CPU from the upstream while it was answering
the next request. Judged between requests, they cost the traffic nothing but the CPU they take
when it is idle. The order is the order the answers ended, which is what the sequence rules go
by (`Checker.ended` fixes each exchange's place when its answer ends; only the judging waits).
The backlog is bounded: traffic that never leaves the proxy idle still gets judged, one
exchange per loop turn once `LIMIT` are waiting. `drain` judges what is left, before the reports
are written.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["LIMIT", "Backlog"]

LIMIT = 256  # exchanges waiting beyond which judging no longer waits for an idle moment

Item = TypeVar("Item")


class Backlog(Generic[Item]):
    def __init__(self, judge: Callable[[Item], object], limit: int = LIMIT) -> None:
        self._judge = judge
        self._limit = limit
        self._waiting: deque[Item] = deque()
        self._in_flight = 0
        self._scheduled = False

    def __len__(self) -> int:
        return len(self._waiting)

    def started(self) -> None:
        """A request arrived: judging waits until it has been answered."""
        self._in_flight += 1

    def ended(self, item: Item | None) -> None:
        """A request was answered (`item`: what to judge of it; None: nothing, e.g. the client
        left before its request was complete)."""
        self._in_flight -= 1
        if item is not None:
            self._waiting.append(item)
        self._schedule()

    def drain(self) -> None:
        """Judge everything still waiting (the proxy is stopping)."""
        while self._waiting:
            self._judge(self._waiting.popleft())

    def _schedule(self) -> None:
        if self._waiting and not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._step)

    def _step(self) -> None:
        """One exchange, then back to the loop, so a request that arrived meanwhile is read
        before the next; while one is in flight, its end schedules the next step."""
        self._scheduled = False
        if self._in_flight and len(self._waiting) < self._limit:
            return
        if self._waiting:
            self._judge(self._waiting.popleft())
        self._schedule()
