"""What the suite runs against, from command-line options and environment variables.

Options win over the environment: ``--base-url`` / ``LD_BASE_URL``, ``LD_API_TOKEN`` (write),
``LD_API_TOKEN_READONLY`` (optional), ``LD_PROJECT_KEY``, ``LD_ENVIRONMENT_KEY``. Without a base
URL the suite runs in-process against the kit's mock with its default configuration. The files
that shape the report (``--require-coverage``, ``--known``, ``--compare``) are read and checked
here too, so a mistake in one stops the run before any request.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar
from urllib.parse import urlsplit

from hypothesis import HealthCheck, Phase, settings

if TYPE_CHECKING:
    from .report.baseline import Baseline
    from .report.compare import PreviousRun
    from .report.gate import CoverageGate

__all__ = [
    "EXAMPLES", "MAKE_VARIABLES", "MAX_REQUESTS", "RATE", "RUN_FILE_OPTIONS", "SEED",
    "CommandLine", "ConfigurationError", "Number", "RunFiles", "SuiteSettings", "add_options",
    "bad_setting", "command_line", "hypothesis_settings", "require_live_keys", "run_files",
    "settings_from", "target_id",
]

# Each option `make contract` passes on, and the variable that sets it (the Makefile's
# `contract` target; tests/contract_suite/test_contract_run.py holds them to it): a bad value's
# line names both, as the user typed it and as the runner and pytest saw it.
MAKE_VARIABLES = {
    "--base-url": "BASE_URL", "--workers": "WORKERS", "--examples": "EXAMPLES", "--seed": "SEED",
    "--max-requests": "MAX_REQUESTS", "--rate": "RATE", "--tiers": "TIERS", "--ops": "OPS",
    "--plan": "PLAN", "--require-coverage": "REQUIRE_COVERAGE", "--known": "KNOWN",
    "--compare": "COMPARE",
}

# The options naming a file that shapes the reports (`run_files` reads them; contract_tests/run.py
# passes them on), each with its help: the one list of them.
RUN_FILE_OPTIONS = {
    "require_coverage": (
        "fail the run (a coverage gap, status 1) when something FILE lists was never "
        "exercised (REQUIRE_COVERAGE=FILE; contract_tests/coverage-default.yaml)"),
    "known": (
        "known deviations: failures FILE lists are reported as known, not failing "
        "(KNOWN=FILE)"),
    "compare": (
        "compare with a previous run's results.json: new, fixed, still failing, newly "
        "covered, no longer covered (COMPARE=FILE)"),
}

# The mock's shipped default configuration (mock_server/default-config.yaml).
MOCK_WRITER_TOKEN = "api-writer-00000000-0000-0000-0000-000000000000"
MOCK_READER_TOKEN = "api-reader-00000000-0000-0000-0000-000000000000"


class ConfigurationError(Exception):
    """The suite cannot run against this target; the message says what to fix."""


def _dest(option: str) -> str:
    """Where argparse keeps an option's value: ``--max-requests`` -> ``max_requests``."""
    return option.removeprefix("--").replace("-", "_")


def bad_setting(option: str, value: object, problem: str) -> ConfigurationError:
    """The one line for a bad command-line value: ``VARIABLE=value (--option): problem``."""
    return ConfigurationError(f"{MAKE_VARIABLES[option]}={value} ({option}): {problem}")


N = TypeVar("N", int, float)


@dataclass(frozen=True)
class Number(Generic[N]):
    """A numeric option and the values that make sense for it. The runner and pytest both read
    it from the text given with this one rule, so a bad value is one line naming its make
    variable wherever it is given (argparse's ``type=int`` answered ``abc`` with its usage
    block), and a 0 is refused rather than taken for "not set" (EXAMPLES=0 ran 25 examples)."""

    option: str
    parse: Callable[[str], N]  # int or float
    least: N | None  # the smallest value that makes sense (None: any)
    give: str  # what to give instead, as the line says it
    above: bool = False  # `least` itself is refused too (a rate of 0 never sends anything)

    def read(self, options: Any) -> N | None:
        """The option's value in `options` (None: not given), or `bad_setting`'s line."""
        text = getattr(options, _dest(self.option), None)
        if text is None:
            return None
        try:
            value: N | None = self.parse(text)
        except ValueError:
            value = None
        if value is None or not self._sensible(value):
            raise bad_setting(self.option, text, f"give {self.give}")
        return value

    def _sensible(self, value: N) -> bool:
        """At least `least` (above it, with `above`); NaN never is."""
        if self.least is None:
            return True
        return value > self.least if self.above else value >= self.least


EXAMPLES = Number("--examples", int, 1, "a whole number of examples per test, 1 or more")
MAX_REQUESTS = Number("--max-requests", int, 50, "a whole number of requests, 50 or more (the "
                      "setup and cleanup alone need about 50)")
RATE = Number("--rate", float, 0.0, "a number of requests per second above 0", above=True)
# any int: Hypothesis seeds a random.Random with it, which takes -N as N, so a negative seed
# repeats its run (SEED=1's too); the re-run line prints it as given. The runner's own option.
SEED = Number("--seed", int, None, "a whole number (the seed a run printed)")


@dataclass(frozen=True)
class CommandLine:
    """The settings the command line decides alone, checked (`command_line`)."""

    examples: int | None  # None: the target's default
    max_requests: int | None
    rate: float | None
    tiers: frozenset[str] | None  # None: all
    operations: frozenset[str] | None


def command_line(options: Any) -> CommandLine:
    """The settings that need no target and no environment, each bad value one
    `ConfigurationError` line naming its make variable: `settings_from` reads them so, and the
    runner before it starts the mock, so a bad one stops ``make contract`` with or without
    BASE_URL before anything runs."""
    return CommandLine(
        examples=EXAMPLES.read(options),
        max_requests=MAX_REQUESTS.read(options),
        rate=RATE.read(options),
        tiers=_listed(options, "--tiers", {"1", "2", "3"}),
        operations=_listed(options, "--ops", _operation_ids()),
    )


def target_id(base_url: str | None, kit_mock: bool, app: str | None) -> str:
    """The server a run tested, as a comparison with an earlier run must match it: the kit's
    mock started as a process gets a new port every run, so it is named, not addressed."""
    if base_url is None:
        return f"in-process {app or 'kit mock'}"
    return "the kit's mock (process)" if kit_mock else base_url


@dataclass(frozen=True)
class RunFiles:
    """The files that shape the report, read and checked."""

    coverage_gate: CoverageGate | None = None
    baseline: Baseline | None = None
    previous: PreviousRun | None = None


@dataclass(frozen=True)
class SuiteSettings:
    base_url: str | None  # None: in-process
    # never in a repr: pytest shows fixtures' reprs in tracebacks, cut short in the middle,
    # where a secret split in two escapes any search for it
    token: str = field(repr=False)
    readonly_token: str | None = field(repr=False)
    project_key: str
    environment_key: str
    kit_mock: bool  # the target is the kit's mock (tier 3 runs, the clock can be set)
    examples: int  # Hypothesis examples per test
    reports_dir: Path
    app_factory: str | None = None  # in-process: "module:callable" building the ASGI app
    probe: bool = True  # check the target looks like the API before any test
    shrink: bool = True  # let Hypothesis shrink a failing example (more requests)
    mock_policy: str = "reference"  # in-process: the tier-3 policy variant the mock is built with
    expect_policy: str | None = None  # tier 3 checks this variant (default: the mock's own)
    max_requests: int | None = None  # a live target: never send more (pacing.py)
    # MAX_REQUESTS as the user gave it, where make contract's pre-flight spent some of it
    max_requests_asked: int | None = None
    rate: float | None = None  # a live target: at most this many requests per second
    tiers: frozenset[str] | None = None  # run only these tiers ("1", "2", "3"); None: all
    operations: frozenset[str] | None = None  # run only the tests of these operationIds
    plan_only: bool = False  # print what would run and its estimate; send nothing
    workers: int = 1  # pytest-xdist workers of the run (they share the budget and the rate)
    files: RunFiles = field(default_factory=RunFiles)  # coverage gate, baseline, previous run

    @property
    def budget_asked(self) -> int | None:
        """MAX_REQUESTS as given: what the reports and the re-run command show."""
        return self.max_requests_asked or self.max_requests

    @property
    def in_process(self) -> bool:
        return self.base_url is None

    @property
    def target_id(self) -> str:
        return target_id(self.base_url, self.kit_mock, self.app_factory)

    @property
    def coverage_gate(self) -> CoverageGate | None:
        return self.files.coverage_gate

    @property
    def baseline(self) -> Baseline | None:
        return self.files.baseline

    @property
    def previous(self) -> PreviousRun | None:
        return self.files.previous

    @property
    def secrets(self) -> tuple[str, ...]:
        """Values that must never appear in output or in files the suite writes."""
        return tuple(t for t in (self.token, self.readonly_token) if t)

    @property
    def target_name(self) -> str:
        return "in-process mock (ASGI)" if self.base_url is None else self.base_url


def add_options(parser: Any) -> None:
    group = parser.getgroup("contract", "expiring-targets contract suite")
    group.addoption("--base-url", default=None, help="run against this server (env LD_BASE_URL)")
    group.addoption(
        "--kit-mock",
        action="store_true",
        help="the base URL is the kit's own mock server with its admin clock (runs tier 3)",
    )
    # numbers are taken as text and read by `command_line`: one line for a bad one, not a usage
    group.addoption("--examples", default=None, help="Hypothesis examples per test")
    group.addoption(
        "--no-probe",
        action="store_true",
        help="skip the pre-flight checks of the target and its tokens (for static mocks)",
    )
    group.addoption(
        "--app",
        default=None,
        help="in-process: module:callable returning the ASGI app to test (default: the kit's "
        "mock with its admin clock)",
    )
    group.addoption(
        "--no-shrink",
        action="store_true",
        help="report a failing example as found instead of shrinking it: a failing run ends "
        "sooner and sends fewer requests (against staging), at the price of a longer example",
    )
    group.addoption("--reports-dir", default="reports", help="where reports are written")
    group.addoption(
        "--max-requests", default=None, metavar="N",
        help="a live target: send at most N requests in the whole run (the cleanup's are kept "
        "in reserve); the examples per test are chosen to fit, and a run that reaches N stops "
        "and is reported incomplete",
    )
    group.addoption("--max-requests-asked", type=int, default=None, help=argparse.SUPPRESS)
    group.addoption(
        "--rate", default=None, metavar="R",
        help="a live target: at most R requests per second (the target's own X-Ratelimit-* "
        "headers are always obeyed)",
    )
    group.addoption("--tiers", default=None, metavar="1,2",
                    help="run only these tiers (TIERS=1,2; the stateful run is tier 2)")
    group.addoption("--ops", default=None, metavar="operationId,...",
                    help="run only the tests of these operations (OPS=...; tier 1 per operation)")
    group.addoption("--progress-file", default=None, metavar="PATH",
                    help="keep the run's progress in PATH as JSON (make contract shows it)")
    group.addoption("--plan", action="store_true",
                    help="print the tests, the estimated requests and the resources the run "
                    "would create, and send nothing (PLAN=1)")
    for name, text in RUN_FILE_OPTIONS.items():
        group.addoption(f"--{name.replace('_', '-')}", default=None, metavar="FILE", help=text)
    group.addoption(
        "--mock-policy", default=None, metavar="VARIANT",
        help="in-process: build the kit's mock with this tier-3 policy variant "
        "(mock_server/policy.py: reference, alternative, alternative-2)",
    )
    group.addoption(
        "--expect-policy", default=None, metavar="VARIANT",
        help="tier 3 checks that the mock follows this policy variant (default: the policy the "
        "mock reports at /_admin/policy)",
    )


def settings_from(options: Any, environ: os._Environ[str] | dict[str, str] = os.environ,
                  workers: int = 1) -> SuiteSettings:
    """The run's settings from its pytest options and environment; `workers`: the
    pytest-xdist workers it is spread over."""
    base_url = options.base_url or environ.get("LD_BASE_URL") or None
    kit_mock = bool(options.kit_mock) or base_url is None
    if base_url is not None and options.app:
        raise ConfigurationError("--app builds an in-process target; it cannot go with a base URL")
    if base_url is not None:
        base_url = _checked_base_url(base_url)
    token = environ.get("LD_API_TOKEN") or None
    readonly = environ.get("LD_API_TOKEN_READONLY") or None
    if base_url is None or kit_mock:
        token = token or MOCK_WRITER_TOKEN
        readonly = readonly or MOCK_READER_TOKEN
    if token is None:
        raise ConfigurationError(
            f"LD_API_TOKEN is not set: a token with write access is needed to run against "
            f"{base_url}"
        )
    if not kit_mock:
        require_live_keys(environ)
    chosen = command_line(options)
    examples = chosen.examples or (100 if base_url is None else 25)
    mock_policy, expect_policy = _policy_options(options, in_process=base_url is None)
    files = run_files(options, target_id(base_url, kit_mock, options.app))
    return SuiteSettings(
        base_url=base_url,
        token=token,
        readonly_token=readonly,
        project_key=environ.get("LD_PROJECT_KEY") or "default",
        environment_key=environ.get("LD_ENVIRONMENT_KEY") or "test",
        kit_mock=kit_mock,
        examples=examples,
        reports_dir=Path(options.reports_dir),
        app_factory=options.app,
        probe=not options.no_probe,
        shrink=not options.no_shrink,
        mock_policy=mock_policy,
        expect_policy=expect_policy,
        max_requests=chosen.max_requests,
        max_requests_asked=getattr(options, "max_requests_asked", None),
        rate=chosen.rate,
        tiers=chosen.tiers,
        operations=chosen.operations,
        plan_only=bool(getattr(options, "plan", False)),
        files=files,
        workers=workers,
    )


def _checked_base_url(base_url: str) -> str:
    """`base_url` without a trailing slash, once it is an http(s) URL with a host and a port
    that can exist (httpx took a port past 65535 and reported it as a refused connection, and a
    port that is not a number as its traceback) and is a server's root (checked here, before
    any plan or request, rather than in the pre-flight, which PLAN=1 does not run)."""
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigurationError(f"base URL {base_url!r} is not an http(s) URL")
    try:
        port = parts.port
    except ValueError:  # not a number, or past 65535
        port = 0
    if port == 0:  # then the host ends in ":" and what was given as the port
        raise ConfigurationError(
            f"BASE_URL has port {parts.netloc.rpartition(':')[2]}, which no server listens on: "
            "give one from 1 to 65535, or none (80 for http, 443 for https)")
    beyond = _beyond_the_root(base_url)
    if beyond:
        raise ConfigurationError(beyond)
    return base_url.rstrip("/")


def _beyond_the_root(base_url: str) -> str | None:
    """The line for what `base_url` has besides the server's root, or None. A path: the
    operations' paths start with /api/v2 already. A query: httpx puts each request's path
    after it (``/?x=1/api/v2/...``), so every request reached ``/`` and the 404s read as an
    unknown project. A fragment is never sent: whatever it was to choose, it would not."""
    parts = urlsplit(base_url)
    path = parts.path if parts.path.strip("/") else ""
    extras = [f"a {name} ({text})" for name, text in (
        ("path", path), ("query", parts.query and f"?{parts.query}"),
        ("fragment", parts.fragment and f"#{parts.fragment}")) if text]
    if not extras:
        return None
    return (f"BASE_URL has {' and '.join(extras)}: give the server's root, "
            f"{parts.scheme}://{parts.netloc}"
            + (" (the operations' paths start with /api/v2)" if path else ""))


def run_files(options: Any, target: str) -> RunFiles:
    """--require-coverage, --known and --compare, read and checked (one `ConfigurationError`
    naming the file, the line and the problem); `target` is the run's `target_id`."""
    from .report.baseline import load_baseline
    from .report.compare import load_previous
    from .report.gate import load_gate
    from .report.results import SCHEMA_ID

    def path(name: str) -> Path | None:
        value = getattr(options, name, None)
        return Path(value) if value else None

    gate, known, previous = path("require_coverage"), path("known"), path("compare")
    return RunFiles(
        coverage_gate=load_gate(gate) if gate else None,
        baseline=load_baseline(known) if known else None,
        previous=load_previous(previous, SCHEMA_ID, target) if previous else None,
    )


def _operation_ids() -> set[str]:
    from generated.operations import OPERATIONS

    return set(OPERATIONS)


def _listed(options: Any, option: str, allowed: set[str]) -> frozenset[str] | None:
    """A comma-separated selection, every entry checked against what exists."""
    raw = getattr(options, _dest(option), None)
    if not raw:
        return None
    chosen = frozenset(part.strip() for part in str(raw).split(",") if part.strip())
    unknown = sorted(chosen - allowed)
    if unknown or not chosen:
        raise bad_setting(option, raw, f"{', '.join(unknown) or 'nothing'} is not one of "
                          f"{', '.join(sorted(allowed))}")
    return chosen


def _policy_options(options: Any, *, in_process: bool) -> tuple[str, str | None]:
    """--mock-policy and --expect-policy, each a variant name of the kit's mock."""
    from mock_server.policy import VARIANTS

    for option in ("mock_policy", "expect_policy"):
        name = getattr(options, option, None)
        if name is not None and name not in VARIANTS:
            raise ConfigurationError(
                f"--{option.replace('_', '-')} {name!r} is not a policy variant; use one of "
                f"{', '.join(VARIANTS)}")
    mock_policy = getattr(options, "mock_policy", None)
    if mock_policy is not None and (not in_process or options.app):
        raise ConfigurationError("--mock-policy builds the kit's mock in-process; it cannot go "
                                 "with --app or a base URL (give the mock process a config "
                                 "with a policy: section instead)")
    return mock_policy or "reference", getattr(options, "expect_policy", None)


def require_live_keys(environ: os._Environ[str] | dict[str, str] = os.environ) -> None:
    """Against a live URL the mock's ``default`` and ``test`` are guesses: a wrong one reads as
    a missing project, a right one by chance as consent. Both keys are required there (the
    kit's own mock, in-process or ``--kit-mock``, keeps the defaults)."""
    missing = [name for name in ("LD_PROJECT_KEY", "LD_ENVIRONMENT_KEY") if not environ.get(name)]
    if missing:
        raise ConfigurationError(
            f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set: against a "
            "live URL the suite needs the project and environment it may create resources in"
        )


def hypothesis_settings(suite: SuiteSettings, examples: int | None = None) -> settings:
    """The suite's Hypothesis profile: its example count, no deadline (a live server's latency
    is not the property under test), no example database (the files could hold tokens), and
    without shrinking under ``--no-shrink``."""
    return settings(
        max_examples=examples or suite.examples,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                               HealthCheck.filter_too_much, HealthCheck.data_too_large],
        print_blob=False,
        phases=tuple(Phase) if suite.shrink else
        tuple(p for p in Phase if p not in (Phase.shrink, Phase.explain)),
    )
