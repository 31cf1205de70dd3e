"""The fidelity comparison against mocks whose policy is known: it reports exactly the
differences a policy configuration makes, each with the setting that removes it, and none once
the settings apply; the reference against itself is 100 % in well under a minute; a broken
server's differences are contract violations; nothing it created is left, even after Ctrl-C."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from proxy_helpers import ROOT, Processes, serve_app, wait_http

from fidelity.mock import write_config
from mock_server.process import MockProcess

pytestmark = pytest.mark.timeout(120)
SWITCHES = {"unknown_user": "empty", "error_codes": "alternative", "items_order": "descending",
            "partial_failure": "atomic"}
ENV = {"PATH": "/usr/bin:/bin"}  # no LD_* variables: the mock's own tokens


def _compare(tmp_path: Path, target: str, *extra: str) -> tuple[int, dict[str, Any], str]:
    reports = tmp_path / "reports"
    result = subprocess.run([sys.executable, "-m", "fidelity", "--base-url", target, "--seed",
                             "7", "--reports-dir", str(reports), *extra], cwd=ROOT, env=ENV,
                            capture_output=True, text=True, timeout=110, check=False)
    report = json.loads((reports / "fidelity.json").read_text(encoding="utf-8")) if (
        reports / "fidelity.json").exists() else {}
    return result.returncode, report, result.stdout + result.stderr


@pytest.fixture
def policy_mock(tmp_path: Path) -> Iterator[Callable[..., MockProcess]]:
    """A kit mock with the comparison's configuration and the given policy section."""
    started: list[MockProcess] = []

    def make(name: str, policy: dict[str, Any] | None = None) -> MockProcess:
        config = write_config(tmp_path / f"{name}.yaml", policy)
        server = MockProcess(tmp_path / f"{name}.sqlite3", config, tmp_path / f"{name}.log")
        started.append(server)
        server.start()
        return server

    yield make
    for server in started:
        server.kill()


def _resources_left(db: Path | str) -> int:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as connection:
        return sum(connection.execute(f"SELECT count(*) FROM {table} WHERE {column} LIKE 'ct-%'"
                                      ).fetchone()[0]
                   for table, column in (("segments", "key"), ("flags", "key")))


def test_the_reference_against_itself_is_identical_in_under_a_minute(
        tmp_path: Path, policy_mock: Callable[..., MockProcess]) -> None:
    target = policy_mock("target")
    make = subprocess.run(["make", "-n", "compare", f"BASE_URL={target.base_url}"], cwd=ROOT,
                          capture_output=True, text=True, timeout=30, check=False)
    assert f"-m fidelity --base-url '{target.base_url}'" in make.stdout, make.stdout
    started = time.monotonic()
    status, report, output = _compare(tmp_path, target.base_url)
    elapsed = time.monotonic() - started
    assert status == 0, output
    overall = report["fidelity"]["overall"]
    assert overall["identical"] == overall["compared"] > 100, output
    assert report["settings"] == {} and report["attribution_runs"] == 0
    assert elapsed < 60, f"{elapsed:.1f} s"
    assert _resources_left(target.db) == 0


def test_a_policy_configuration_is_found_setting_by_setting(
        tmp_path: Path, policy_mock: Callable[..., MockProcess]) -> None:
    target = policy_mock("target", SWITCHES)
    status, report, output = _compare(tmp_path / "first", target.base_url)
    assert status == 0, output
    assert report["settings"] == SWITCHES, output
    differing = [e for e in report["exchanges"] if e["verdict"] != "identical"]
    assert differing and all(e["verdict"] == "open point" for e in differing), output
    named = {s.split("=")[0] for e in differing for s in e["settings"]}
    assert named == set(SWITCHES)  # every switch explains some difference, nothing else does
    assert report["fidelity_with_settings"]["identical"] == report["fidelity_with_settings"][
        "compared"]
    unknown_user = [e for e in differing if "an unknown user" in e["label"]]
    assert unknown_user and all(e["settings"] == ["unknown_user=empty"] for e in unknown_user)

    configured = policy_mock("configured", SWITCHES)  # the reference mock with those settings
    status, again, output = _compare(tmp_path / "again", target.base_url, "--mock-url",
                                     configured.base_url)
    assert status == 0, output
    overall = again["fidelity"]["overall"]
    assert overall["identical"] == overall["compared"], output
    assert _resources_left(target.db) == 0 and _resources_left(configured.db) == 0


def test_a_broken_server_differs_by_contract_violations(tmp_path: Path,
                                                        processes: Processes) -> None:
    target, server = serve_app(processes, "tests.contract_power.broken:wrong_counts")
    wait_http(target, server)
    status, report, output = _compare(tmp_path, target)
    assert status == 1, output
    broken = [e for e in report["exchanges"] if e["verdict"] == "contract violation"]
    assert broken, output
    assert all(e["violations"] == {target: ["instruction-counts"]} for e in broken)
    assert all(e["operation"].startswith("patchExpiring") or e["operation"].startswith(
        "patch-expiring") for e in broken)
    assert report["violations"][target] and not report["violations"][report["mock"]]


def test_ctrl_c_deletes_what_it_created(tmp_path: Path,
                                        policy_mock: Callable[..., MockProcess]) -> None:
    target = policy_mock("target", {"variant": "alternative"})  # a long run: attribution
    reports = tmp_path / "reports"
    proc = subprocess.Popen([sys.executable, "-m", "fidelity", "--base-url", target.base_url,
                             "--reports-dir", str(reports)], cwd=ROOT, env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 60
    while _resources_left(target.db) == 0 and time.monotonic() < deadline:
        time.sleep(0.05)  # until the target side has created something
    proc.send_signal(signal.SIGINT)
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, output
    assert "interrupted" in output
    assert _resources_left(target.db) == 0
    assert not reports.exists()
