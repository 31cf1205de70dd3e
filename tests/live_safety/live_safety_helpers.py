"""Helpers of the live-safety tests: the kit's mock as a live-like target (a real process on
loopback, admin off), resources that were there before the suite came, snapshots of them, the
contract suite run as a subprocess, the mock's SQLite store read after the fact, and
``record()``, which prints measured figures and merges them into
``reports/reliability.json`` (``bench/results/reliability.json`` when run by bench/reliability.py) under the one key ``live_safety``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml
from fault_proxy import FaultProxy, Faults

from generated.client import Client
from mock_server.process import MockProcess

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
# Measured figures: reports/ (ignored) by default, so `make test` leaves a clone clean;
# bench/reliability.py points RELIABILITY_RESULTS at the tracked bench/results/reliability.json.
RESULTS = Path(os.environ.get("RELIABILITY_RESULTS") or ROOT / "reports" / "reliability.json")
RESULTS_KEY = "live_safety"

TOKEN = "tok-SECRET-7f3a9c"  # recognisable, to grep for
READONLY_TOKEN = "tok-SECRET-ro-41d2e8"
SECRETS = (TOKEN, READONLY_TOKEN)
PROJECT, ENV, OTHER_ENV = "default", "test", "production"
DAY_MS = 86_400_000
RUN_PREFIX = "ct-"  # every key the suite creates starts with it
# what the suite reads from the environment; each run sets what it needs
SUITE_ENVIRONMENT = ("LD_BASE_URL", "LD_API_TOKEN", "LD_API_TOKEN_READONLY", "LD_PROJECT_KEY",
                     "LD_ENVIRONMENT_KEY")
TABLES = ("segments", "flags", "flag_envs", "targets", "schedules")


# -- the target ---------------------------------------------------------------------------------


def write_config(directory: Path) -> Path:
    """Live-like: admin (the settable clock) off, the recognisable tokens only. No rate limit:
    429s come from the fault proxy, where a test wants them."""
    config = {
        "projects": {PROJECT: {"name": "Default", "environments": {
            ENV: {"name": "Test"}, OTHER_ENV: {"name": "Production"}}}},
        "tokens": {TOKEN: {"role": "writer", "projects": ["*"]},
                   READONLY_TOKEN: {"role": "reader", "projects": ["*"]}},
        "rate_limit": {"requests_per_10s": None},
        "admin": False,
    }
    path = directory / "live-like.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


@contextlib.contextmanager
def running_mock(directory: Path) -> Iterator[MockProcess]:
    """The live-like mock (:func:`write_config`) on a file store in ``directory``."""
    with MockProcess(directory / "store.sqlite3", write_config(directory),
                     directory / "server.log") as server:
        yield server


# -- what was there before the suite came ---------------------------------------------------------


@dataclass
class Existing:
    """Resources created before a run (not by the suite), and the GETs that show them."""

    segments: list[tuple[str, str]] = field(default_factory=list)  # (env, key)
    flags: list[str] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)  # every GET to compare, before and after

    @property
    def keys(self) -> set[str]:
        return {k for _, k in self.segments} | set(self.flags)


def _ok(response: Any, what: str) -> Any:
    assert response.ok, f"{what}: HTTP {response.status_code} {response.content[:300]!r}"
    return response.json()


def seed_existing(base_url: str) -> Existing:
    """Segments and flags with individual targets and schedules in both environments, created
    through the generated client. Two of them have keys like the suite's own (another run's):
    the suite must not touch those either."""
    existing = Existing()
    far = int(time.time() * 1000) + 30 * DAY_MS
    with Client(base_url, TOKEN) as api:
        for env in (ENV, OTHER_ENV):
            for key in ("prod-checkout-beta", "ct-1700000000-0a0b0c-1-segment"):
                where = {"project_key": PROJECT, "environment_key": env}
                _ok(api.post_segment(**where, body={"key": key, "name": key.title()}), key)
                _ok(api.patch_segment(**where, segment_key=key, body={"instructions": [
                    {"kind": "addIncludedUsers", "values": ["u-alice", "u-bob"]},
                    {"kind": "addExcludedUsers", "values": ["u-eve"]},
                    {"kind": "addIncludedTargets", "contextKind": "org", "values": ["acme"]},
                    {"kind": "addExcludedTargets", "contextKind": "org", "values": ["globex"]},
                ]}), f"targeting {key}")
                body = _ok(api.patch_expiring_targets_for_segment(
                    **where, segment_key=key, body={"instructions": [
                        {"kind": "addExpiringTarget", "contextKind": "org", "contextKey": "acme",
                         "targetType": "included", "value": far},
                        {"kind": "addExpiringTarget", "contextKind": "org",
                         "contextKey": "globex", "targetType": "excluded", "value": far + 1},
                    ]}), f"scheduling {key}")
                assert body["failedInstructions"] == 0, body
                body = _ok(api.patch_expiring_user_targets_for_segment(
                    **where, segment_key=key, body={"instructions": [
                        {"kind": "addExpireUserTargetDate", "userKey": "u-alice",
                         "targetType": "included", "value": far + 2}]}), f"scheduling {key}")
                assert body["failedInstructions"] == 0, body
                existing.segments.append((env, key))
                base = f"/api/v2/segments/{PROJECT}"
                existing.paths += [f"{base}/{env}/{key}",
                                   f"{base}/{key}/expiring-targets/{env}",
                                   f"{base}/{key}/expiring-user-targets/{env}"]
        for key in ("prod-new-dashboard", "ct-1700000000-0a0b0c-1-flag"):
            flag = _ok(api.post_feature_flag(project_key=PROJECT, body={"key": key, "name": key}),
                       key)
            on, off = (v["_id"] for v in flag["variations"][:2])
            for env in (ENV, OTHER_ENV):
                _ok(api.patch_feature_flag(project_key=PROJECT, feature_flag_key=key, body={
                    "environmentKey": env, "instructions": [
                        {"kind": "addUserTargets", "variationId": on, "values": ["u-alice"]},
                        {"kind": "addTargets", "variationId": off, "contextKind": "org",
                         "values": ["acme"]}]}), f"targeting {key}")
                where = {"project_key": PROJECT, "environment_key": env, "feature_flag_key": key}
                body = _ok(api.patch_expiring_targets(**where, body={"instructions": [
                    {"kind": "addExpiringTarget", "contextKind": "org", "contextKey": "acme",
                     "variationId": off, "value": far + 3}]}), f"scheduling {key}")
                assert body["failedInstructions"] == 0, body
                body = _ok(api.patch_expiring_user_targets(**where, body={"instructions": [
                    {"kind": "addExpireUserTargetDate", "userKey": "u-alice", "variationId": on,
                     "value": far + 4}]}), f"scheduling {key}")
                assert body["failedInstructions"] == 0, body
                base = f"/api/v2/flags/{PROJECT}/{key}"
                existing.paths += [f"{base}/expiring-targets/{env}",
                                   f"{base}/expiring-user-targets/{env}"]
            existing.flags.append(key)
            existing.paths.append(f"/api/v2/flags/{PROJECT}/{key}")
        for env in (ENV, OTHER_ENV):
            existing.paths.append(f"/api/v2/users/{PROJECT}/u-alice/expiring-user-targets/{env}")
    return existing


def snapshot(base_url: str, paths: list[str]) -> dict[str, tuple[int, bytes]]:
    """Every GET's status and exact body (the token in a header, never printed)."""
    with httpx.Client(base_url=base_url, headers={"Authorization": TOKEN}, timeout=30) as http:
        return {path: ((r := http.get(path)).status_code, r.content) for path in paths}


def changed(before: dict[str, tuple[int, bytes]], after: dict[str, tuple[int, bytes]]) -> list[str]:
    return [path for path in before if before[path] != after.get(path)]


# -- the store, read after the fact --------------------------------------------------------------


def store_rows(db: Path) -> dict[str, list[dict[str, Any]]]:
    """Every row of the mock's tables, opened read-only."""
    connection = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    connection.row_factory = sqlite3.Row
    try:
        return {table: [dict(row) for row in connection.execute(f"SELECT * FROM {table}")]
                for table in TABLES}
    finally:
        connection.close()


def suite_leftovers(db: Path, existing: Existing) -> list[str]:
    """What the suite created and did not delete: every segment or flag that was not there
    before (whatever its key: the run prefix is checked too, as a reminder of the rule that
    every key the suite creates carries it), and every target or schedule of a context of the
    suite's (run prefix) or on a resource that was not there before."""
    rows = store_rows(db)
    found = [f"segment {r['env']}/{r['key']!r}" for r in rows["segments"]
             if r["key"] not in existing.keys]
    found += [f"flag {r['key']!r}" for r in rows["flags"] if r["key"] not in existing.keys]
    found += [f"target {r['owner']} {r['owner_key']!r}: {r['context_kind']}/{r['context_key']}"
              for r in rows["targets"]
              if r["context_key"].startswith(RUN_PREFIX) or r["owner_key"] not in existing.keys]
    found += [f"schedule {r['resource_kind']} {r['resource_key']!r}: {r['context_key']}"
              for r in rows["schedules"]
              if r["context_key"].startswith(RUN_PREFIX)
              or r["resource_key"] not in existing.keys]
    return found


def suite_keys_now(db: Path) -> int:
    """Segments and flags with the run prefix right now (the server still running: WAL lets a
    read-only reader in). 0 when the store cannot be read yet."""
    try:
        connection = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)
        try:
            return sum(connection.execute(
                f"SELECT count(*) FROM {table} WHERE key LIKE 'ct-%' "
                "AND key NOT LIKE 'ct-1700000000-%'").fetchone()[0]
                for table in ("segments", "flags"))
        finally:
            connection.close()
    except sqlite3.Error:
        return 0


# -- the suite as a subprocess --------------------------------------------------------------------


def suite_command(base_url: str, workdir: Path, *extra: str, examples: int = 5) -> list[str]:
    reports = workdir / "reports"
    return [PYTHON, "-m", "pytest", str(ROOT / "contract_tests"), "-p", "no:cacheprovider",
            "--base-url", base_url, "--examples", str(examples),
            f"--reports-dir={reports}", f"--junitxml={reports / 'junit.xml'}", *extra]


def suite_environment() -> dict[str, str]:
    environ = {k: v for k, v in os.environ.items() if k not in SUITE_ENVIRONMENT}
    environ.update({"PYTHONPATH": str(ROOT), "LD_API_TOKEN": TOKEN,
                    "LD_API_TOKEN_READONLY": READONLY_TOKEN, "LD_PROJECT_KEY": "default",
                    "LD_ENVIRONMENT_KEY": "test"})
    return environ


def start_suite(command: list[str], workdir: Path) -> subprocess.Popen[str]:
    """The suite in its own process group (a signal to it reaches nothing else), writing into
    `workdir` (its cwd: reports, any .hypothesis directory, temporary files)."""
    return subprocess.Popen(command, cwd=workdir, env=suite_environment(),
                            stdout=(workdir / "suite-output.txt").open("w"),
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)


@dataclass
class SuiteRun:
    returncode: int
    output: str  # stdout and stderr
    seconds: float
    workdir: Path

    @property
    def report(self) -> Path:
        return self.workdir / "reports" / "conformance.md"

    def overview(self) -> dict[str, str]:
        """The conformance report's first table: field -> value."""
        rows = {}
        for line in self.report.read_text(encoding="utf-8").splitlines():
            if line.startswith("## "):
                break
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if len(cells) == 2 and cells[0] not in ("", "---"):
                rows[cells[0]] = cells[1]
        return rows

    def count(self, field: str) -> int:
        return int(self.overview()[field].split()[0])


def run_suite(command: list[str], workdir: Path, timeout_s: float = 300) -> SuiteRun:
    started = time.monotonic()
    process = start_suite(command, workdir)
    try:
        returncode = process.wait(timeout=timeout_s)
    finally:
        stop_process(process)
    output = (workdir / "suite-output.txt").read_text(errors="replace")
    return SuiteRun(returncode, output, time.monotonic() - started, workdir)


def stop_process(process: subprocess.Popen[Any]) -> None:
    """End a suite process this module started (its own process group), if still running."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)


def files_containing(directory: Path, needles: tuple[str, ...]) -> list[str]:
    return sorted(str(p) for p in directory.rglob("*")
                  if p.is_file() and any(n.encode() in p.read_bytes() for n in needles))


def files_changed_since(directory: Path, since: float,
                        skip: tuple[str, ...] = (".venv", ".git", "node_modules")) -> list[Path]:
    """Files under `directory` modified after `since` (epoch seconds), outside `skip`."""
    found = []
    for root, dirs, files in os.walk(directory):
        dirs[:] = [d for d in dirs if d not in skip]
        for name in files:
            path = Path(root) / name
            with contextlib.suppress(OSError):
                if path.stat().st_mtime >= since:
                    found.append(path)
    return found


# -- a whole scenario ------------------------------------------------------------------------------


@dataclass
class Scenario:
    """One run of the suite against a live-like mock that held other resources already."""

    run: SuiteRun
    existing: Existing
    changed: list[str]  # GETs of pre-existing resources whose answer changed
    leftovers: list[str]  # what the suite created and left in the store
    proxy: dict[str, int]  # what the proxy did
    started_at: float  # epoch seconds, when the suite started

    def figures(self) -> dict[str, Any]:
        overview = self.run.overview() if self.run.report.is_file() else {}
        return {
            "returncode": self.run.returncode,
            "seconds": round(self.run.seconds, 1),
            "requests": overview.get("requests made", "?").split(" ")[0],
            "preexisting_gets_compared": len(self.existing.paths),
            "preexisting_gets_changed": len(self.changed),
            "suite_resources_left": len(self.leftovers),
        }


def live_scenario(directory: Path, faults: Faults, *extra: str, examples: int = 5) -> Scenario:
    """Mock up, other resources created and snapshotted, the suite run through the proxy,
    the snapshot taken again (directly, not through the proxy), everything stopped, then the
    store read."""
    workdir = directory / "work"
    workdir.mkdir(parents=True, exist_ok=True)
    with running_mock(directory) as server:
        existing = seed_existing(server.base_url)
        before = snapshot(server.base_url, existing.paths)
        with FaultProxy(server.base_url, faults) as proxy:
            started_at = time.time()
            run = run_suite(suite_command(proxy.url, workdir, *extra, examples=examples), workdir)
            counts = dict(proxy.counts)
        after = snapshot(server.base_url, existing.paths)
    return Scenario(run, existing, changed(before, after), suite_leftovers(server.db, existing),
                    counts, started_at)


# -- results --------------------------------------------------------------------------------------


def record(section: str, figures: dict[str, Any]) -> None:
    """Print the figures and merge them into reliability.json under ``live_safety.<section>``:
    read-modify-write of that one key, under an advisory lock, replacing the file atomically
    (another engineer's keys are kept as read)."""
    print(f"\n[live_safety] {section}: {json.dumps(figures, sort_keys=True)}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with (Path(tempfile.gettempdir()) / "reliability-json.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            data = json.loads(RESULTS.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            data = {}
        ours = data.get(RESULTS_KEY) if isinstance(data.get(RESULTS_KEY), dict) else {}
        ours[section] = {**figures, "measured_at": dt.datetime.now(dt.UTC).isoformat(
            timespec="seconds")}
        data[RESULTS_KEY] = ours
        temporary = RESULTS.with_suffix(".json.tmp-live-safety")
        temporary.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        os.replace(temporary, RESULTS)
