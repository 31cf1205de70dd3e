"""The proxy's own time per exchange: from the request reaching it to the answer sent back,
less the time the upstream took to answer.

What the proxy costs the traffic, measured where it is spent. An end-to-end benchmark (the
client's latency through the proxy minus the latency straight to the upstream) also counts
how the operating system schedules one more process on a busy machine; this counts only the
proxy's work and its waits on its own event loop. Kept as a histogram of log-spaced buckets
(2 % wide), so that a proxy that runs for days keeps a bounded memory; a quantile is its
bucket's upper bound, at most 2 % above the true figure.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

__all__ = ["Overhead"]

_FLOOR_MS = 0.01  # everything faster counts as this bucket
_GROWTH = math.log(1.02)


class Overhead:
    def __init__(self) -> None:
        self.count = 0
        self.max_ms = 0.0
        self._buckets: Counter[int] = Counter()

    def add(self, ms: float) -> None:
        self.count += 1
        self.max_ms = max(self.max_ms, ms)
        self._buckets[max(0, math.ceil(math.log(max(ms, _FLOOR_MS) / _FLOOR_MS) / _GROWTH))] += 1

    def quantile(self, q: float) -> float | None:
        """The smallest bucket bound that at least ``q`` of the exchanges are within."""
        if not self.count:
            return None
        wanted, seen = q * self.count, 0
        for bucket in sorted(self._buckets):
            seen += self._buckets[bucket]
            if seen >= wanted:
                return min(self.max_ms, _FLOOR_MS * math.exp(bucket * _GROWTH))
        return self.max_ms

    def as_json(self) -> dict[str, Any]:
        def rounded(value: float | None) -> float | None:
            return None if value is None else round(value, 3)

        return {"exchanges": self.count, "p50_ms": rounded(self.quantile(0.5)),
                "p99_ms": rounded(self.quantile(0.99)), "max_ms": rounded(self.max_ms)}
