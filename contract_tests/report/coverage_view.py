"""Coverage as both documents show it: a summary row per operation, each linking to the
operation's own table, where what was never reached is marked (and what the coverage gate
required and the run never reached, more so)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ..usage import DIMENSIONS, Dimension
from .anchors import coverage_anchor
from .coverage import OperationCoverage
from .gate import Requirement

__all__ = ["COVERAGE_NOTE", "HEADINGS", "CoverageDetail", "CoverageRow", "coverage_views"]

HEADINGS: Mapping[str, str] = {  # per dimension
    "status": "status codes", "instruction": "instruction outcomes", "rule": "tier-2 rules",
    "parameter": "parameters", "field": "optional body fields", "error code": "error codes seen",
}
COVERAGE_NOTE = (
    "From what the run sent and received: a status code some request got; an instruction "
    "outcome some semantic patch was answered with (a reason when the test that sent it said "
    "why it must fail); a tier-2 rule some check of a tier-2 test ran for (whether it held or "
    "not); a parameter or optional field some request sent, and some request left out. Error "
    "codes are listed as seen (the documents give them as examples). \"never\": documented and "
    "never reached; \"never (required)\": a coverage gap.")


@dataclass(frozen=True)
class CoverageRow:
    operation: str
    anchor: str
    cells: tuple[str, ...]  # one per dimension: "5 of 7", or the error codes seen
    css: tuple[str, ...]  # "full", "partial" or "none" per cell ("" for error codes)
    gaps: int


@dataclass(frozen=True)
class CoverageDetail:
    operation: str
    anchor: str
    rows: tuple[tuple[str, str, str, str], ...]  # dimension heading, item, count, css class


def _cell(coverage: OperationCoverage, dimension: Dimension) -> tuple[str, str]:
    if dimension == "error code":
        seen = [f"{i.name} ×{i.count}" for i in coverage.of(dimension) if i.count]
        return ", ".join(seen) or "none", ""
    reached, total = coverage.reached(dimension)
    if total == 0:
        return "—", ""
    return f"{reached} of {total}", ("full" if reached == total else
                                     "partial" if reached else "unreached")


def _count(count: int, documented: bool, required: bool, dimension: Dimension) -> tuple[str, str]:
    if not count:
        return ("never (required)", "gap") if required else ("never", "unreached")
    text = f"{count} checks" if dimension == "rule" else str(count)
    if documented or dimension == "error code":  # error codes are open: none is documented
        return text, ""
    return f"{text} (not documented)", "extra"


def coverage_views(coverages: tuple[OperationCoverage, ...], gaps: tuple[Requirement, ...]
                   ) -> tuple[tuple[CoverageRow, ...], tuple[CoverageDetail, ...]]:
    gap_items = {(g.operation, g.dimension, g.item) for g in gaps}
    rows, details = [], []
    for coverage in coverages:
        anchor = coverage_anchor(coverage.operation)
        cells = [_cell(coverage, dimension) for dimension in DIMENSIONS]
        mine = sum(1 for g in gaps if g.operation == coverage.operation)
        rows.append(CoverageRow(coverage.operation, anchor, tuple(c for c, _ in cells),
                                tuple(css for _, css in cells), mine))
        details.append(CoverageDetail(coverage.operation, anchor, tuple(
            (HEADINGS[i.dimension], i.name, *_count(
                i.count, i.documented, (coverage.operation, i.dimension, i.name) in gap_items,
                i.dimension))
            for i in coverage.items)))
    return tuple(rows), tuple(details)
