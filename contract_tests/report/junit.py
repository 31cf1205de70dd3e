"""The run in pytest's JUnit file: per-test properties, and the run's status and totals as
testsuite properties (the same totals as every other output: model.Totals), with a line per
coverage gap, per known-deviation entry and the comparison's counts."""

from __future__ import annotations

from typing import Any

import pytest

from .compare import compare
from .coverage import coverage_of, covered
from .model import OUTCOMES, RunData

__all__ = ["add_case_properties", "add_suite_properties", "suite_properties"]


def _writer(config: pytest.Config) -> Any:
    """pytest's JUnit writer, if ``--junitxml`` was given."""
    try:
        from _pytest.junitxml import xml_key
    except ImportError:  # pragma: no cover - pytest internals moved
        return None
    return config.stash.get(xml_key, None)


def suite_properties(run: RunData) -> list[tuple[str, str]]:
    """status, incomplete (its reason) and what did not run; the totals; seed, target, re-run."""
    totals = run.totals()
    properties: list[tuple[str, str]] = [("status", run.status)]
    if run.incomplete_reason is not None:
        properties.append(("incomplete", run.incomplete_reason))
        properties += [("not-run", f"{tier} {operation}: {count}")
                       for (tier, operation), count in sorted(run.not_run.items())]
    for unit, counts, total in (("tests", totals.tests, totals.test_count),
                                ("operation-checks", totals.checks, totals.check_count)):
        properties.append((unit, str(total)))
        properties += [(f"{unit}-{outcome.replace(' ', '-')}", str(counts[outcome]))
                       for outcome in OUTCOMES]
    properties += [("seed", str(run.seed)), ("target", run.target), ("rerun", run.rerun)]
    return properties + _file_properties(run)


def _file_properties(run: RunData) -> list[tuple[str, str]]:
    """The coverage gaps, the known deviations' entries and the comparison, one property
    each (the reports have the detail)."""
    properties: list[tuple[str, str]] = []
    if run.gate_file is not None:
        properties.append(("coverage-gaps", str(len(run.gaps))))
        properties += [("coverage-gap", f"{g.operation} {g.dimension}: {g.item}")
                       for g in run.gaps]
    if run.known_file is not None:
        properties.append(("known-failures", str(len(run.known_failures))))
        properties += [(f"known-deviation-{d.state}", d.entry.describe())
                       for d in run.deviations]
    comparison = compare(run, covered(coverage_of(run)))
    if comparison is not None:
        properties += [(f"compared-{name.replace(' ', '-')}", str(count))
                       for name, count in comparison.counts().items()]
    return properties


def add_suite_properties(config: pytest.Config, run: RunData) -> None:
    """Before pytest's writer writes the file (it runs after the model is finished)."""
    writer = _writer(config)
    if writer is not None:
        for name, value in suite_properties(run):
            writer.add_global_property(name, value)


def add_case_properties(config: pytest.Config, report: pytest.TestReport) -> None:
    """Schemathesis' per-operation reports have no teardown, where pytest's JUnit writer takes
    properties from; hand them to its reporter for that test case directly."""
    writer = _writer(config)
    if writer is None:
        return
    reporter = writer.node_reporter(report)
    for name, value in report.user_properties:
        reporter.add_property(name, str(value))
