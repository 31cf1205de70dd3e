"""The facts every rendering shows, prepared once from the run model.

The Markdown and HTML templates, the terminal summary and results.json all read this view (or
the model beneath it), never the hooks: what one of them says, the others say too.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

from generated.operations import OPERATIONS, RULES

from ..recorder import CREDENTIAL_PLACEHOLDERS, Exchange
from .model import ALL_OPERATIONS, OUTCOMES, FailureRecord, RunData, Status, Totals

__all__ = [
    "Bar", "Cell", "FailureView", "MatrixRow", "ReportView", "build_view", "cell_text", "clip", "counted",
    "rule_text",
]

CHOICES_NOTE = ("Where the documents allow more than one answer, every allowed answer passes; "
                "these are the ones this server gave (docs/assertions.md).")
TOTALS_NOTE = ("A test is one pytest test of the suite that was selected to run; tier 1 is one "
               "test whose operation checks (one per operation) are counted apart. The matrix "
               "counts tier 1 by operation check and the other tiers by test "
               "(docs/contract-suite.md, Totals).")
CHART_WIDTH = 360  # pixels of the longest bar
MAX_BODY = 4000  # characters of a request or answer body the reports show
_CREDENTIALS = {
    "writer": f"the write token ({CREDENTIAL_PLACEHOLDERS['writer']})",
    "readonly": f"the read-only token ({CREDENTIAL_PLACEHOLDERS['readonly']})",
    "unknown": f"a token the server does not know ({CREDENTIAL_PLACEHOLDERS['unknown']})",
    None: "no Authorization header",
}


def cell_text(counts: Mapping[str, int]) -> str:
    parts = [f"{counts[o]} {o}" for o in OUTCOMES if counts.get(o)]
    return ", ".join(parts) if parts else "·"


def _css_class(counts: Mapping[str, int]) -> str:
    for outcome in ("failed", "infra", "not run", "passed", "skipped"):
        if counts.get(outcome):
            return outcome.replace(" ", "-")
    return "none"


def counted(counts: Counter[str]) -> str:
    """`12 (10 passed, 2 failed)`: a total and how it splits."""
    return f"{sum(counts.values())} ({cell_text(counts).replace('·', 'none')})"


@dataclass(frozen=True)
class Cell:
    counts: Mapping[str, int]
    text: str
    css: str
    failures: tuple[tuple[str, str], ...]  # (label, failure id) of the failures it counts


@dataclass(frozen=True)
class MatrixRow:
    operation: str
    cells: tuple[Cell, ...]
    total: bool = False  # the "all" row


@dataclass(frozen=True)
class Segment:
    outcome: str
    count: int
    x: int
    width: int


@dataclass(frozen=True)
class Bar:
    tier: str
    total: int
    segments: tuple[Segment, ...]


@dataclass(frozen=True)
class FailureView:
    id: str
    label: str  # short: f1, f2, ...
    record: FailureRecord
    rule_text: str  # the rule, which says what was expected
    request: str | None  # "METHOD path"
    credential: str | None
    request_body: str | None
    answer: str | None  # "HTTP 200"
    answer_body: str | None
    script: str | None  # the repro script's path


@dataclass(frozen=True)
class ReportView:
    run: RunData
    totals: Totals
    status: Status
    banner: str
    overview: tuple[tuple[str, str], ...]
    tiers: tuple[str, ...]
    matrix: tuple[MatrixRow, ...]
    tier_rows: tuple[tuple[str, tuple[int, ...], int], ...]  # name, count per outcome, total
    not_run: tuple[tuple[str, str, int], ...]  # tier, operation, tests
    instructions: tuple[tuple[str, str, int, int], ...]
    statuses: tuple[tuple[str, str, str], ...]
    choices: tuple[tuple[str, str, int], ...]
    failures: tuple[FailureView, ...]  # contract failures
    infrastructure: tuple[FailureView, ...]
    chart: tuple[Bar, ...]
    outcomes: tuple[str, ...] = OUTCOMES
    choices_note: str = CHOICES_NOTE
    totals_note: str = TOTALS_NOTE


def build_view(run: RunData) -> ReportView:
    totals = run.totals()
    failures = _failure_views(run, run.contract_failures)
    infra = _failure_views(run, run.infrastructure_failures)
    return ReportView(
        run=run, totals=totals, status=run.status, banner=_banner(run, totals),
        overview=_overview(run, totals), tiers=tuple(run.tiers()),
        matrix=_matrix(run, totals, (*failures, *infra)), tier_rows=_tier_rows(run, totals),
        not_run=tuple((tier, op, n) for (tier, op), n in sorted(
            run.not_run.items(), key=lambda kv: (_tier_rank(run, kv[0][0]), kv[0][1]))),
        instructions=_instruction_rows(run), statuses=_status_rows(run),
        choices=tuple((p, a, n) for (p, a), n in sorted(run.choices.items())),
        failures=failures, infrastructure=infra, chart=_chart(run, totals),
    )


def _tier_rank(run: RunData, tier: str) -> int:
    tiers = run.tiers()
    return tiers.index(tier) if tier in tiers else len(tiers)


def _banner(run: RunData, totals: Totals) -> str:
    if run.status == "incomplete":
        missing = sum(run.not_run.values())
        return f"INCOMPLETE: {run.incomplete_reason}. " + (
            f"{missing} of {totals.test_count} tests did not run, so this run proves nothing "
            "about them." if missing else "It stopped before the end of the run.")
    if run.status == "failed":
        return (f"FAILED: {len(run.contract_failures)} contract failures, "
                f"{len(run.infrastructure_failures)} infrastructure failures.")
    return (f"PASSED: no test or operation check failed (tests: {counted(totals.tests)}; "
            f"operation checks: {counted(totals.checks)}).")


def _overview(run: RunData, totals: Totals) -> tuple[tuple[str, str], ...]:
    selection = "; ".join(f"{k} {v}" for k, v in run.selection.items()) or "every test"
    return (
        ("status", run.status.upper() + (f": {run.incomplete_reason}"
                                         if run.status == "incomplete" else "")),
        ("target", run.target),
        ("seed", f"{run.seed} (`--hypothesis-seed={run.seed}`; re-run: `{run.rerun}`)"),
        ("examples per test", str(run.examples_per_test)
         + ("" if run.shrink else " (failing examples not shrunk)")),
        ("selection", selection),
        ("duration", f"{run.duration_s:.1f} s"),
        ("requests made", f"{run.requests} ({run.per_second(run.requests):.1f}/s)"),
        ("examples run", (f"{run.examples_run} ({run.per_second(run.examples_run):.1f}/s; "
                          "Hypothesis test cases, shrinking included)")),
        ("tests", counted(totals.tests)),
        ("operation checks", counted(totals.checks) + " (tier 1, one per operation)"),
        ("contract failures", str(len(run.contract_failures))),
        ("infrastructure failures", (f"{len(run.infrastructure_failures)} (the network or a "
                                     "gateway failed; not contract failures)")),
        ("network retries", ", ".join(f"{event} ×{count}" for event, count in
                                      sorted(run.network.items())) or "none"),
    )


def _operations(run: RunData) -> list[str]:
    seen = {op for op, _, _ in run.matrix()} | {op for op, _ in run.statuses}
    extra = sorted(seen - set(OPERATIONS) - {ALL_OPERATIONS})
    return [*OPERATIONS, *extra, *([ALL_OPERATIONS] if ALL_OPERATIONS in seen else [])]


def _matrix(run: RunData, totals: Totals,
            failures: tuple[FailureView, ...]) -> tuple[MatrixRow, ...]:
    tiers, cells = run.tiers(), run.matrix()
    rows = []
    for operation in _operations(run):
        row = []
        for tier in tiers:
            counts = {o: cells[(operation, tier, o)] for o in OUTCOMES}
            refs = tuple((f.label, f.id) for f in failures
                         if (f.record.operation, f.record.test_tier) == (operation, tier))
            row.append(Cell(counts, cell_text(counts), _css_class(counts), refs))
        rows.append(MatrixRow(operation, tuple(row)))
    results = totals.results_by_tier
    rows.append(MatrixRow("all", tuple(
        Cell(results.get(t, Counter()), cell_text(results.get(t, Counter())),
             _css_class(results.get(t, Counter())), ()) for t in tiers), total=True))
    return tuple(rows)


def _tier_rows(run: RunData, totals: Totals) -> tuple[tuple[str, tuple[int, ...], int], ...]:
    rows = [(tier, tuple(totals.tests_by_tier.get(tier, Counter())[o] for o in OUTCOMES),
             sum(totals.tests_by_tier.get(tier, Counter()).values())) for tier in run.tiers()]
    rows.append(("all tests", tuple(totals.tests[o] for o in OUTCOMES), totals.test_count))
    rows.append(("operation checks (tier 1)", tuple(totals.checks[o] for o in OUTCOMES),
                 totals.check_count))
    return tuple(rows)


def _instruction_rows(run: RunData) -> tuple[tuple[str, str, int, int], ...]:
    rows = []
    seen = {(op, kind) for op, kind, _ in run.instructions}
    for operation in _operations(run):
        kinds = list(OPERATIONS[operation].instructions) if operation in OPERATIONS else []
        kinds += sorted(k for op, k in seen if op == operation and k not in kinds)
        for kind in kinds:
            rows.append((operation, kind, run.instructions.get((operation, kind, "succeeded"), 0),
                         run.instructions.get((operation, kind, "failed"), 0)))
    return tuple(rows)


def _status_rows(run: RunData) -> tuple[tuple[str, str, str], ...]:
    """operation, exercised codes (count; `!` = not documented for it), documented but unseen."""
    rows = []
    for operation in _operations(run):
        if operation == ALL_OPERATIONS:
            continue
        documented = OPERATIONS[operation].status_codes if operation in OPERATIONS else ()
        seen = sorted((code, n) for (op, code), n in run.statuses.items() if op == operation)
        exercised = ", ".join(f"{code}{'' if code in documented else '!'} ×{n}"
                              for code, n in seen) or "none"
        unseen = ", ".join(str(c) for c in documented if c not in dict(seen)) or "—"
        rows.append((operation, exercised, unseen))
    return tuple(rows)


def rule_text(record: FailureRecord) -> str:
    rule = RULES.get(record.rule)
    if rule is not None:
        return f"{record.rule}: {rule.summary}"
    if record.rule.startswith("policy:"):
        return f"{record.rule} (the mock's reference policy, docs/mock-server.md)"
    return record.rule


def clip(text: str) -> str:
    """A body as the reports show it."""
    return text if len(text) <= MAX_BODY else text[:MAX_BODY] + " …(truncated)"


def _body(exchange: Exchange) -> str | None:
    return clip(exchange.body.decode("utf-8", "replace")) if exchange.body else None


def _failure_views(run: RunData, records: list[FailureRecord]) -> tuple[FailureView, ...]:
    views = []
    for failure_id, record in run.identified(records):
        request = record.request
        views.append(FailureView(
            id=failure_id, label=failure_id.split("-", 1)[0], record=record,
            rule_text=rule_text(record),
            request=(f"{request.method} {request.url}" if request is not None else None),
            credential=_CREDENTIALS[request.credential] if request is not None else None,
            request_body=_body(request) if request is not None else None,
            answer=(None if request is None else f"HTTP {request.status}"
                    if request.status is not None else "no answer (the network failed)"),
            answer_body=clip(request.response_excerpt) if request is not None else None,
            script=(str(run.repro_script(failure_id))
                    if record.repro is not None and not record.infrastructure else None),
        ))
    return tuple(views)


def _chart(run: RunData, totals: Totals) -> tuple[Bar, ...]:
    """Results per tier as bars scaled to the largest tier (the matrix's "all" row)."""
    tiers = run.tiers()
    largest = max((sum(c.values()) for c in totals.results_by_tier.values()), default=0) or 1
    bars = []
    for tier in tiers:
        counts = totals.results_by_tier.get(tier, Counter())
        x, segments = 0, []
        for outcome in OUTCOMES:
            if counts[outcome]:
                width = max(1, round(CHART_WIDTH * counts[outcome] / largest))
                segments.append(Segment(outcome, counts[outcome], x, width))
                x += width
        bars.append(Bar(tier, sum(counts.values()), tuple(segments)))
    return tuple(bars)
