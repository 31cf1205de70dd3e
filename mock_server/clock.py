"""Where the server takes "now" from: real time, or a clock tests can set."""

from __future__ import annotations

import threading
import time
from typing import Protocol

__all__ = ["Clock", "SettableClock", "SystemClock"]


class Clock(Protocol):
    def now_ms(self) -> int:
        """The current time in Unix milliseconds."""
        ...


class SystemClock:
    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000


class SettableClock:
    """Real time until :meth:`set`; :meth:`reset` returns to real time."""

    def __init__(self, now_ms: int | None = None) -> None:
        self._lock = threading.Lock()
        self._fixed = now_ms
        self._real = SystemClock()

    @property
    def is_fixed(self) -> bool:
        return self._fixed is not None

    def now_ms(self) -> int:
        with self._lock:
            fixed = self._fixed
        return self._real.now_ms() if fixed is None else fixed

    def set(self, now_ms: int) -> None:
        with self._lock:
            self._fixed = int(now_ms)

    def advance(self, delta_ms: int) -> int:
        """Move a fixed clock forward (fixing it at real time first)."""
        with self._lock:
            base = self._real.now_ms() if self._fixed is None else self._fixed
            self._fixed = base + int(delta_ms)
            return self._fixed

    def reset(self) -> None:
        with self._lock:
            self._fixed = None
