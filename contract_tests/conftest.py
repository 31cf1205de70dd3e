"""Wiring: options, markers, the target, the provisioned resources, the seed, the reports."""

from __future__ import annotations

import random
import shutil
import signal
import tempfile
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hypothesis.core
import pytest
from hypothesis import settings

from generated.client import Client
from generated.operations import OPERATIONS

from . import checks, preflight
from .budget import RunPlan, plan_run, print_plan
from .families import FAMILIES
from .interrupts import INTERRUPTS, drop_frames_without_a_line
from .markers import TIER_MARKERS, TIER_NUMBERS, module_name, tier_marker
from .pacing import AUTH_PROBES_PER_OPERATION, BudgetSpent
from .progress import ProgressFile, worker_path
from .provisioning import Provisioned, Provisioning, new_run_id
from .recorder import Recorder
from .report import RUN, ConformanceReport, discard_reports
from .settings import (
    ConfigurationError,
    SuiteSettings,
    add_options,
    hypothesis_settings,
    settings_from,
)
from .shared_budget import SharedBudget
from .targets import Target, open_target
from .workers import (
    WORKER_BUDGET,
    WORKER_SEED,
    is_controller,
    worker_count,
    worker_id,
    worker_input,
)

SETTINGS = pytest.StashKey[SuiteSettings]()
RECORDER = pytest.StashKey[Recorder]()
SEED = pytest.StashKey[int]()
PLAN = pytest.StashKey[RunPlan]()
PROBES = pytest.StashKey[int]()  # Schemathesis' authentication probes the run may send
RUN_ID = pytest.StashKey[str]()  # the prefix of every key the run creates
SHARED_BUDGET = pytest.StashKey[Path]()  # the controller: its workers' budget file



def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    for name, text in TIER_MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {text}")
    try:
        suite_settings = settings_from(config.option, workers=worker_count(config))
    except ConfigurationError as exc:
        # no run: an earlier run's reports would look like this one's
        discard_reports(Path(config.option.reports_dir))
        raise pytest.UsageError(f"contract suite: {exc}") from None
    config.stash[SETTINGS] = suite_settings
    INTERRUPTS.install()  # Ctrl-C and SIGTERM end the run, but never its cleanup
    config.stash[RECORDER] = Recorder.for_tokens(suite_settings.token,
                                                 suite_settings.readonly_token)
    checks.listen(config.stash[RECORDER].rule_checked)  # the rules exercised: coverage
    config.stash[RUN_ID] = new_run_id()
    # a pytest-xdist worker takes the seed the controller chose: one seed repeats the run
    seed = worker_input(config).get(WORKER_SEED, config.getoption("hypothesis_seed", None))
    chosen = int(seed) if seed is not None else random.SystemRandom().randrange(2**32)
    hypothesis.core.global_force_seed = chosen  # type: ignore[assignment]  # typed as None
    config.stash[SEED] = chosen
    config.pluginmanager.register(
        ConformanceReport(suite_settings, config.stash[RECORDER], chosen,
                          root=Path(__file__).resolve().parent, run_id=config.stash[RUN_ID]),
        "contract-report",
    )
    settings.register_profile("contract", hypothesis_settings(suite_settings))
    settings.load_profile("contract")
    progress = config.getoption("progress_file", None)
    if progress and not is_controller(config):  # the workers write it: they send the requests
        config.pluginmanager.register(
            ProgressFile(worker_path(Path(progress), worker_id(config)), config.stash[RECORDER],
                         suite_settings.max_requests), "contract-progress")


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """pytest-xdist, on the controller: every worker gets the run's seed, and a worker on this
    host the file of the run's request budget (shared_budget.py; others take a share)."""
    config = node.config
    node.workerinput[WORKER_SEED] = config.stash[SEED]
    local = node.gateway.spec.popen and not node.gateway.spec.via
    if config.stash[SETTINGS].max_requests is not None and local:
        if SHARED_BUDGET not in config.stash:
            directory = Path(tempfile.mkdtemp(prefix="contract-budget-"))
            config.add_cleanup(lambda: shutil.rmtree(directory, ignore_errors=True))
            config.stash[SHARED_BUDGET] = SharedBudget.create(directory / "budget.json")
        node.workerinput[WORKER_BUDGET] = str(config.stash[SHARED_BUDGET])


def pytest_unconfigure(config: pytest.Config) -> None:
    INTERRUPTS.uninstall()


@pytest.hookimpl(tryfirst=True)  # before the terminal reporter formats the traceback
def pytest_keyboard_interrupt(excinfo: pytest.ExceptionInfo[BaseException]) -> None:
    INTERRUPTS.mark_delivered()  # pytest stops; the fixture finalisers clean up
    drop_frames_without_a_line(excinfo)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item) -> None:
    INTERRUPTS.check()  # a Ctrl-C swallowed during the previous test stops the run here


def pytest_report_header(config: pytest.Config) -> list[str]:
    suite_settings = config.stash[SETTINGS]
    seed = config.stash[SEED]
    target = (f"contract target: {suite_settings.target_name} (project "
              f"{suite_settings.project_key}, environment {suite_settings.environment_key})")
    reproduce = (f"contract seed: {seed} (reproduce with --hypothesis-seed={seed}); "
                 f"{suite_settings.examples} examples per test"
                 + ("" if suite_settings.shrink else "; failing examples not shrunk"))
    return [target, reproduce]


# Modules in the order they run: the 200-with-errors semantics first after the schema, so
# that a run stopped at its first failure (-x) meets the rules that matter most soonest.
MODULE_ORDER = ("test_tier1_schema", "test_tier2_semantics", "test_tier2_stateful",
                "test_tier2_access", "test_tier3_policy")


def _module_rank(item: pytest.Item) -> int:
    name = module_name(item)
    return MODULE_ORDER.index(name) if name in MODULE_ORDER else len(MODULE_ORDER)


def _selected(item: pytest.Item, chosen: SuiteSettings) -> bool:
    """Whether TIERS and OPS keep the test (a tier-1 test is one operation's, like the others)."""
    marker = tier_marker(item)
    if chosen.tiers is not None and (marker is None or TIER_NUMBERS[marker] not in chosen.tiers):
        return False
    if chosen.operations is None:
        return True
    callspec = getattr(item, "callspec", None)
    operation = callspec.params.get("operation_id") if callspec is not None else None
    if operation is not None:
        return operation in chosen.operations
    if item.get_closest_marker("stateful"):  # all five semantic PATCHes and their GETs
        return bool(chosen.operations & set(FAMILIES))
    return True


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    items.sort(key=_module_rank)  # stable: within a module, the order of definition
    chosen = config.stash[SETTINGS]
    kept = [item for item in items if _selected(item, chosen)]
    if not chosen.kit_mock:
        skip = pytest.mark.skip(reason="tier 3 runs only against the kit's mock")
        for item in kept:
            if item.get_closest_marker("tier3"):
                item.add_marker(skip)
    runnable = [item for item in kept if chosen.kit_mock or not item.get_closest_marker("tier3")]
    plan = plan_run(runnable, chosen.examples,
                    None if chosen.in_process else chosen.max_requests, chosen.workers)
    dropped = set(plan.dropped)
    deselected = [item for item in items if item not in kept or item.nodeid in dropped]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [item for item in kept if item.nodeid not in dropped]
    config.stash[PLAN] = plan
    if config.stash[RUN].max_requests is not None:
        config.stash[RUN].plan = plan  # the reports say what the budget left of the run
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None and chosen.max_requests is not None and not chosen.in_process:
        reporter.write_line(f"contract plan for a budget of {chosen.max_requests} requests: "
                            f"{plan.describe()}")
    if any(item.get_closest_marker("tier1") for item in items):  # its probes bypass the pacer
        config.stash[PROBES] = AUTH_PROBES_PER_OPERATION * len(chosen.operations or OPERATIONS)
    settings.register_profile("contract", hypothesis_settings(chosen, plan.examples))
    settings.load_profile("contract")
    if chosen.plan_only:
        print_plan(chosen, [item for item in items if item in runnable], plan)
        pytest.exit("the plan above; nothing was sent", returncode=0)


def _budget_spent(exc: BaseException | None) -> BudgetSpent | None:
    """The `BudgetSpent` an outcome comes from, wherever in its chain or group it sits."""
    seen: set[int] = set()
    stack = [exc]
    while stack:
        current = stack.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, BudgetSpent):
            return current
        stack += [current.__cause__, current.__context__,
                  *getattr(current, "exceptions", ())]
    return None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A test the request budget cut short did not run: skipped, and the run stops here (the
    reports mark it incomplete). So did a test a signal interrupted (Ctrl-C is no contract
    failure, in JUnit either); its report is made even when pytest's would fail formatting a
    frame the signal left without a line (as pytest_keyboard_interrupt's would)."""
    if call.excinfo is not None:
        drop_frames_without_a_line(call.excinfo)
    report = yield
    spent = _budget_spent(call.excinfo.value if call.excinfo is not None else None)
    if spent is not None:
        report.outcome = "skipped"
        report.longrepr = (str(item.path), item.location[1] or 0, f"not run: {spent}")
        item.session.shouldstop = str(spent)
    elif report.failed and INTERRUPTS.signum is not None:  # cut short, not a failure
        name = signal.Signals(INTERRUPTS.signum).name
        report.outcome = "skipped"
        report.longrepr = (str(item.path), item.location[1] or 0,
                           f"not run: interrupted ({name})")
    return report


@dataclass
class Suite:
    """What every contract test needs: where to send requests and what it may touch."""

    settings: SuiteSettings
    target: Target
    provisioning: Provisioning
    provisioned: Provisioned
    api: Client  # the writer token
    plan: RunPlan  # examples, phases and cases this run (budget.py)


@pytest.fixture(scope="session")
def suite(pytestconfig: pytest.Config) -> Iterator[Suite]:
    suite_settings = pytestconfig.stash[SETTINGS]
    try:
        if suite_settings.probe and not suite_settings.in_process:
            preflight.check(suite_settings)
        target = open_target(suite_settings, pytestconfig.stash[RECORDER])
    except ConfigurationError as exc:
        discard_reports(suite_settings.reports_dir)
        pytest.exit(f"contract suite cannot run against {suite_settings.target_name}: {exc}",
                    returncode=4)
    api = target.client()
    provisioning = Provisioning(api, suite_settings.project_key, suite_settings.environment_key,
                                run_id=pytestconfig.stash[RUN_ID])
    target.pacer.cleanup_cost = provisioning.outstanding
    target.pacer.uncounted = pytestconfig.stash.get(PROBES, 0)
    budget_file = worker_input(pytestconfig).get(WORKER_BUDGET)
    if budget_file is not None:
        target.pacer.shared = SharedBudget(Path(budget_file), worker_id(pytestconfig) or "")
    try:
        provisioned = provisioning.create()
    except ConfigurationError as exc:
        provisioning.delete_all()
        target.close()
        pytest.exit(f"contract suite cannot run against {suite_settings.target_name}: {exc}",
                    returncode=4)
    except BaseException:  # interrupted or failed half-way: no finaliser runs for this fixture
        provisioning.delete_all()
        target.close()
        raise
    yield Suite(suite_settings, target, provisioning, provisioned, api,
                pytestconfig.stash[PLAN])
    leftovers = provisioning.delete_all()
    target.close()
    if leftovers:
        pytest.fail(f"could not delete what the suite created: {', '.join(leftovers)}")


@pytest.fixture
def fresh(suite: Suite) -> Provisioned:
    """A segment and flag of this test's own, for tests that change targeting."""
    return suite.provisioning.create()
