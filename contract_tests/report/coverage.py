"""Coverage: what the run actually sent and received, per operation, against what the documents
give it (usage.py names the items).

Measured from the recorder's counts, never from the tests' intentions: a documented status
code is covered when some request of the run got it; an instruction kind's outcome when the
server answered a semantic patch that way (a documented failure reason when the test that sent
it said that was why it must fail); a tier-2 rule when one of its checks ran in a tier-2 test;
a parameter or optional body field when some request sent it, and when some request did not.
Error codes are only listed as seen: the documents give them as examples, not as a contract.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from generated.operations import OPERATIONS

from ..usage import DIMENSIONS, Dimension, documented, instruction_item

if TYPE_CHECKING:
    from .model import RunData

__all__ = ["Covered", "Item", "OperationCoverage", "coverage_of", "covered"]

Covered = tuple[str, str, str]  # (operation, dimension, item) with a count above zero


@dataclass(frozen=True)
class Item:
    dimension: Dimension
    name: str
    count: int
    documented: bool  # the documents give it (else only seen: an undocumented status, ...)

    @property
    def unreached(self) -> bool:
        """Documented and never exercised: what the report highlights."""
        return self.documented and self.count == 0


@dataclass(frozen=True)
class OperationCoverage:
    operation: str
    items: tuple[Item, ...]

    def of(self, dimension: Dimension) -> tuple[Item, ...]:
        return tuple(i for i in self.items if i.dimension == dimension)

    def reached(self, dimension: Dimension) -> tuple[int, int]:
        """(documented items exercised, documented items) of one dimension."""
        mine = [i for i in self.of(dimension) if i.documented]
        return sum(1 for i in mine if i.count), len(mine)


def _counts(run: RunData) -> dict[tuple[str, str, str], int]:
    """Every recorded count as (operation, dimension, item) -> times."""
    counts: dict[tuple[str, str, str], int] = {}
    for (operation, status), n in run.statuses.items():
        counts[(operation, "status", str(status))] = n
    for (operation, kind, outcome), n in run.instructions.items():
        counts[(operation, "instruction", instruction_item(kind, outcome))] = n
    counts.update(run.usage)
    return counts


def coverage_of(run: RunData) -> tuple[OperationCoverage, ...]:
    """Each documented operation's items (documented first, in the documents' order, then
    the others seen), with how often the run exercised each."""
    counts = _counts(run)
    result = []
    for operation in OPERATIONS:
        items = []
        for dimension in DIMENSIONS:
            known = documented(operation)[dimension]
            seen = sorted(item for op, dim, item in counts
                          if (op, dim) == (operation, dimension) and item not in known)
            items += [Item(dimension, name, counts.get((operation, dimension, name), 0),
                           name in known) for name in (*known, *seen)]
        result.append(OperationCoverage(operation, tuple(items)))
    return tuple(result)


def covered(coverages: Iterable[OperationCoverage]) -> frozenset[Covered]:
    """The items exercised at least once."""
    return frozenset((c.operation, i.dimension, i.name) for c in coverages for i in c.items
                     if i.count)
