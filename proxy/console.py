"""The live summary on the console: a small live table on a terminal, plain lines otherwise
(one every N exchanges, so a log stays readable), and one line per violation as it happens."""

from __future__ import annotations

import sys
import time
from typing import IO

from rich.console import Console
from rich.live import Live
from rich.table import Table

from .ledger import Ledger, Violation

__all__ = ["Summary"]

MAX_VIOLATION_LINES = 50  # then only counted (the report lists them)


def _line(ledger: Ledger) -> str:
    operations = len({op for op, _ in ledger.statuses})
    return (f"proxy: {ledger.exchanges} exchanges ({operations} operations), "
            f"{ledger.violation_count} violations (tier 1: {ledger.tier_count(1)}, tier 2: "
            f"{ledger.tier_count(2)}), {ledger.infrastructure_count} infrastructure failures, "
            f"{ledger.unmatched} outside the operation model")


class Summary:
    def __init__(self, ledger: Ledger, every: int = 50, stream: IO[str] | None = None) -> None:
        self.ledger, self.every = ledger, max(1, every)
        self.stream = stream or sys.stdout
        self._live: Live | None = None
        self._lines = 0
        if self.stream.isatty():
            self._live = Live(self._table(), console=Console(file=self.stream),
                              refresh_per_second=4, transient=False)
            self._live.start()

    def _table(self) -> Table:
        ledger = self.ledger
        table = Table(title=f"proxy → {ledger.target}", title_justify="left")
        for column in ("exchanges", "tier 1 violations", "tier 2 violations", "infrastructure",
                       "outside the model", "per second"):
            table.add_column(column, justify="right")
        elapsed = max(time.time() - ledger.started_at, 1e-9)
        table.add_row(str(ledger.exchanges), str(ledger.tier_count(1)), str(ledger.tier_count(2)),
                      str(ledger.infrastructure_count), str(ledger.unmatched),
                      f"{ledger.exchanges / elapsed:.1f}")
        return table

    def exchange(self) -> None:
        if self._live is not None:
            self._live.update(self._table())
        elif self.ledger.exchanges % self.every == 0:
            print(_line(self.ledger), file=self.stream, flush=True)

    def violation(self, violation: Violation) -> None:
        self._lines += 1
        if self._lines > MAX_VIOLATION_LINES:
            return
        if self._lines == MAX_VIOLATION_LINES:
            self._print(f"proxy: {MAX_VIOLATION_LINES} violations shown; further ones are only "
                        "counted (the report lists them)")
            return
        self._print(f"proxy: VIOLATION {violation.rule} (tier {violation.tier}) in "
                    f"{violation.operation}, exchange #{violation.exchange}: "
                    f"{violation.message}"[:400])

    def _print(self, line: str) -> None:
        if self._live is not None:
            self._live.console.print(line, markup=False, highlight=False)
        else:
            print(line, file=self.stream, flush=True)

    def close(self) -> None:
        if self._live is not None:
            self._live.update(self._table())
            self._live.stop()
        print(_line(self.ledger), file=self.stream, flush=True)
