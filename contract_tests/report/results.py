"""results.json: the run model as data, for machines (schema ``contract-results/2``).

The schema is `results.schema.json` beside this module (JSON Schema 2020-12) and is described
in docs/contract-suite.md; a change that breaks a reader gets a new version (2: coverage,
coverage gaps, known deviations, the comparison with a previous run, `target_id`, the `known`
outcome and status `coverage-gap`; `statuses` and `instructions` are now part of `coverage`).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..recorder import Exchange
from .model import OUTCOMES, RunData
from .view import ComparisonView, FailureView, ReportView, build_view, clip

__all__ = ["SCHEMA_ID", "SCHEMA_PATH", "results_document", "results_text"]

SCHEMA_ID = "contract-results/2"
SCHEMA_PATH = Path(__file__).resolve().parent / "results.schema.json"


def _counts(counts: Mapping[str, int]) -> dict[str, int]:
    return {"total": sum(counts.values()),
            **{outcome.replace(" ", "_"): counts.get(outcome, 0) for outcome in OUTCOMES}}


def _request(exchange: Exchange) -> dict[str, Any]:
    return {"method": exchange.method, "url": exchange.url, "credential": exchange.credential,
            "content_type": exchange.header("content-type"),
            "body": clip(exchange.body.decode("utf-8", "replace")) if exchange.body else None}


def _failure(failure: FailureView) -> dict[str, Any]:
    record, request = failure.record, failure.record.request
    return {
        "id": failure.id, "test": record.test, "rule": record.rule, "tier": record.tier,
        "test_tier": record.test_tier, "operation": record.operation,
        "infrastructure": record.infrastructure, "known": record.known,
        "message": record.message,
        "expected": failure.rule_text,
        "request": _request(request) if request is not None else None,
        "answer": ({"status": request.status, "body": clip(request.response_excerpt)}
                   if request is not None else None),
        "reproduction": {"curl": list(record.reproduction), "script": failure.script},
    }


def results_document(run: RunData) -> dict[str, Any]:
    view = build_view(run)
    totals = view.totals
    cells = run.matrix()
    by_id = {f.id: f for f in (*view.failures, *view.infrastructure)}
    matrix = []
    for row in view.matrix:
        if row.total:
            continue
        for tier, cell in zip(view.tiers, row.cells, strict=True):
            if any(cell.counts.values()):
                matrix.append({"operation": row.operation, "tier": tier,
                               **_counts(Counter({o: cells[(row.operation, tier, o)]
                                                  for o in OUTCOMES})),
                               "failures": [failure_id for _, failure_id in cell.failures]})
    return {
        "schema": SCHEMA_ID,
        "target": run.target,
        "target_id": run.target_id,
        "seed": run.seed,
        "settings": {"examples_per_test": run.examples_per_test, "shrink": run.shrink,
                     "selection": dict(run.selection), "in_process": run.in_process,
                     "kit_mock": run.kit_mock, "app": run.app,
                     "max_requests": run.max_requests, "budget_plan": _plan(run)},
        "status": run.status,
        "incomplete_reason": run.incomplete_reason,
        "rerun": run.rerun,
        "duration_s": round(run.duration_s, 3),
        "requests": run.requests,
        "examples_run": run.examples_run,
        "totals": {"tests": _counts(totals.tests), "operation_checks": _counts(totals.checks),
                   "tests_by_tier": {tier: _counts(counts)
                                     for tier, counts in totals.tests_by_tier.items()}},
        "not_run": [{"tier": tier, "operation": op, "tests": n} for tier, op, n in view.not_run],
        "matrix": matrix,
        "failures": [_failure(by_id[i]) for i, _ in run.identified(run.failures)],
        **_coverage(view),
        "choices": [{"point": point, "answer": answer, "times": n}
                    for point, answer, n in view.choices],
        "network": dict(sorted(run.network.items())),
    }


def _plan(run: RunData) -> dict[str, Any] | None:
    """What the request budget left of the run; None without a budget."""
    plan = run.plan
    if plan is None:  # only a budget's run has one
        return None
    return {"cut": run.budget_cut, "examples_per_test": plan.examples,
            "schema_coverage_phase": plan.schema_coverage, "stateful_runs": plan.stateful_runs,
            "stateful_steps": plan.stateful_steps, "tests_left_out": sorted(plan.dropped),
            "estimated_requests": plan.estimate}


def _coverage(view: ReportView) -> dict[str, Any]:
    """Coverage, its gaps, the known deviations and the comparison."""
    run = view.run
    return {
        "coverage": [{"operation": detail.operation, "dimension": item.dimension,
                      "item": item.name, "count": item.count, "documented": item.documented}
                     for detail in view.coverages for item in detail.items],
        "coverage_gate": None if run.gate_file is None else {
            "file": run.gate_file,
            "gaps": [{"operation": g.operation, "dimension": g.dimension, "item": g.item,
                      "line": g.line} for g in view.gaps]},
        "known_deviations": None if run.known_file is None else {
            "file": run.known_file,
            "entries": [{"line": d.entry.line, "rule": d.entry.rule,
                         "operation": d.entry.operation, "match": d.entry.match,
                         "reason": d.entry.reason,
                         "expires": d.entry.expires.isoformat() if d.entry.expires else None,
                         "state": d.state, "failures": [i for _, i in d.failures]}
                        for d in view.deviations]},
        "comparison": _comparison(view.comparison),
    }


def _comparison(comparison: ComparisonView | None) -> dict[str, Any] | None:
    if comparison is None:
        return None
    data = comparison.comparison

    def keyed(keys: tuple[tuple[str, str, str], ...]) -> list[dict[str, str]]:
        return [{"rule": r, "operation": o, "test": t} for r, o, t in keys]

    def items(found: tuple[tuple[str, str, str], ...]) -> list[dict[str, str]]:
        return [{"operation": o, "dimension": d, "item": i} for o, d, i in found]

    return {"file": str(data.previous.path), "previous_seed": data.previous.seed,
            "previous_status": data.previous.status, "new": keyed(data.new),
            "fixed": keyed(data.fixed), "still_failing": keyed(data.still_failing),
            "not_rechecked": keyed(data.not_rechecked),
            "newly_covered": items(data.newly_covered),
            "no_longer_covered": items(data.no_longer_covered)}


def results_text(run: RunData) -> str:
    return json.dumps(results_document(run), indent=2, ensure_ascii=False) + "\n"
