"""What the checks found and what the traffic exercised: everything the reports show.

Plain counters and a bounded list of violations, each with the exchange that shows it (and the
earlier one it contradicts), so a proxy that runs for days keeps a bounded memory.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .overhead import Overhead

__all__ = ["MAX_KEPT", "Ledger", "Violation"]

MAX_KEPT = 500  # violations and infrastructure events kept in full; the rest are counted


@dataclass(frozen=True)
class Violation:
    rule: str
    tier: int
    operation: str
    exchange: int
    message: str
    origin: int | None = None  # the earlier exchange a sequence rule compared it with


@dataclass
class Ledger:
    target: str
    started_at: float = field(default_factory=time.time)
    finished_at: float | None = None
    exchanges: int = 0
    unmatched: int = 0  # to paths outside the operation model (passed on, not judged)
    unordered: int = 0  # overlapped another write: not judged as a sequence
    judged: Counter[tuple[str, int]] = field(default_factory=Counter)  # (operation, tier)
    failed: Counter[tuple[str, int]] = field(default_factory=Counter)  # violations
    by_rule: Counter[str] = field(default_factory=Counter)
    violations: list[Violation] = field(default_factory=list)
    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)
    instructions: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    infrastructure: Counter[str] = field(default_factory=Counter)  # reason -> times
    infrastructure_events: list[int] = field(default_factory=list)  # exchange indices
    shown: dict[int, Mapping[str, Any]] = field(default_factory=dict)  # index -> summary
    overhead: Overhead = field(default_factory=Overhead)  # the proxy's own time (not replay's)

    @property
    def violation_count(self) -> int:
        return sum(self.by_rule.values())

    @property
    def infrastructure_count(self) -> int:
        return sum(self.infrastructure.values())

    def tier_count(self, tier: int) -> int:
        return sum(n for (_, t), n in self.failed.items() if t == tier)

    def add(self, violation: Violation, shown: Mapping[int, Mapping[str, Any]]) -> None:
        self.failed[(violation.operation, violation.tier)] += 1
        self.by_rule[violation.rule] += 1
        if len(self.violations) < MAX_KEPT:
            self.violations.append(violation)
            self.shown.update(shown)

    def add_infrastructure(self, reason: str, index: int, summary: Mapping[str, Any]) -> None:
        self.infrastructure[reason] += 1
        if len(self.infrastructure_events) < MAX_KEPT:
            self.infrastructure_events.append(index)
            self.shown[index] = summary
