"""The suite's tier markers, and which module and tier a collected test is: one place for the
parts that order, select, plan, show and report tests by them (conftest, budget, progress, the
report)."""

from __future__ import annotations

import pytest

__all__ = ["TIER_MARKERS", "TIER_NUMBERS", "module_name", "tier_marker"]

# marker -> what it means, in report order
TIER_MARKERS = {
    "tier1": "tier 1: schema (Schemathesis)",
    "tier2": "tier 2: documented semantics",
    "stateful": "tier 2: stateful run against a model of the expected schedules",
    "tier3": "tier 3: the kit mock's own policy (runs only against the kit's mock)",
}
TIER_NUMBERS = {"tier1": "1", "tier2": "2", "stateful": "2", "tier3": "3"}  # TIERS=1,2


def tier_marker(item: pytest.Item) -> str | None:
    """The test's tier marker, if it has one."""
    return next((m for m in TIER_MARKERS if item.get_closest_marker(m) is not None), None)


def module_name(item: pytest.Item) -> str:
    """The test module's own name (``test_tier1_schema``), "" for a non-function item."""
    return item.module.__name__.rpartition(".")[2] if isinstance(item, pytest.Function) else ""
