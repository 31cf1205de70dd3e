"""The pytest plugin that builds the run model from the suite's hooks and writes the reports.

Registered from ``conftest.py``. It reads what it needs from the run itself, never from print
statements: each test's operation (its ``operation_id`` parameter; a tier-1 test's
Schemathesis check is about its test's operation) and tier (its marker), its outcome, and for a
failure the exception it raised (failures.py). The `Recorder` supplies the exercised status
codes and instruction outcomes, and the exchanges a failure's repro script replays (repro.py).

The model lives in the config's stash (`RUN`), the per-test bookkeeping in each item's; at
session end the model is finished once — is the run complete, which failures are known
deviations (baseline.py), what did it cover and does the coverage gate hold (coverage.py,
gate.py): model.RunData.status, which also decides pytest's exit status — and every output is
rendered from it: JUnit properties, then the files (files.py), then the terminal summary. No secret leaves the process: test reports (what pytest prints and writes to JUnit),
the reports and the summary are redacted, and a final guard rescans every file written.
"""

from __future__ import annotations

import datetime
import re
import signal
from collections.abc import Generator, Mapping
from pathlib import Path
from typing import Any

import pytest
from hypothesis.statistics import collector

from ..interrupts import INTERRUPTS
from ..markers import tier_marker
from ..network import is_infrastructure
from ..recorder import Recorder
from ..settings import SuiteSettings
from ..workers import is_controller, is_worker
from . import junit
from .coverage import coverage_of
from .failures import failure_records
from .files import discard_reports, write_reports
from .merge import PART_KEY, merge_part, part_of
from .model import ALL_OPERATIONS, NOT_RUN, UNTIERED, FailureRecord, Result, RunData, new_run
from .redact import scrub_files
from .render import summary_lines

__all__ = ["RUN", "ConformanceReport"]

RUN = pytest.StashKey[RunData]()  # the run model, in the config's stash
_BASE_NODEID = pytest.StashKey[str]()  # an item's node id before Schemathesis renames it
_CHECK_ERRORS = pytest.StashKey[set[int]]()  # exceptions a split test's checks reported
# control flow, not failures: pytest's own outcomes
_OUTCOMES = (Exception, pytest.fail.Exception, pytest.skip.Exception, pytest.xfail.Exception,
             pytest.exit.Exception)

# Schemathesis names its operation check's report `<test>[METHOD /path]`
_SUBTEST_LABEL = re.compile(r"\[([A-Z]+) (/[^\]]*)\]$")


def _operation_of(item: pytest.Item) -> str:
    callspec = getattr(item, "callspec", None)
    if callspec is not None and "operation_id" in callspec.params:
        return str(callspec.params["operation_id"])
    return ALL_OPERATIONS


def _tier_of(item: pytest.Item) -> str:
    return tier_marker(item) or UNTIERED


def _stops_the_run(exc: BaseException, stopping: bool) -> bool:
    """An exception that stops the run rather than failing the test: an interrupt, or a
    BaseException raised while pytest was being told to stop (``session.shouldstop``, e.g. a
    request budget that is spent). The test did not run to its end."""
    if isinstance(exc, KeyboardInterrupt):
        return True
    return stopping and not isinstance(exc, _OUTCOMES) and not is_infrastructure(exc)


def _stop_reason(session: pytest.Session, interrupt: str | None, exitstatus: int) -> str | None:
    """Why pytest ended the run before its end, if it did: ``session.shouldstop`` (a request
    budget, ...), ``-x``/``--maxfail`` (``session.shouldfail``), Ctrl-C or SIGTERM."""
    if session.shouldstop:
        return str(session.shouldstop) if isinstance(session.shouldstop, str) else (
            "pytest was told to stop")
    if session.shouldfail:
        return f"stopped early (-x / --maxfail): {session.shouldfail}"
    if interrupt is None and exitstatus == pytest.ExitCode.INTERRUPTED:
        return "interrupted"
    return interrupt


def _outcome(report: pytest.TestReport, records: list[FailureRecord]) -> str:
    if hasattr(report, "wasxfail"):
        return "skipped" if report.skipped else "passed"
    if report.failed and records and all(r.infrastructure for r in records):
        return "infra"  # failed only through the network: not a contract failure
    return str(report.outcome)


def _examples_in(stats: Mapping[str, Any]) -> int:
    """Test cases Hypothesis ran, from its statistics (all phases, shrinking included)."""
    total = 0
    for name, phase in stats.items():
        if name.endswith("-phase") and isinstance(phase, Mapping):
            total += len(phase.get("test-cases") or ())
    return total


def _selection(config: pytest.Config) -> dict[str, str]:
    options = {"-m": config.getoption("markexpr", ""), "-k": config.getoption("keyword", "")}
    return {flag: str(value) for flag, value in options.items() if value}


class ConformanceReport:
    """The pytest plugin. One instance per session; `conftest.py` registers it."""

    def __init__(self, settings: SuiteSettings, recorder: Recorder, seed: int,
                 root: Path | None = None, run_id: str | None = None) -> None:
        self.settings = settings
        self.recorder = recorder
        self.seed = seed
        self.root = root  # only tests under it are reported (None: every test)
        self.run_id = run_id  # the prefix of every key the run creates (repro scripts rename it)
        self.written: list[Path] = []
        self._config: pytest.Config | None = None
        self._pending: dict[str, str] = {}  # nodeid -> outcome so far (setup, call, teardown)
        self._interrupt: str | None = None
        self._reports = False  # the run has a result to report
        self._other_failed = False  # a test this plugin does not report failed

    @property
    def run(self) -> RunData:
        assert self._config is not None, "the plugin is configured with the session"
        return self._config.stash[RUN]

    def redact(self, text: str) -> str:
        return self.recorder.redact(text)

    def _reported(self, item: pytest.Item) -> bool:
        return self._reported_path(Path(str(item.path)))

    def _reported_path(self, path: Path) -> bool:
        return self.root is None or path.is_relative_to(self.root)

    # the run starts ------------------------------------------------------------------------

    def pytest_configure(self, config: pytest.Config) -> None:
        self._config = config
        config.stash[RUN] = new_run(self.settings, self.seed, _selection(config))

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        if not is_worker(session.config):  # a worker's controller writes the reports
            discard_reports(self.settings.reports_dir)  # an earlier run's would look current

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        for item in session.items:
            if self._reported(item):
                self.run.tests[item.nodeid] = Result(_operation_of(item), _tier_of(item))

    # each test -----------------------------------------------------------------------------

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        operation = _operation_of(item)
        self.recorder.start_test(None if operation == ALL_OPERATIONS else operation,
                                 checks_rules=self._reported(item)
                                 and _tier_of(item) in ("tier2", "stateful"))
        item.stash[_BASE_NODEID] = item.nodeid
        if self._reported(item):
            item.user_properties += [("operation", _operation_of(item)), ("tier", _tier_of(item))]
            if item.nodeid in self.run.tests:
                self.run.tests[item.nodeid].started = True

    @pytest.hookimpl(wrapper=True)
    def pytest_fixture_setup(self) -> Generator[None, Any, Any]:
        """While a fixture is set up (also one a test asks for late, as Schemathesis' do), the
        recorder keeps its writes as setup: what a repro script provisions (repro.py)."""
        outer = self.recorder.setting_up
        self.recorder.setting_up = True
        try:
            return (yield)
        finally:
            self.recorder.setting_up = outer

    @pytest.hookimpl(wrapper=True)
    def pytest_pyfunc_call(self, pyfuncitem: pytest.Function) -> Generator[None, Any, Any]:
        """Count the examples Hypothesis runs (Schemathesis' included), through its statistics
        callback, keeping any callback already installed (``--hypothesis-show-statistics``)."""
        outer = collector.value

        def note(stats: Mapping[str, Any]) -> None:
            self.run.examples_run += _examples_in(stats)
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
        if self._reported(item):
            self._record(item, call, report)
        return report

    def _record(self, item: pytest.Item, call: pytest.CallInfo[None],
                report: pytest.TestReport) -> None:
        run = self.run
        base = item.stash.get(_BASE_NODEID, item.nodeid)
        exc = call.excinfo.value if report.failed and call.excinfo is not None else None
        reported_by_checks = item.stash.setdefault(_CHECK_ERRORS, set())
        # Schemathesis renames the item for each operation check; under -x a failed check's
        # exception then ends the test itself, which keeps the last check's name
        subtest = (item.nodeid != base and report.when == "call"
                   and (exc is None or id(exc) not in reported_by_checks))
        operation = _operation_of(item)  # a tier-1 test and its check: one operation
        tier = _tier_of(item)
        records: list[FailureRecord] = []
        stopped = False
        if exc is not None:
            stopped = _stops_the_run(exc, bool(item.session.shouldstop))
            if not stopped and id(exc) not in reported_by_checks:
                records = self._failures(report.nodeid, operation, tier, exc)
            if subtest:
                reported_by_checks.add(id(exc))
        outcome = NOT_RUN if stopped else _outcome(report, records)
        rules = [("rule", rule) for rule in dict.fromkeys(r.rule for r in records)]
        run.failures += records
        if subtest:
            report.user_properties = [("operation", operation), ("tier", tier), *rules]
            run.checks[report.nodeid] = Result(operation, tier, outcome, True, parent=base)
            if self._config is not None:
                junit.add_case_properties(self._config, report)
            return
        item.user_properties += rules  # JUnit takes them from the teardown report
        if report.when == "teardown":  # made from the item's properties before these
            report.user_properties = [*report.user_properties, *rules]
        run.duration_s += report.duration  # the time of the contract tests only
        self._phase(base, report.when, outcome, operation, tier)

    def _phase(self, nodeid: str, when: str, outcome: str, operation: str, tier: str) -> None:
        """A test's outcome over its phases: setup, call, teardown (final at teardown)."""
        result = self.run.tests.setdefault(nodeid, Result(operation, tier, started=True))
        if when == "setup" or when == "call" and self._pending.get(nodeid) == "passed":
            self._pending[nodeid] = outcome
        elif when == "teardown":
            pending = self._pending.pop(nodeid, outcome)
            result.outcome = outcome if outcome in ("failed", "infra") else pending

    def _failures(self, nodeid: str, operation: str, marker_tier: str,
                  exc: BaseException) -> list[FailureRecord]:
        if isinstance(exc, pytest.skip.Exception | pytest.xfail.Exception):
            return []
        return failure_records(nodeid, operation, marker_tier, exc, list(self.recorder.recent),
                               self.recorder.setup_writes, self.run_id, self.redact)

    @pytest.hookimpl(trylast=True)
    def pytest_exception_interact(self, report: pytest.TestReport) -> None:
        self._scrub(report)  # Schemathesis rewrites longrepr here

    def pytest_keyboard_interrupt(self, excinfo: pytest.ExceptionInfo[BaseException]) -> None:
        """Ctrl-C, SIGTERM (interrupts.py), or pytest stopping on ``session.shouldstop``."""
        message = str(excinfo.value).strip()
        signum = INTERRUPTS.signum
        self._interrupt = message or (f"interrupted ({signal.Signals(signum).name})"
                                      if signum is not None else "interrupted (KeyboardInterrupt)")

    # pytest-xdist -----------------------------------------------------------------------

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        """On the controller: a worker ended; its part of the run joins the model (a worker
        that crashed ships none: its tests stay not run, and the run is incomplete)."""
        shipped = getattr(node, "workeroutput", {}).get(PART_KEY)
        if shipped is not None:
            merge_part(self.run, shipped)

    @pytest.hookimpl(optionalhook=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Whether a test outside the suite failed (in one process, or on the controller, which
        sees every worker's reports but collects no items); on the controller, an operation
        check's properties go to its JUnit case (a worker has no JUnit writer; see
        junit.add_case_properties)."""
        if self._config is None:
            return
        if report.failed and not self._reported_path(
                (self._config.rootpath / report.location[0]).resolve()):
            self._other_failed = True
        if is_controller(self._config) and report.when == "call" \
                and _SUBTEST_LABEL.search(report.nodeid):
            junit.add_case_properties(self._config, report)

    # the run ends --------------------------------------------------------------------------

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        """Finish the model (before pytest's JUnit writer, which then carries its status):
        what the run exercised (every request up to the end of the last test, whose teardown
        runs the suite's cleanup), the known deviations, the coverage gaps; and pytest's exit
        status follows the run's. A pytest-xdist worker only gathers its own facts; its
        controller (whose model holds the merged parts) finishes the run."""
        run = self.run
        run.stopped = _stop_reason(session, self._interrupt, exitstatus) or run.stopped
        if not is_controller(session.config):
            run.statuses = dict(self.recorder.statuses)
            run.instructions = dict(self.recorder.outcomes)
            run.usage = dict(self.recorder.usage)
        if is_worker(session.config):
            return
        if self.settings.baseline is not None:
            run.deviations = self.settings.baseline.apply(run, datetime.date.today())
        if self.settings.coverage_gate is not None:
            run.gaps = self.settings.coverage_gate.gaps(coverage_of(run))
        # a configuration error (status 4) is no run; nor is one where nothing started, nor a
        # PLAN=1 run (it only prints what it would do)
        self._reports = exitstatus != pytest.ExitCode.USAGE_ERROR and (
            run.ran or run.stopped is not None) and bool(run.tests) and not (
            self.settings.plan_only)
        if self._reports and self._config is not None:
            junit.add_suite_properties(self._config, run)
        if self._reports:
            self._exit_status(session, exitstatus)

    def _exit_status(self, session: pytest.Session, exitstatus: int) -> None:
        """Known deviations do not fail the run (unless a test this plugin does not report
        failed too); a coverage gap does."""
        status = self.run.status
        if status == "passed" and exitstatus == pytest.ExitCode.TESTS_FAILED \
                and not self._other_failed:
            session.exitstatus = pytest.ExitCode.OK
        elif status == "coverage-gap" and exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    # after the JUnit writer and the fixtures' final cleanup, so the guard also rescans its
    # file and the request counts include the cleanup
    @pytest.hookimpl(specname="pytest_sessionfinish", trylast=True)
    def pytest_sessionfinish_reports(self, session: pytest.Session) -> None:
        run = self.run
        if not is_controller(session.config):
            run.requests = self.recorder.requests
            run.network = dict(self.recorder.network)
            run.choices = dict(self.recorder.choices)
        if is_worker(session.config):
            session.config.workeroutput[PART_KEY] = part_of(run)  # type: ignore[attr-defined]
            return
        if self._reports:
            self.written = write_reports(run, self.redact)
        scrub_files([*self.written, *self._junit_path()], self.settings.secrets)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not self._reports:
            return
        terminalreporter.write_sep("=", "contract conformance")
        for line in summary_lines(self.run, [*self.written, *self._junit_path()]):
            terminalreporter.write_line(self.redact(line))

    # helpers ----------------------------------------------------------------------------

    def _junit_path(self) -> list[Path]:
        xmlpath = getattr(self._config.option, "xmlpath", None) if self._config else None
        return [Path(xmlpath)] if xmlpath else []

    def _scrub(self, report: pytest.TestReport) -> None:
        """Take secrets out of what pytest prints and writes for this test."""
        if report.longrepr is not None:
            text = str(report.longrepr)
            redacted = self.redact(text)  # whole secrets, and halves of cut ones
            if redacted != text:
                report.longrepr = redacted
        report.sections = [(title, self.redact(content)) for title, content in report.sections]
        report.user_properties = [(k, self.redact(str(v))) for k, v in report.user_properties]
