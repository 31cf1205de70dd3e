"""Per-token request counting in fixed ten-second windows."""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass

from .clock import Clock

__all__ = ["WINDOW_MS", "Decision", "FixedWindowLimiter"]

WINDOW_MS = 10_000


@dataclass(frozen=True)
class Decision:
    allowed: bool
    remaining: int  # requests left in the window after this one
    reset_ms: int  # when the window ends, Unix milliseconds
    retry_after_s: int  # for a refused request: whole seconds until the window ends


class FixedWindowLimiter:
    """At most ``limit`` requests per token per window; ``None`` means unlimited."""

    def __init__(self, limit: int | None, clock: Clock, window_ms: int = WINDOW_MS) -> None:
        self.limit = limit
        self._clock = clock
        self._window_ms = window_ms
        self._lock = threading.Lock()
        self._windows: dict[str, tuple[int, int]] = {}  # token -> (window start, count)

    def hit(self, token: str) -> Decision | None:
        """Count one request; ``None`` when there is no limit."""
        if self.limit is None:
            return None
        now = self._clock.now_ms()
        start = now - now % self._window_ms
        reset = start + self._window_ms
        with self._lock:
            window_start, count = self._windows.get(token, (start, 0))
            if window_start != start:
                count = 0
            if count >= self.limit:
                self._windows[token] = (start, count)
                return Decision(False, 0, reset, max(1, math.ceil((reset - now) / 1000)))
            count += 1
            self._windows[token] = (start, count)
        return Decision(True, self.limit - count, reset, 0)
