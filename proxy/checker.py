"""Judges each exchange by tiers 1-2, in the order the exchanges ended, into a `Ledger`.

The proxy calls `begin` when a request arrives, `ended` when its answer is complete (and sent
on), and `settle` when its event loop is idle (`proxy.backlog`); replays and the fidelity
comparison, which send one request at a time, call `judge`.
Sequence rules need an order: an exchange that overlapped a write to the same project (or a
write outside the operation model, which may change anything) is judged alone, and what that
write may have changed is forgotten.
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from contract_tests.checks import ContractViolation, check_error_indices
from generated.operations import RULES

from . import tier1, tier2
from .exchange import Exchange
from .ledger import Ledger, Violation
from .model import Model
from .routing import Route, route

__all__ = ["Checker", "Ended"]

ANYWHERE = "*"  # the scope of a write outside the operation model
RECENT = 2000  # exchanges kept (as summaries) to show as the origin of a sequence violation


@dataclass(frozen=True)
class Ended:
    """An exchange whose answer is complete, placed in the order: what `settle` needs."""

    exchange: Exchange
    found: Route | None
    scope: str | None  # where it may have written (`_write_scope`)
    unordered: bool  # it overlapped a write to its project: not judged as a sequence


class Checker:
    def __init__(self, ledger: Ledger, model: Model | None = None,
                 on_violation: Callable[[Violation], None] | None = None) -> None:
        self.ledger = ledger
        self.model = model or Model()
        self.on_violation = on_violation
        self._seq = 0
        self._writing: Counter[str] = Counter()  # writes in flight, per project
        self._last_write_end: dict[str, int] = {}
        self._recent: OrderedDict[int, Mapping[str, Any]] = OrderedDict()

    def begin(self, method: str, path: str) -> int:
        """A request arrived; returns its ticket for `finish`."""
        self._seq += 1
        scope = _write_scope(method, route(method, path))
        if scope is not None:
            self._writing[scope] += 1
        return self._seq

    def ended(self, exchange: Exchange, ticket: int) -> Ended:
        """Its answer is complete: its place in the order, fixed now (which writes it
        overlapped); `settle` judges it, later (`proxy.backlog`), in the order they ended."""
        self._seq += 1
        found = route(exchange.method, exchange.path)
        scope = _write_scope(exchange.method, found)
        if scope is not None:
            self._writing[scope] -= 1
        unordered = self._overlapped(ticket, scope or (found.project if found else None))
        if scope is not None:
            self._last_write_end[scope] = self._seq
        return Ended(exchange, found, scope, unordered)

    def settle(self, ended: Ended) -> list[Violation]:
        """Judge an exchange `ended` placed. Returns the violations it showed."""
        exchange, found, scope = ended.exchange, ended.found, ended.scope
        self._remember(exchange)
        self.ledger.exchanges += 1
        if exchange.infrastructure is not None or exchange.status is None:
            self.ledger.add_infrastructure(exchange.infrastructure or "no answer",
                                           exchange.index, exchange.summary())
            self._forget(scope)
            return []
        if found is None:
            self.ledger.unmatched += 1
            self._forget(scope)
            return []
        return self._judge(exchange, found, ended.unordered)

    def finish(self, exchange: Exchange, ticket: int) -> list[Violation]:
        """Its answer is complete: judge it now. Returns the violations it showed."""
        return self.settle(self.ended(exchange, ticket))

    def judge(self, exchange: Exchange) -> list[Violation]:
        """An exchange of a client that sends one request at a time."""
        return self.finish(exchange, self.begin(exchange.method, exchange.path))

    # -- the checks ------------------------------------------------------------------------

    def _judge(self, exchange: Exchange, found: Route, unordered: bool) -> list[Violation]:
        operation = found.operation.operation_id
        self.ledger.statuses[(operation, exchange.status_code)] += 1
        instructions = tier2.instructions_of(exchange, found.operation)
        self._count_instructions(exchange, found, instructions)
        violations = [Violation(rule, 1, operation, exchange.index, message)
                      for rule, message in tier1.check(exchange, found)]
        violations += [Violation(rule, RULES[rule].tier, operation, exchange.index, message)
                       for rule, message in tier2.check(exchange, found, instructions)]
        if unordered:
            self.ledger.unordered += 1
            if found.writes:
                self.model.forget_project(found.project)
        else:
            violations += [Violation(f.rule, RULES[f.rule].tier, operation, exchange.index,
                                     f.message, f.origin)
                           for f in self.model.observe(found, exchange, instructions)]
        for tier in (1, 2):
            self.ledger.judged[(operation, tier)] += 1
        for violation in violations:
            shown = {exchange.index: self._recent[exchange.index]}
            origin = self._recent.get(violation.origin) if violation.origin is not None else None
            if origin is not None:
                shown[origin["index"]] = origin
            self.ledger.add(violation, shown)
            if self.on_violation is not None:
                self.on_violation(violation)
        return violations

    def _count_instructions(self, exchange: Exchange, found: Route,
                            instructions: list[Any] | None) -> None:
        """Instruction kinds a 200 answer to a semantic patch shows succeeding and failing."""
        body = exchange.response_json
        if exchange.status != 200 or instructions is None or not isinstance(body, dict):
            return
        try:
            failed = check_error_indices(body, len(instructions))
        except ContractViolation:
            return
        known = found.operation.instructions
        for position, instruction in enumerate(instructions):
            kind = instruction.get("kind") if isinstance(instruction, dict) else None
            name = kind if isinstance(kind, str) and kind in known else "(unknown kind)"
            outcome = "failed" if position in failed else "succeeded"
            self.ledger.instructions[(found.operation.operation_id, name, outcome)] += 1

    # -- order -----------------------------------------------------------------------------

    def _overlapped(self, ticket: int, project: str | None) -> bool:
        """Whether another write to the project, or outside the operation model, was in flight
        while this exchange was."""
        for where in (ANYWHERE, *([project] if project else [])):
            if self._writing[where] > 0 or self._last_write_end.get(where, 0) > ticket:
                return True
        return False

    def _forget(self, scope: str | None) -> None:
        """A write that was not judged (no answer, outside the operation model): what it may
        have changed is no longer known."""
        if scope is not None:
            self.model.forget_project(None if scope == ANYWHERE else scope)

    def _remember(self, exchange: Exchange) -> None:
        """A summary, not the exchange: its parsed bodies would be hundreds of objects each,
        for the garbage collector to walk through again and again."""
        self._recent[exchange.index] = exchange.summary()
        while len(self._recent) > RECENT:
            self._recent.popitem(last=False)


def _write_scope(method: str, found: Route | None) -> str | None:
    """Where a write may change schedules: its project, or anywhere (a path outside the
    operation model); None for a read."""
    if method.upper() in ("GET", "HEAD", "OPTIONS"):
        return None
    return found.project if found is not None else ANYWHERE
