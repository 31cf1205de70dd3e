"""Every tier-2 rule of the specs is bound to a check that can fail with it, and to a broken
server that the suite catches by it: a rule with neither is a promise nobody tests."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from generated.operations import RULES

from .broken import BREAKS

SUITE = Path(__file__).resolve().parents[2] / "contract_tests"


def _suite_strings() -> set[str]:
    """Every string literal of the suite's modules (rule ids are passed as literals)."""
    found: set[str] = set()
    for module in SUITE.rglob("*.py"):
        for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                found.add(node.value)
    return found


STRINGS = _suite_strings()


@pytest.mark.parametrize("rule", sorted(RULES))
def test_the_rule_has_a_check(rule: str) -> None:
    assert rule in STRINGS, f"no check of the suite names rule {rule!r}"


@pytest.mark.parametrize("rule", sorted(RULES))
def test_the_rule_has_a_broken_server(rule: str) -> None:
    caught_by = [name for name, markers in BREAKS.items()
                 if any(f"[{rule}]" in marker for marker in markers)]
    assert caught_by, f"no broken server in tests/contract_power/broken.py breaks {rule!r}"
