"""``make contract``: the suite against the kit's mock as a real process, or against a base URL.

    python -m contract_tests.run [--base-url URL] [--examples N] [--seed N] [--reports-dir DIR]
                                 [--workers N|auto] [--require-coverage FILE] [--known FILE]
                                 [--compare FILE] [-- extra pytest arguments]

Without ``--base-url`` it starts ``python -m mock_server`` on a free loopback port (a temporary
database, the shipped configuration with the admin clock on and no rate limit), waits until it
answers, runs every tier against it (``--kit-mock``) and stops it again, also on failure or
Ctrl-C. With ``--base-url`` it runs tiers 1-2 against that URL, with the tokens and keys of
``LD_API_TOKEN``, ``LD_API_TOKEN_READONLY``, ``LD_PROJECT_KEY`` and ``LD_ENVIRONMENT_KEY``.

The settings that need no target (EXAMPLES, SEED, MAX_REQUESTS, RATE, TIERS, OPS, WORKERS:
one line naming the make variable, the option and what to give) and the coverage gate,
known-deviations and comparison files (one line naming the file, line and problem) are read
and checked first, before the mock is started or anything is sent (status 4).
Before pytest starts, the pre-flight (preflight.py) checks the target once, so a wrong URL,
token, project or environment ends the run in seconds with one line, and removes the reports
of an earlier run; pytest then runs with ``--no-probe`` (it has just been done). Against a live
URL, ``LD_PROJECT_KEY`` and ``LD_ENVIRONMENT_KEY`` are required. ``--workers N`` spreads the
tests over N pytest-xdist workers (contract_tests/workers.py: one seed, one budget, one set of
reports). Exits with pytest's status (4: the target cannot be tested as configured).
"""

from __future__ import annotations

import argparse
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import yaml

from mock_server.process import MockProcess, MockProcessError

from . import preflight
from .progress import ProgressDisplay
from .recorder import Recorder
from .report.files import discard_reports
from .report.model import rerun_command
from .settings import (
    RUN_FILE_OPTIONS,
    SEED,
    ConfigurationError,
    add_options,
    bad_setting,
    command_line,
    run_files,
    settings_from,
    target_id,
)

__all__ = ["MockServerError", "main", "mock_server", "suite_options", "write_mock_config"]

MockServerError = MockProcessError  # the mock server did not come up (the end of its log)

ROOT = Path(__file__).resolve().parents[1]
CONFIGURATION_ERROR = 4  # pytest's exit status for usage errors; the suite's for a bad target


def write_mock_config(path: Path, extra_writer_tokens: Sequence[str] = ()) -> Path:
    """The shipped mock configuration with the admin clock on and no rate limit (the suite sends
    far more than 600 requests in 10 s), plus any extra writer tokens."""
    from mock_server.config import DEFAULT_CONFIG_PATH

    config: dict[str, Any] = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text(encoding="utf-8"))
    config["admin"] = True
    config["rate_limit"] = {"requests_per_10s": None}
    for token in extra_writer_tokens:
        config["tokens"][token] = {"role": "writer", "projects": ["*"]}
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


@contextmanager
def mock_server(workdir: Path, extra_writer_tokens: Sequence[str] = (),
                db: str | None = None) -> Iterator[str]:
    """Run ``python -m mock_server`` on a free loopback port until the block ends; yields its URL
    (:class:`~mock_server.process.MockProcess`; :class:`MockServerError` if it does not start).
    ``db``: any ``--db`` value (default: a new SQLite file in ``workdir``)."""
    config = write_mock_config(workdir / "mock-config.yaml", extra_writer_tokens)
    with MockProcess(db or workdir / "mock.sqlite3", config,
                     workdir / "mock-server.log") as server:
        yield server.base_url


class _OptionParser:
    """Reads the suite's own pytest options (`settings.add_options`) with argparse, so the
    pre-flight sees the settings pytest will see."""

    def __init__(self) -> None:
        self.parser = argparse.ArgumentParser(add_help=False)

    def getgroup(self, *args: Any) -> _OptionParser:
        return self

    def addoption(self, *names: str, **kwargs: Any) -> None:
        self.parser.add_argument(*names, **kwargs)


def suite_options(command: Sequence[str]) -> argparse.Namespace:
    """The suite's options (defaults included) as pytest would read them from `command`."""
    options = _OptionParser()
    add_options(options)
    known, _ = options.parser.parse_known_args(list(command))
    return known


def _pytest_command(base_url: str, kit_mock: bool, args: argparse.Namespace,
                    extra: Sequence[str]) -> list[str]:
    reports = Path(args.reports_dir)
    return [
        sys.executable, "-m", "pytest", "contract_tests",
        "--base-url", base_url, *(["--kit-mock"] if kit_mock else []),
        f"--junitxml={reports / 'junit.xml'}", f"--reports-dir={reports}",
        f"--hypothesis-seed={args.seed}",
        *(["--examples", str(args.examples)] if args.examples is not None else []),
        *(["--max-requests", str(args.max_requests)] if args.max_requests is not None else []),
        *(["--rate", str(args.rate)] if args.rate is not None else []),
        *(["--tiers", args.tiers] if args.tiers else []),
        *(["--ops", args.ops] if args.ops else []),
        *(["--plan"] if args.plan else []),
        *_distribution(args.workers, kit_mock),
        *[f"--{name.replace('_', '-')}={getattr(args, name)}" for name in RUN_FILE_OPTIONS
          if getattr(args, name)],
        *extra,
    ]


def _distribution(workers: int, kit_mock: bool) -> list[str]:
    """pytest-xdist's options for `workers` (none for one: the run stays in this process).
    Against the kit's mock process, tier 3's tests that set the shared clock all go to one
    worker (their ``xdist_group``), so no two of them move it at once; elsewhere an idle
    worker takes tests queued for another (``worksteal``: xdist's ``load`` left one of two
    workers idle for most of an in-process run; docs/contract-suite.md, "Workers")."""
    if workers <= 1:
        return []
    return ["-n", str(workers), "--dist", "loadgroup" if kit_mock else "worksteal"]


def _workers(value: str) -> int:
    """``--workers N`` or ``auto`` (the CPUs this process may use)."""
    if value == "auto":
        return len(os.sched_getaffinity(0))
    if not value.isdigit() or int(value) < 1:
        raise bad_setting("--workers", value, "give a number of workers (1, 2, ...) or auto")
    return int(value)


def _check_settings(args: argparse.Namespace) -> None:
    """Read the settings that need no target into `args`, each bad one a `ConfigurationError`
    line naming its make variable: here, before the mock is started or anything is sent, with
    or without BASE_URL, and WORKERS under PLAN=1 too (a plan is one process's, but a bad
    value given with it is still a mistake to point out)."""
    chosen = command_line(args)
    args.examples, args.max_requests, args.rate = (chosen.examples, chosen.max_requests,
                                                   chosen.rate)
    args.seed = SEED.read(args)
    workers = _workers(args.workers)
    args.workers = 1 if args.plan else workers


def _with_budget(command: list[str], remaining: int) -> list[str]:
    """The pytest command with what the pre-flight left of the budget (and the budget as given,
    which the reports and their re-run command show)."""
    at = command.index("--max-requests")
    return [*command[:at + 1], str(remaining), "--max-requests-asked", command[at + 1],
            *command[at + 2:]]


def _run_pytest(command: list[str], progress: Path) -> int:
    """pytest in a child process; its output passed through with a progress line below."""
    colour = ["--color=yes"] if sys.stdout.isatty() else []
    process = subprocess.Popen([*command, *colour, f"--progress-file={progress}"], cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    display = ProgressDisplay(progress)
    try:
        display.follow(process)
        return process.wait()
    except KeyboardInterrupt:
        # pytest got the same Ctrl-C and is cleaning up (deleting what it created); its output
        # is still passed through; a second Ctrl-C ends it
        try:
            return process.wait(timeout=60)
        except (KeyboardInterrupt, subprocess.TimeoutExpired):
            process.terminate()
            return process.wait()
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait()


def _print_matrix(reports: Path) -> None:
    report = reports / "conformance.md"
    if not report.is_file():
        return
    lines = report.read_text(encoding="utf-8").splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if line.startswith("## Operations"))
    except StopIteration:
        return
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")),
               len(lines))
    matrix = "\n".join(lines[start:end]).rstrip()
    print(re.sub(r"\[([^\]]*)\]\(#[^)]*\)", r"\1", matrix))  # a link: its text, on a terminal
    print(f"\ncontract: conformance report {report} (and {report.with_suffix('.html')}), "
          f"JUnit {reports / 'junit.xml'}")


class _CommandLineParser(argparse.ArgumentParser):
    """argparse whose complaints (an unknown option, a missing value) are one
    `ConfigurationError` line and status 4, as a bad value's, not its usage block and status 2.
    The values themselves are taken as text and read by `_check_settings`."""

    def error(self, message: str) -> NoReturn:
        raise ConfigurationError(message)


def _parser() -> argparse.ArgumentParser:
    parser = _CommandLineParser(
        prog="python -m contract_tests.run",
        description="Run the contract suite against the kit's mock server (started here) "
                    "or against --base-url. Arguments after -- go to pytest.",
    )
    parser.add_argument("--base-url", default=os.environ.get("LD_BASE_URL") or None,
                        help="test this server instead of starting the mock (tiers 1-2; "
                             "env LD_BASE_URL, tokens from LD_API_TOKEN ...)")
    parser.add_argument("--examples", default=None, help="Hypothesis examples per test")
    parser.add_argument("--seed", default=None, help="Hypothesis seed (default: random)")
    parser.add_argument("--reports-dir", default="reports", help="where reports go (reports/)")
    parser.add_argument("--max-requests", default=None,
                        help="a live target: send at most N requests (MAX_REQUESTS)")
    parser.add_argument("--rate", default=None,
                        help="a live target: at most R requests per second (RATE)")
    parser.add_argument("--tiers", default=None, help="run only these tiers, e.g. 1,2 (TIERS)")
    parser.add_argument("--ops", default=None, help="run only these operationIds (OPS)")
    parser.add_argument("--workers", default="1",
                        help="spread the run over N pytest-xdist workers, or auto (WORKERS)")
    parser.add_argument("--plan", action="store_true",
                        help="print what would run and its estimate; send nothing (PLAN=1)")
    parser.add_argument("--require-coverage", metavar="FILE", default=None,
                        help="fail when something FILE lists was never exercised "
                             "(REQUIRE_COVERAGE; contract_tests/coverage-default.yaml)")
    parser.add_argument("--known", metavar="FILE", default=None,
                        help="known deviations: matching failures do not fail the run (KNOWN)")
    parser.add_argument("--compare", metavar="FILE", default=None,
                        help="compare with a previous run's results.json (COMPARE)")
    return parser


def _terminate_on_sigterm() -> None:
    def handler(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)  # unwinds through the finally blocks that stop the server

    signal.signal(signal.SIGTERM, handler)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra: list[str] = []
    if "--" in argv:
        extra = argv[argv.index("--") + 1:]
        argv = argv[:argv.index("--")]
    try:
        args = _parser().parse_args(argv)
    except ConfigurationError as exc:  # no reports directory is known to clear
        return _refused(exc)
    args.reports_dir = str(Path(args.reports_dir).resolve())  # pytest runs from the project root
    for name in RUN_FILE_OPTIONS:
        if getattr(args, name):
            setattr(args, name, str(Path(getattr(args, name)).resolve()))
    try:  # before the mock starts or anything is sent
        _check_settings(args)
        run_files(args, target_id(args.base_url, kit_mock=not args.base_url, app=None))
    except ConfigurationError as exc:
        discard_reports(Path(args.reports_dir))
        return _refused(exc)
    if args.seed is None:
        args.seed = random.SystemRandom().randrange(2**32)
    _terminate_on_sigterm()
    try:
        return _main(args, extra)
    except KeyboardInterrupt:
        print("contract: interrupted", file=sys.stderr)
        return 130


def _refused(exc: ConfigurationError) -> int:
    """A run that cannot start: its one line, and the status of a bad setting."""
    print(f"contract: {exc}", file=sys.stderr)
    return CONFIGURATION_ERROR


def _main(args: argparse.Namespace, extra: list[str]) -> int:
    if args.base_url:
        return _against(args.base_url, kit_mock=False, args=args, extra=extra)
    with tempfile.TemporaryDirectory(prefix="contract-mock-") as workdir:
        try:
            with mock_server(Path(workdir)) as url:
                print(f"contract: mock server started on {url}", flush=True)
                return _against(url, kit_mock=True, args=args, extra=extra)
        except MockServerError as exc:
            print(f"contract: {exc}", file=sys.stderr)
            return CONFIGURATION_ERROR


def _against(base_url: str, kit_mock: bool, args: argparse.Namespace,
             extra: Sequence[str]) -> int:
    command = _pytest_command(base_url, kit_mock, args, extra)
    secrets: tuple[str, ...] = ()
    try:
        settings = settings_from(suite_options(command), workers=args.workers)
        secrets = settings.secrets
        if settings.probe and not settings.plan_only:
            spent = preflight.check(settings)
            if settings.max_requests is not None:  # the pre-flight's requests count too
                command = _with_budget(command, settings.max_requests - spent)
    except ConfigurationError as exc:
        discard_reports(Path(args.reports_dir))
        message = Recorder(secrets=secrets).redact(str(exc))
        if kit_mock and "LD_API_TOKEN" in message:
            message += " (the started mock accepts the tokens of its shipped configuration: unset it)"
        print(f"contract: cannot run against {base_url}: {message}", file=sys.stderr)
        return CONFIGURATION_ERROR
    rerun = rerun_command(settings, args.seed)
    print(f"contract: seed {args.seed} (reproduce with {rerun})", flush=True)
    with tempfile.TemporaryDirectory(prefix="contract-progress-") as workdir:
        status = _run_pytest([*command, "--no-probe"], Path(workdir) / "progress.json")
    if status in (0, 1, 2):  # the tests ran (1: some failed; 2: interrupted, INCOMPLETE)
        reports = Path(args.reports_dir)
        _print_matrix(reports.relative_to(Path.cwd()) if reports.is_relative_to(Path.cwd())
                      else reports)
    print(f"contract: pytest exited with status {status}; re-run: {rerun}", flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
