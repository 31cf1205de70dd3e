"""The conformance report: a pytest plugin that turns the suite's outcomes into reports.

Registered from ``conftest.py``. It reads what it needs from the run itself, never from print
statements: each test's operation (its ``operation_id`` parameter, or the operation label of a
Schemathesis subtest) and tier (its marker), its outcome, and for a failure the exception it
raised (`checks.ContractViolation` carries the rule id; a Schemathesis failure names its check
and carries a curl reproduction). The `Recorder` supplies the exercised status codes and
instruction outcomes and the last exchanges of the running test.

At session end it writes ``<reports dir>/conformance.md`` and ``conformance.html`` and prints a
short summary. It adds ``operation``, ``tier`` and (on failure) ``rule`` to every test's JUnit
properties. Failures of the network or of a gateway in front of the target (`network.py`:
`InfrastructureError`, transport errors) are not contract failures: a test that failed only
through them counts as ``infra`` in the matrix, its rule is ``infrastructure``, and the reports
list it under "Infrastructure failures", apart from the contract's. No secret leaves the process: reports, test reports (what pytest prints and writes
to JUnit) and the summary are redacted, and a final guard rescans every file written.
"""

from __future__ import annotations

import html
import re
import textwrap
from collections import Counter
from collections.abc import Generator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis.statistics import collector
from schemathesis.core.failures import Failure as SchemathesisFailure

from generated.operations import OPERATIONS, RULES

from .checks import ContractViolation
from .network import is_infrastructure
from .recorder import ELLIPSES, Exchange, Recorder, redact_secrets
from .settings import SuiteSettings

__all__ = [
    "ALL_OPERATIONS",
    "TIERS",
    "ConformanceReport",
    "FailureRecord",
    "RunData",
    "Violation",
    "render_html",
    "render_markdown",
    "reproduction",
    "scrub_files",
    "summary_lines",
    "tier_totals",
    "violations_of",
]

TIERS = ("tier1", "tier2", "stateful", "tier3")
OUTCOMES = ("passed", "failed", "infra", "skipped")  # infra: failed only through the network
INFRASTRUCTURE = "infrastructure"  # the rule of an infrastructure failure
ALL_OPERATIONS = "(several operations)"  # tests that are not about one operation
UNTIERED = "other"
MAX_MESSAGE = 2000  # characters of a failure message kept in the reports

# Schemathesis names each operation's report `<test>[METHOD /path]`
_SUBTEST_LABEL = re.compile(r"\[([A-Z]+) (/[^\]]*)\]$")
_CURL_BLOCK = re.compile(r"Reproduce with:\s*\n\s*\n((?:[ \t]+\S.*(?:\n|$))+)")
_BY_ROUTE = {(op.method.upper(), op.path): op_id for op_id, op in OPERATIONS.items()}


@dataclass(frozen=True)
class Violation:
    """One failure found in a test's exception: which rule, which tier, what, how to repeat it."""

    rule: str
    tier: str | None  # None: not known from the exception (the test's marker decides)
    message: str
    curl: tuple[str, ...] = ()
    infrastructure: bool = False  # the network or a gateway failed, not the contract


@dataclass(frozen=True)
class FailureRecord:
    test: str
    operation: str
    tier: str  # the rule's tier ("tier1", "tier2", ...)
    test_tier: str  # the test's marker (a stateful test checks tier-2 rules)
    rule: str
    message: str
    reproduction: tuple[str, ...]  # curl commands, oldest first; empty: none captured
    infrastructure: bool = False  # not a contract failure (network.py)


@dataclass
class RunData:
    """Everything the reports show; the renderers are pure functions of it."""

    target: str
    seed: int
    examples_per_test: int
    in_process: bool
    duration_s: float = 0.0  # spent in the contract tests (setup and teardown included)
    requests: int = 0
    examples_run: int = 0
    matrix: Counter[tuple[str, str, str]] = field(default_factory=Counter)  # op, tier, outcome
    statuses: Mapping[tuple[str, int], int] = field(default_factory=dict)
    instructions: Mapping[tuple[str, str, str], int] = field(default_factory=dict)
    failures: list[FailureRecord] = field(default_factory=list)
    network: Mapping[str, int] = field(default_factory=dict)  # retries and give-ups by kind
    choices: Mapping[tuple[str, str], int] = field(default_factory=dict)  # open point, answer

    @property
    def contract_failures(self) -> list[FailureRecord]:
        return [f for f in self.failures if not f.infrastructure]

    @property
    def infrastructure_failures(self) -> list[FailureRecord]:
        return [f for f in self.failures if f.infrastructure]

    def per_second(self, count: int) -> float:
        return count / self.duration_s if self.duration_s > 0 else 0.0


# --- failures out of exceptions -------------------------------------------------------------


def _notes(exc: BaseException) -> str:
    notes = [n for n in getattr(exc, "__notes__", ()) if isinstance(n, str)]
    return ("\n" + "\n".join(notes)) if notes else ""


def _clip(text: str) -> str:
    text = text.strip()
    return text if len(text) <= MAX_MESSAGE else text[:MAX_MESSAGE] + " …(truncated)"


def _curl_in(text: str) -> tuple[str, ...]:
    """The curl command(s) Schemathesis prints under "Reproduce with:"."""
    return tuple(
        line.strip()
        for block in _CURL_BLOCK.findall(text)
        for line in textwrap.dedent(block).splitlines()
        if line.strip()
    )


def violations_of(exc: BaseException) -> list[Violation]:
    """Every failure an exception stands for; exception groups are flattened."""
    found: list[Violation] = []
    _walk(exc, (), "", found)
    return found


def _walk(exc: BaseException, curl: tuple[str, ...], notes: str, out: list[Violation]) -> None:
    if isinstance(exc, BaseExceptionGroup):
        inner_curl = _curl_in(str(exc.message)) or curl
        for inner in exc.exceptions:
            _walk(inner, inner_curl, notes + _notes(exc), out)
        return
    if isinstance(exc, ContractViolation):
        message = str(exc).removeprefix(f"[{exc.rule}] ")
        out.append(Violation(exc.rule, f"tier{exc.tier}", _clip(message + _notes(exc) + notes)))
    elif isinstance(exc, SchemathesisFailure):
        rule = exc.checks[0] if exc.checks else exc.code
        text = f"{exc.code} {exc.title}" + (f"\n{exc.message}" if exc.message else "")
        out.append(Violation(rule, "tier1", _clip(text), curl))
    elif is_infrastructure(exc):
        text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        out.append(Violation(INFRASTRUCTURE, None, _clip(text + _notes(exc) + notes), curl,
                             infrastructure=True))
    elif (cause := _infrastructure_behind(exc)) is not None:
        # raised while an infrastructure failure propagated, e.g. Hypothesis' bookkeeping
        # ("Inconsistent data generation") when a lost request ended an example early
        text = (f"{type(cause).__name__}: {cause}\n(then, while it propagated: "
                f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})")
        out.append(Violation(INFRASTRUCTURE, None, _clip(text + notes), curl,
                             infrastructure=True))
    else:
        text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        out.append(Violation(type(exc).__name__, None, _clip(text + _notes(exc) + notes)))


def _infrastructure_behind(exc: BaseException) -> BaseException | None:
    """An infrastructure failure this exception was raised while handling, if any."""
    seen: set[int] = set()
    current = exc.__cause__ or exc.__context__
    while current is not None and id(current) not in seen:
        if is_infrastructure(current):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def reproduction(exchanges: Sequence[Exchange]) -> tuple[str, ...]:
    """The request under test and what was read after it: from the last write onwards."""
    if not exchanges:
        return ()
    writes = [i for i, e in enumerate(exchanges) if e.method.upper() != "GET"]
    start = writes[-1] if writes else len(exchanges) - 1
    return tuple(e.as_curl() for e in exchanges[start:])


# --- the outcomes of a run ------------------------------------------------------------------


def _operation_of(item: pytest.Item) -> str:
    callspec = getattr(item, "callspec", None)
    if callspec is not None and "operation_id" in callspec.params:
        return str(callspec.params["operation_id"])
    return ALL_OPERATIONS


def _subtest_operation(nodeid: str) -> str:
    match = _SUBTEST_LABEL.search(nodeid)
    if match is None:
        return ALL_OPERATIONS
    method, path = match.groups()
    return _BY_ROUTE.get((method, path), f"{method} {path}")


def _tier_of(item: pytest.Item) -> str:
    for tier in TIERS:
        if item.get_closest_marker(tier) is not None:
            return tier
    return UNTIERED


def _outcome(report: pytest.TestReport) -> str:
    if hasattr(report, "wasxfail"):
        return "skipped" if report.skipped else "passed"
    if report.failed and getattr(report, "_contract_infra", False):
        return "infra"
    return str(report.outcome)


def tier_totals(matrix: Mapping[tuple[str, str, str], int]) -> dict[str, Counter[str]]:
    totals: dict[str, Counter[str]] = {tier: Counter() for tier in TIERS}
    for (_, tier, outcome), count in matrix.items():
        totals.setdefault(tier, Counter())[outcome] += count
    return totals


def _examples_in(stats: Mapping[str, Any]) -> int:
    """Test cases Hypothesis ran, from its statistics (all phases, shrinking included)."""
    total = 0
    for name, phase in stats.items():
        if name.endswith("-phase") and isinstance(phase, Mapping):
            total += len(phase.get("test-cases") or ())
    return total


class ConformanceReport:
    """The pytest plugin. One instance per session; `conftest.py` registers it."""

    def __init__(self, settings: SuiteSettings, recorder: Recorder, seed: int,
                 root: Path | None = None) -> None:
        self.settings = settings
        self.recorder = recorder
        self.data = RunData(settings.target_name, seed, settings.examples, settings.in_process)
        self.root = root  # only tests under it are reported (None: every test)
        self.written: list[Path] = []
        self._config: pytest.Config | None = None
        self._pending: dict[str, str] = {}  # nodeid -> outcome so far (setup, call, teardown)
        self._with_subtests: set[str] = set()

    def redact(self, text: str) -> str:
        return self.recorder.redact(text)

    def _reported(self, item: pytest.Item) -> bool:
        return self.root is None or Path(str(item.path)).is_relative_to(self.root)

    # hooks ------------------------------------------------------------------------------

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        self._config = session.config

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        self.recorder.recent.clear()
        item.stash[_BASE_NODEID] = item.nodeid
        if self._reported(item):
            item.user_properties += [("operation", _operation_of(item)), ("tier", _tier_of(item))]

    @pytest.hookimpl(wrapper=True)
    def pytest_pyfunc_call(self, pyfuncitem: pytest.Function) -> Generator[None, Any, Any]:
        """Count the examples Hypothesis runs (Schemathesis' included), through its statistics
        callback, keeping any callback already installed (``--hypothesis-show-statistics``)."""
        outer = collector.value

        def note(stats: Mapping[str, Any]) -> None:
            self.data.examples_run += _examples_in(stats)
            if outer is not None:
                outer(stats)

        with collector.with_value(note):  # type: ignore[arg-type]
            return (yield)

    # outermost, so that sections other plugins add (Hypothesis' "Falsifying example") are
    # scrubbed too
    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        self._scrub(report)
        if not self._reported(item):
            return report
        base = item.stash.get(_BASE_NODEID, item.nodeid)
        subtest = item.nodeid != base  # Schemathesis renames the item for each operation
        operation = _subtest_operation(item.nodeid) if subtest else _operation_of(item)
        tier = _tier_of(item)
        records: list[FailureRecord] = []
        if report.failed and call.excinfo is not None:
            # Schemathesis' own requests bypass the recorder: its failures carry their curl
            records = self._failures(report.nodeid, operation, tier, call.excinfo.value,
                                     with_recent=not subtest)
        rules = [("rule", rule) for rule in dict.fromkeys(r.rule for r in records)]
        # failed only through the network: not a contract failure
        report._contract_infra = bool(records) and all(  # type: ignore[attr-defined]
            r.infrastructure for r in records)
        if subtest:
            report.user_properties = [("operation", operation), ("tier", tier), *rules]
            report._contract_subtest_of = base  # type: ignore[attr-defined]
        else:
            item.user_properties += rules  # JUnit takes them from the teardown report
            if report.when == "teardown":  # made from the item's properties before these
                report.user_properties = [*report.user_properties, *rules]
        report._contract_failures = records  # type: ignore[attr-defined]
        return report

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        records: list[FailureRecord] = getattr(report, "_contract_failures", None) or []
        self.data.failures += records
        props = {str(k): str(v) for k, v in report.user_properties}
        parent = getattr(report, "_contract_subtest_of", None)
        if parent is not None:
            self._with_subtests.add(parent)
            self.data.matrix[(props["operation"], props["tier"], _outcome(report))] += 1
            self._junit_properties(report)
            return
        if report.when == "setup" and "tier" in props:  # a reported test starts
            self._pending[report.nodeid] = _outcome(report)
        if report.nodeid not in self._pending:
            return
        self.data.duration_s += report.duration  # the time of the contract tests only
        if report.when == "setup":
            return
        if report.when == "call" and self._pending[report.nodeid] == "passed":
            self._pending[report.nodeid] = _outcome(report)
        if report.when == "teardown":
            outcome = _outcome(report) if report.failed else self._pending[report.nodeid]
            del self._pending[report.nodeid]
            if report.nodeid in self._with_subtests and outcome != "failed":
                return  # counted operation by operation
            self.data.matrix[(props.get("operation", ALL_OPERATIONS),
                              props.get("tier", UNTIERED), outcome)] += 1

    @pytest.hookimpl(trylast=True)
    def pytest_exception_interact(self, report: pytest.TestReport) -> None:
        self._scrub(report)  # Schemathesis rewrites longrepr here

    # after the JUnit writer, so the guard also rescans its file
    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        self.data.requests = self.recorder.requests
        self.data.statuses = dict(self.recorder.statuses)
        self.data.instructions = dict(self.recorder.outcomes)
        self.data.network = dict(self.recorder.network)
        self.data.choices = dict(self.recorder.choices)
        if self.data.matrix:  # something ran (not a configuration error, not --collect-only)
            directory = self.settings.reports_dir
            directory.mkdir(parents=True, exist_ok=True)
            for name, render in (("conformance.md", render_markdown),
                                 ("conformance.html", render_html)):
                path = directory / name
                path.write_text(self.redact(render(self.data)), encoding="utf-8")
                self.written.append(path)
        scrub_files([*self.written, *self._junit_path()], self.settings.secrets)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not self.data.matrix:
            return
        terminalreporter.write_sep("=", "contract conformance")
        for line in summary_lines(self.data, [*self.written, *self._junit_path()]):
            terminalreporter.write_line(self.redact(line))

    # helpers ----------------------------------------------------------------------------

    def _junit_path(self) -> list[Path]:
        xmlpath = getattr(self._config.option, "xmlpath", None) if self._config else None
        return [Path(xmlpath)] if xmlpath else []

    def _failures(self, nodeid: str, operation: str, marker_tier: str, exc: BaseException,
                  with_recent: bool = True) -> list[FailureRecord]:
        if isinstance(exc, pytest.skip.Exception | pytest.xfail.Exception):
            return []
        found = violations_of(exc)
        recent = reproduction(list(self.recorder.recent)) if with_recent and not isinstance(
            exc, KeyboardInterrupt) else ()
        records = []
        for index, violation in enumerate(found):
            curl = violation.curl
            if not curl and index == len(found) - 1:
                # Hypothesis replays each distinct failure in turn and raises them together:
                # the recorder's exchanges belong to the last one.
                curl = recent
            records.append(FailureRecord(
                test=self.redact(nodeid), operation=operation,
                tier=violation.tier or marker_tier, test_tier=marker_tier, rule=violation.rule,
                message=self.redact(violation.message),
                reproduction=tuple(self.redact(c) for c in curl),
                infrastructure=violation.infrastructure,
            ))
        return records

    def _junit_properties(self, report: pytest.TestReport) -> None:
        """Schemathesis' per-operation reports have no teardown, where pytest's JUnit writer
        takes properties from; hand them to its reporter for that test case directly."""
        try:
            from _pytest.junitxml import xml_key
        except ImportError:  # pragma: no cover - pytest internals moved
            return
        xml = self._config.stash.get(xml_key, None) if self._config else None
        if xml is None:
            return
        reporter = xml.node_reporter(report)
        for name, value in report.user_properties:
            reporter.add_property(name, str(value))

    def _scrub(self, report: pytest.TestReport) -> None:
        """Take secrets out of what pytest prints and writes for this test."""
        if report.longrepr is not None:
            text = str(report.longrepr)
            redacted = self.redact(text)  # whole secrets, and halves of cut ones
            if redacted != text:
                report.longrepr = redacted
        report.sections = [(title, self.redact(content)) for title, content in report.sections]
        report.user_properties = [(k, self.redact(str(v))) for k, v in report.user_properties]


_BASE_NODEID = pytest.StashKey[str]()


def scrub_files(paths: Iterable[Path], secrets: Sequence[str]) -> list[Path]:
    """The final guard: replace every secret in the files written; returns those changed."""
    changed = []
    for path in paths:
        if not path.is_file():
            continue
        content = original = path.read_bytes()
        for secret in secrets:
            content = content.replace(secret.encode(), b"***")
        text = content.decode("utf-8", "surrogateescape")
        if any(e in text for e in ELLIPSES):  # halves of a secret a shortened repr cut
            content = redact_secrets(text, list(secrets)).encode("utf-8", "surrogateescape")
        if content != original:
            path.write_bytes(content)
            changed.append(path)
    return changed


# --- rendering --------------------------------------------------------------------------------


def _cell(counts: Mapping[str, int]) -> str:
    parts = [f"{counts[o]} {o}" for o in OUTCOMES if counts.get(o)]
    return ", ".join(parts) if parts else "·"


def _tiers(data: RunData) -> list[str]:
    extra = sorted({tier for _, tier, _ in data.matrix} - set(TIERS))
    return [*TIERS, *extra]


def _operations(data: RunData) -> list[str]:
    seen = {op for op, _, _ in data.matrix} | {op for op, _ in data.statuses}
    extra = sorted(seen - set(OPERATIONS) - {ALL_OPERATIONS})
    return [*OPERATIONS, *extra, *([ALL_OPERATIONS] if ALL_OPERATIONS in seen else [])]


def _matrix_rows(data: RunData) -> list[tuple[str, list[Counter[str]]]]:
    tiers = _tiers(data)
    rows = []
    for operation in _operations(data):
        cells = [Counter({o: data.matrix[(operation, t, o)] for o in OUTCOMES}) for t in tiers]
        rows.append((operation, cells))
    totals = tier_totals(data.matrix)
    rows.append(("all", [totals.get(t, Counter()) for t in tiers]))
    return rows


def _instruction_rows(data: RunData) -> list[tuple[str, str, int, int]]:
    rows = []
    seen = {(op, kind) for op, kind, _ in data.instructions}
    for operation in _operations(data):
        kinds = list(OPERATIONS[operation].instructions) if operation in OPERATIONS else []
        kinds += sorted(k for op, k in seen if op == operation and k not in kinds)
        for kind in kinds:
            rows.append((operation, kind, data.instructions.get((operation, kind, "succeeded"), 0),
                         data.instructions.get((operation, kind, "failed"), 0)))
    return rows


def _status_rows(data: RunData) -> list[tuple[str, str, str]]:
    """operation, exercised codes (count; `!` = not documented for it), documented but unseen."""
    rows = []
    for operation in _operations(data):
        if operation == ALL_OPERATIONS:
            continue
        documented = OPERATIONS[operation].status_codes if operation in OPERATIONS else ()
        seen = sorted((code, n) for (op, code), n in data.statuses.items() if op == operation)
        exercised = ", ".join(f"{code}{'' if code in documented else '!'} ×{n}"
                              for code, n in seen) or "none"
        unseen = ", ".join(str(c) for c in documented if c not in dict(seen)) or "—"
        rows.append((operation, exercised, unseen))
    return rows


def _overview(data: RunData) -> list[tuple[str, str]]:
    totals = Counter[str]()
    for counts in tier_totals(data.matrix).values():
        totals.update(counts)
    return [
        ("target", data.target),
        ("seed", (f"{data.seed} (reproduce with `--hypothesis-seed={data.seed}` or "
                 f"`make contract SEED={data.seed}`)")),
        ("examples per test", str(data.examples_per_test)),
        ("duration", f"{data.duration_s:.1f} s"),
        ("requests made", f"{data.requests} ({data.per_second(data.requests):.1f}/s)"),
        ("examples run", (f"{data.examples_run} ({data.per_second(data.examples_run):.1f}/s; "
                         "Hypothesis test cases, shrinking included)")),
        ("result", _cell(totals).replace("·", "nothing ran")),
        ("contract failures", str(len(data.contract_failures))),
        ("infrastructure failures", (f"{len(data.infrastructure_failures)} (the network or a "
                                     "gateway failed; not contract failures)")),
        ("network retries", _network_text(data.network)),
    ]


def _network_text(network: Mapping[str, int]) -> str:
    if not network:
        return "none"
    return ", ".join(f"{event} ×{count}" for event, count in sorted(network.items()))


def _rule_text(record: FailureRecord) -> str:
    rule = RULES.get(record.rule)
    if rule is not None:
        return f"{record.rule}: {rule.summary}"
    if record.rule.startswith("policy:"):
        return f"{record.rule} (the mock's reference policy, docs/mock-server.md)"
    return record.rule


def _fence(text: str, info: str = "") -> str:
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}{info}\n{text}\n{ticks}"


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|")


_CHOICES_NOTE = ("Where the documents allow more than one answer, every allowed answer passes; "
                 "these are the ones this server gave (docs/assertions.md).")


def _choice_rows(data: RunData) -> list[tuple[str, str, int]]:
    return [(point, answer, n) for (point, answer), n in sorted(data.choices.items())]


def render_markdown(data: RunData) -> str:
    tiers = _tiers(data)
    out = ["# Contract conformance report", "", "| | |", "| --- | --- |"]
    out += [f"| {k} | {_md_escape(v)} |" for k, v in _overview(data)]
    out += ["", "## Operations × tiers", "",
            "| operation | " + " | ".join(tiers) + " |",
            "| --- |" + " --- |" * len(tiers)]
    for operation, cells in _matrix_rows(data):
        name = f"**{operation}**" if operation == "all" else f"`{operation}`"
        out.append(f"| {name} | " + " | ".join(_cell(c) for c in cells) + " |")
    out += ["", ("`·`: no test of that tier for the operation. Tier 3 runs only against the kit's "
            "mock."), "", "## Instruction kinds exercised", "",
            "| operation | kind | succeeded | failed |", "| --- | --- | ---: | ---: |"]
    out += [f"| `{op}` | `{kind}` | {ok} | {failed} |"
            for op, kind, ok, failed in _instruction_rows(data)]
    out += ["", ("Counted from every semantic patch the suite sent that got 200 "
            "(setup requests included)."), "", "## Status codes exercised", "",
            "| operation | exercised (count) | documented, never seen |", "| --- | --- | --- |"]
    out += [f"| `{op}` | {seen} | {unseen} |" for op, seen, unseen in _status_rows(data)]
    out += ["", "`!`: not a documented status code of the operation.", "",
            "## Open points: the answers this server chose", "", _CHOICES_NOTE, "",
            "| open point | answer | times |", "| --- | --- | ---: |"]
    out += [f"| {_md_escape(point)} | {_md_escape(answer)} | {n} |"
            for point, answer, n in _choice_rows(data)]
    out += ["", f"## Failures ({len(data.contract_failures)})", ""]
    if not data.contract_failures:
        out.append("None.")
    for number, record in enumerate(data.contract_failures, 1):
        out += [f"### {number}. `{record.test}`", "",
                f"- operation: `{record.operation}`",
                f"- tier: {record.tier} (test marker: {record.test_tier})",
                f"- rule: {_rule_text(record)}", "", _fence(record.message, "text"), ""]
        if record.reproduction:
            out += ["Reproduce (the token is `$LD_API_TOKEN`"
                    + ("; in-process runs: start `python -m mock_server` and use its URL"
                       if data.in_process else "") + "):", "",
                    _fence("\n".join(record.reproduction), "sh"), ""]
        else:
            out += [(f"No requests captured for this failure: rerun with "
                    f"`--hypothesis-seed={data.seed}`."), ""]
    out += [f"## Infrastructure failures ({len(data.infrastructure_failures)})", "",
            ("Tests that failed because the network or a gateway in front of the target failed "
             "(after the retries the suite allows): they prove nothing about the contract. "
             "Rerun them."), ""]
    if not data.infrastructure_failures:
        out.append("None.")
    for number, record in enumerate(data.infrastructure_failures, 1):
        out += [f"### {number}. `{record.test}`", "", f"- operation: `{record.operation}`",
                f"- tier: {record.tier}", "", _fence(record.message, "text"), ""]
    return "\n".join(out).rstrip() + "\n"


_CSS = """
body{font-family:system-ui,sans-serif;margin:2em;max-width:75em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.3em .6em;
text-align:left;vertical-align:top}th{background:#f3f3f3}code,pre{font-family:ui-monospace,monospace}
pre{background:#f6f6f6;padding:.6em;overflow-x:auto;white-space:pre-wrap}
.failed{background:#fbd5d5}.infra{background:#fdeccf}.passed{background:#d9f2d9}.skipped{background:#eee}.none{color:#999}
"""


def _html_table(header: Sequence[str], rows: Iterable[Sequence[str]],
                classes: Iterable[Sequence[str]] | None = None) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    css_rows = list(classes) if classes is not None else None
    body = []
    for index, row in enumerate(rows):
        css = css_rows[index] if css_rows is not None else [""] * len(row)
        body.append("<tr>" + "".join(
            f'<td class="{c}">{html.escape(v)}</td>' for v, c in zip(row, css, strict=True)
        ) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _css_class(counts: Mapping[str, int]) -> str:
    for outcome in ("failed", "infra", "passed", "skipped"):
        if counts.get(outcome):
            return outcome
    return "none"


def render_html(data: RunData) -> str:
    tiers = _tiers(data)
    matrix = _matrix_rows(data)
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        "<title>Contract conformance report</title>", f"<style>{_CSS}</style></head><body>",
        "<h1>Contract conformance report</h1>",
        _html_table(["", ""], [list(kv) for kv in _overview(data)]),
        "<h2>Operations × tiers</h2>",
        _html_table(["operation", *tiers],
                    [[op, *(_cell(c) for c in cells)] for op, cells in matrix],
                    [["", *(_css_class(c) for c in cells)] for _, cells in matrix]),
        ("<p>·: no test of that tier for the operation. Tier 3 runs only against the kit's "
        "mock.</p>"),
        "<h2>Instruction kinds exercised</h2>",
        _html_table(["operation", "kind", "succeeded", "failed"],
                    [[op, kind, str(ok), str(failed)]
                     for op, kind, ok, failed in _instruction_rows(data)]),
        "<h2>Status codes exercised</h2>",
        _html_table(["operation", "exercised (count)", "documented, never seen"],
                    [list(row) for row in _status_rows(data)]),
        "<p>!: not a documented status code of the operation.</p>",
        "<h2>Open points: the answers this server chose</h2>",
        f"<p>{html.escape(_CHOICES_NOTE)}</p>",
        _html_table(["open point", "answer", "times"],
                    [[point, answer, str(n)] for point, answer, n in _choice_rows(data)]),
        f"<h2>Failures ({len(data.contract_failures)})</h2>",
    ]
    if not data.contract_failures:
        parts.append("<p>None.</p>")
    for number, record in enumerate(data.contract_failures, 1):
        parts += [
            f"<h3>{number}. <code>{html.escape(record.test)}</code></h3><ul>",
            f"<li>operation: <code>{html.escape(record.operation)}</code></li>",
            (f"<li>tier: {html.escape(record.tier)} (test marker: "
            f"{html.escape(record.test_tier)})</li>"),
            f"<li>rule: {html.escape(_rule_text(record))}</li></ul>",
            f"<pre>{html.escape(record.message)}</pre>",
        ]
        if record.reproduction:
            parts += ["<p>Reproduce (the token is <code>$LD_API_TOKEN</code>):</p>",
                      f"<pre>{html.escape(chr(10).join(record.reproduction))}</pre>"]
    parts += [f"<h2>Infrastructure failures ({len(data.infrastructure_failures)})</h2>",
              ("<p>Tests that failed because the network or a gateway in front of the target "
               "failed: they prove nothing about the contract. Rerun them.</p>")]
    if not data.infrastructure_failures:
        parts.append("<p>None.</p>")
    for number, record in enumerate(data.infrastructure_failures, 1):
        parts += [f"<h3>{number}. <code>{html.escape(record.test)}</code></h3>",
                  (f"<p>operation: <code>{html.escape(record.operation)}</code>, "
                   f"tier: {html.escape(record.tier)}</p>"),
                  f"<pre>{html.escape(record.message)}</pre>"]
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def summary_lines(data: RunData, files: Sequence[Path]) -> list[str]:
    """The terminal summary: per tier, throughput, failures, where the reports are."""
    totals = tier_totals(data.matrix)
    lines = [
        (f"target {data.target}; seed {data.seed} (--hypothesis-seed={data.seed}); "
        f"{data.examples_per_test} examples per test"),
        " | ".join(f"{tier}: {_cell(totals.get(tier, Counter())).replace('·', 'none')}"
                   for tier in _tiers(data)),
        (f"{data.examples_run} examples, {data.requests} requests in {data.duration_s:.1f} s: "
        f"{data.per_second(data.examples_run):.1f} examples/s, "
        f"{data.per_second(data.requests):.1f} requests/s"),
    ]
    contract, infra = data.contract_failures, data.infrastructure_failures
    lines.append(f"contract failures: {len(contract)}; infrastructure failures: {len(infra)} "
                 f"(not contract failures); network retries: {_network_text(data.network)}")
    if data.choices:
        lines.append("open points (answers the documents allow): " + "; ".join(
            f"{point}: {answer} ×{n}" for point, answer, n in _choice_rows(data)))
    for record in contract[:10]:
        lines.append(f"FAILED {record.test}: {record.rule} ({record.tier})")
    if len(contract) > 10:
        lines.append(f"… and {len(contract) - 10} more failures (see the report)")
    for record in infra[:5]:
        lines.append(f"INFRA {record.test}: {record.message.splitlines()[0][:160]}")
    if len(infra) > 5:
        lines.append(f"… and {len(infra) - 5} more infrastructure failures (see the report)")
    if files:
        lines.append("reports: " + ", ".join(str(f) for f in files))
    return lines
