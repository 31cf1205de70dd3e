"""Our operations match the reference spec, except for the differences listed with a reason."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from .reference_diff import operation_differences

ROOT = Path(__file__).resolve().parents[2]
BUNDLE = ROOT / "generated" / "openapi.json"  # specs/ bundled; `make check-generated` keeps it fresh
REFERENCE = ROOT.parent / "shared" / "reference" / "launchdarkly-openapi.yaml"
ALLOWED = Path(__file__).with_name("reference_differences.yaml")


@pytest.fixture(scope="module")
def reference() -> dict[str, Any]:
    if not REFERENCE.exists():
        pytest.skip(f"reference spec not found at {REFERENCE}")
    with REFERENCE.open("rb") as handle:
        return yaml.load(handle, Loader=yaml.CSafeLoader)  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def ours() -> dict[str, Any]:
    return json.loads(BUNDLE.read_text())  # type: ignore[no-any-return]


def _allowed() -> set[tuple[str, str]]:
    entries = yaml.safe_load(ALLOWED.read_text())
    allowed = set()
    for entry in entries:
        assert entry.get("reason"), f"allow-list entry without a reason: {entry}"
        for operation in entry["operations"]:
            allowed.add((operation, entry["difference"]))
    return allowed


def test_every_difference_is_allowed_with_a_reason(ours: dict, reference: dict) -> None:
    found = {
        (operation, difference)
        for operation, differences in operation_differences(ours, reference).items()
        for difference in differences
    }
    allowed = _allowed()
    unexplained = sorted(found - allowed)
    stale = sorted(allowed - found)
    assert not unexplained, "differences from the reference without a reason:\n" + "\n".join(
        f"  {op}: {diff}" for op, diff in unexplained
    )
    assert not stale, "allow-list entries that no longer occur:\n" + "\n".join(
        f"  {op}: {diff}" for op, diff in stale
    )


def test_every_operation_in_scope_is_specified(ours: dict) -> None:
    operation_ids = {
        op["operationId"] for item in ours["paths"].values() for op in item.values()
        if isinstance(op, dict) and "operationId" in op
    }
    assert len(operation_ids) == 18


@pytest.mark.parametrize(
    "mutate, expected",
    [
        (lambda op: op["responses"].pop("404"), "status 404 missing"),
        (
            lambda op: op["parameters"].append(
                {"name": "limit", "in": "query", "schema": {"type": "integer"}}
            ),
            "parameter query:limit added",
        ),
    ],
)
def test_the_comparison_sees_a_changed_operation(
    ours: dict, reference: dict, mutate: Any, expected: str
) -> None:
    changed = copy.deepcopy(ours)
    mutate(changed["paths"]["/api/v2/segments/{projectKey}/{environmentKey}/{segmentKey}"]["get"])
    assert expected in operation_differences(changed, reference)["getSegment"]


def test_the_comparison_sees_a_changed_schema(ours: dict, reference: dict) -> None:
    changed = copy.deepcopy(ours)
    target = changed["components"]["schemas"]["ExpiringTarget"]
    target["required"].remove("contextKind")
    del target["properties"]["variationId"]
    differences = operation_differences(changed, reference)["getExpiringTargetsForSegment"]
    assert any("items[]: property variationId missing" in d for d in differences), differences
    assert any("items[]: required" in d for d in differences), differences
