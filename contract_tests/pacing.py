"""How fast and how much the suite may send to a live target: one `Pacer` per run.

Three limits, applied before every request that leaves for the target (network.py):

- the request budget (``--max-requests N``, ``MAX_REQUESTS=N``): the run never sends more than
  N. The requests the cleanup will need (one DELETE per resource still alive) stay reserved, so
  a spent budget stops the tests but never the cleanup. When the tests would go past it, the
  request is not sent and `BudgetSpent` ends the test; pytest stops the run there (conftest.py)
  and the reports say what did not run.
- a rate cap (``--rate R``, ``RATE=R``): at most R requests per second, evenly spaced, for
  targets that advertise no limit.
- the target's own advertised limit: LaunchDarkly answers with ``X-Ratelimit-Global-Remaining``
  (requests left in the current ten-second window) and ``X-Ratelimit-Reset`` (when it ends, epoch
  milliseconds; the reference spec's introduction). When nothing is left, the pacer waits for the
  reset instead of being refused, so a run against a target that advertises its limits gets no
  429 at all. A 429 that comes anyway is still obeyed (`Retry-After`, network.py).

A run spread over pytest-xdist workers (``WORKERS=N``) holds each limit for the run as a whole:
workers on the controller's host draw on one budget (shared_budget.py); each worker takes an
equal share (``workers``) of the rate and of what the target says is left in its window, and
a worker on another host also of the budget (docs/contract-suite.md, "Workers").
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from .interrupts import INTERRUPTS
from .shared_budget import SharedBudget

__all__ = ["AUTH_PROBES_PER_OPERATION", "BudgetSpent", "Pacer"]

RESET_MARGIN_S = 0.05  # past the advertised reset, for clocks a little apart
MAX_WINDOW_WAIT_S = 11.0  # LaunchDarkly's windows are ten seconds: never wait longer for one


# Schemathesis' authentication probes of one operation (none, then invalid credentials): sent
# once per operation and run, past the suite's session (test_tier1_schema.AuthProbes)
AUTH_PROBES_PER_OPERATION = 2


class BudgetSpent(BaseException):
    """The request budget is spent: the run stops here, cleanly (not a contract failure, not
    the infrastructure's). A BaseException, like InfrastructureError, so that no check and no
    Hypothesis example swallows it."""


@dataclass
class Pacer:
    max_requests: int | None = None
    rate: float | None = None  # requests per second
    cleanup_cost: Callable[[], int] = lambda: 0  # requests the cleanup still needs
    # requests that leave without passing here (Schemathesis' authentication probes: at most two
    # per operation and run), kept from the budget
    uncounted: int = 0
    workers: int = 1  # the run's pytest-xdist workers: this pacer's share is 1/workers
    shared: SharedBudget | None = None  # the budget of workers on one host (not shared out)
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    wall: Callable[[], float] = time.time
    sent: int = 0
    waited_s: float = 0.0  # time spent waiting for the target's window or the rate cap
    _next_slot: float = 0.0
    # per credential (a hash of it: limits may be per token or per account): what the target
    # said is left in its window, and when that window ends (wall clock, seconds)
    _windows: dict[int, tuple[int, float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def share(self) -> int | None:
        """The requests this pacer may send: the budget, or a worker's share of it."""
        if self.max_requests is None:
            return None
        return self.max_requests if self.shared is not None else (
            self.max_requests // self.workers)

    def _counted(self) -> bool:
        """Count the request against the budget; False if it does not fit."""
        if self.max_requests is None:
            return True
        # the cleanup's reserve is kept for it; while cleaning, it is what is being spent
        reserve = 0 if INTERRUPTS.is_cleaning else self.cleanup_cost()
        uncounted = 0 if INTERRUPTS.is_cleaning else self.uncounted
        if self.shared is not None:
            return self.shared.take(self.max_requests, reserve, uncounted)
        assert self.share is not None
        return self.sent < self.share - reserve - uncounted

    def before_send(self, what: str, credential: str | None) -> None:
        """Wait until the request may go, count it; `BudgetSpent` if it may not go at all."""
        with self._lock:
            if not self._counted():
                of = ("" if self.workers == 1 or self.shared is not None
                      else f" (this worker's share: {self.share})")
                raise BudgetSpent(f"request budget of {self.max_requests}{of} spent before "
                                  f"{what} ({self.sent} sent here, {self.cleanup_cost()} kept "
                                  f"for the cleanup, {self.uncounted} for authentication "
                                  f"probes)")
            self._pace(credential)
            self.sent += 1

    def pace_uncounted(self, credential: str | None) -> None:
        """Wait as for any request, without counting it: for a request the budget already
        keeps a place for (``uncounted``, Schemathesis' authentication probes), which leaves
        past this pacer and would otherwise break the rate cap."""
        with self._lock:
            self._pace(credential)

    def _pace(self, credential: str | None) -> None:
        """Wait for the target's window and the rate cap (the caller holds the lock)."""
        self._wait(self._window_wait(hash(credential)))
        self._wait(self._rate_wait())

    def after_answer(self, headers: Mapping[str, str], credential: str | None) -> None:
        """Learn the target's window from an answer's rate-limit headers, if it sends them."""
        remaining, reset = (headers.get("x-ratelimit-global-remaining"),
                            headers.get("x-ratelimit-reset"))
        try:
            window = (int(remaining or "") // self.workers, int(reset or "") / 1000)
        except ValueError:
            return
        with self._lock:
            self._windows[hash(credential)] = window

    def _window_wait(self, key: int) -> float:
        """Nothing left in the window the last answer described: wait for its end."""
        window = self._windows.get(key)
        if window is None:  # nothing advertised (yet) for this credential
            return 0.0
        remaining, reset_at = window
        if remaining > 0:
            self._windows[key] = (remaining - 1, reset_at)
            return 0.0
        del self._windows[key]  # a new window: learnt again from the next answer
        return min(MAX_WINDOW_WAIT_S, max(0.0, reset_at - self.wall() + RESET_MARGIN_S))

    def _rate_wait(self) -> float:
        if not self.rate:
            return 0.0
        now = self.clock()
        slot = max(now, self._next_slot)
        self._next_slot = slot + self.workers / self.rate
        return slot - now

    def _wait(self, seconds: float) -> None:
        if seconds > 0:
            self.waited_s += seconds
            self.sleep(seconds)
