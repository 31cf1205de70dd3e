"""Repro scripts reproduce: the suite finds a failure of a broken server in-process; its script,
run with bash against that same broken server as a real process on 127.0.0.1, provisions its
own resources, gets the same wrong answer, and deletes what it created — also when it fails
half-way. No token is written into any file of the run.

Two broken servers: one whose semantic-patch answers count one instruction too many (tier 2;
the whole suite with ``-x`` as the issue runs it), and one whose schedule listings lack a
required field (tier 1: Schemathesis' request, on a flag whose variation ids the server makes
anew, with schedules the tier-1 setup made).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from report_fixtures import exchange
from suite_helpers import PYTHON, ROOT, files_containing, run

from contract_tests.report.model import FailureRecord, Repro, RunData
from contract_tests.report.render import render_script
from contract_tests.report.repro import script_steps
from contract_tests.settings import MOCK_READER_TOKEN, MOCK_WRITER_TOKEN
from mock_server.process import HOST, free_port

SCRIPT_BUDGET_S = 60


def _one_too_many(failure: dict[str, Any], answer: Any) -> None:
    sent = len(json.loads(failure["request"]["body"])["instructions"])
    assert json.loads(failure["answer"]["body"])["totalInstructions"] == sent + 1
    assert answer["totalInstructions"] == sent + 1  # the broken server's wrong count, again


def _no_resource_id(failure: dict[str, Any], answer: Any) -> None:
    assert answer["items"], answer  # the tier-1 setup's schedules were replayed
    assert all("_resourceId" not in item for item in answer["items"])  # the schema requires it


# broken server -> (the suite's arguments, the rule it fails, what the script's answer shows)
CASES: dict[str, tuple[list[str], str, Callable[[dict[str, Any], Any], None]]] = {
    "wrong_counts": ([], "instruction-counts", _one_too_many),
    "missing_required_field": (["-k", "schema_conformance"], "response_schema_conformance",
                               _no_resource_id),
}


@pytest.fixture(scope="module", params=sorted(CASES))
def broken(request: pytest.FixtureRequest) -> str:
    return f"tests.contract_power.broken:{request.param}"


@pytest.fixture(scope="module")
def failing_run(broken: str, tmp_path_factory: pytest.TempPathFactory
                ) -> tuple[Path, dict[str, Any]]:
    """The suite in-process against the broken server, as the issue runs it."""
    directory = tmp_path_factory.mktemp("broken-run")
    reports = directory / "reports"
    result = run([PYTHON, "-m", "pytest", str(ROOT / "contract_tests"), "-p", "no:cacheprovider",
                  "--app", broken, "-x", "--no-shrink", "--examples", "5",
                  "--hypothesis-seed", "0", f"--reports-dir={reports}",
                  f"--junitxml={reports / 'junit.xml'}", *CASES[broken.partition(":")[2]][0]],
                 cwd=directory, timeout=300)
    assert result.returncode == 1, result.output[-3000:]
    return reports, json.loads((reports / "results.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def broken_server(broken: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The same broken server as a real process: uvicorn on a free loopback port."""
    log = tmp_path_factory.mktemp("broken-server") / "server.log"
    port = free_port()
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--factory", broken, "--host", HOST, "--port",
             str(port), "--lifespan", "off", "--log-level", "warning"],
            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=out,
            stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://{HOST}:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, log.read_text()
            try:
                httpx.get(f"{url}/openapi.json", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.05)  # polling a process this fixture started
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=10)


def _bash(script: Path, base_url: str, run_id: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("LD_")}
    environ.update(BASE_URL=base_url, RUN=run_id, LD_API_TOKEN=MOCK_WRITER_TOKEN,
                   LD_API_TOKEN_READONLY=MOCK_READER_TOKEN)
    return subprocess.run(["bash", str(script)], env=environ, capture_output=True, text=True,
                          timeout=SCRIPT_BUDGET_S, check=False)


def _gone(base_url: str, output: str) -> list[str]:
    """The paths the script says it deleted, each checked with a GET: 404 now."""
    deleted = re.findall(r"^deleted (\S+) \((?:204|404)\)$", output, re.MULTILINE)
    for path in deleted:
        answer = httpx.get(base_url + path, headers={"Authorization": MOCK_WRITER_TOKEN})
        assert answer.status_code == 404, (path, answer.text)
    return deleted


def _answer_after(marker: str, output: str) -> Any:
    after = output.split(marker, 1)[1]
    return json.loads(after.split("answer: HTTP 200\n", 1)[1].splitlines()[0])


def test_the_script_reproduces_the_wrong_answer_and_leaves_nothing(
    broken: str, failing_run: tuple[Path, dict[str, Any]], broken_server: str,
) -> None:
    reports, results = failing_run
    _, rule, shows = CASES[broken.partition(":")[2]]
    (failure,) = [f for f in results["failures"] if f["rule"] == rule]
    script = Path(failure["reproduction"]["script"])
    assert script == reports / "repro" / f"{failure['id']}.sh" and script.is_file()
    run_id = f"ct-repro-{secrets.token_hex(3)}"
    done = _bash(script, broken_server, run_id)
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"^provisioned: POST /api/v2/\S+ \(201\)$", done.stdout, re.MULTILINE)
    shows(failure, _answer_after("== the failing request", done.stdout))
    deleted = _gone(broken_server, done.stdout)
    assert deleted and all(f"/{run_id}-" in path for path in deleted)  # its own, renamed


def test_a_script_that_fails_half_way_still_deletes_what_it_created(
    broken_server: str, tmp_path: Path,
) -> None:
    """Provisioning that cannot go on (a write the server refuses) ends the script, and its
    trap deletes the segment it had created."""
    run_id = "ct-1700000000-abcdef"
    segment = f"{run_id}-1-segment"
    repro = Repro(
        provision=(exchange("POST", "/api/v2/segments/default/test",
                            {"key": segment, "name": segment}, 201),
                   exchange("PATCH", f"/api/v2/segments/default/test/{run_id}-no-such",
                            {"instructions": []})),
        prepare=(), failing=exchange("GET", f"/api/v2/segments/default/test/{segment}"),
        after=(), run_id=run_id)
    record = FailureRecord("t", "getSegment", "tier2", "tier2", "access-control", "m", (),
                           repro=repro)
    script = tmp_path / "half-way.sh"
    script.write_text(render_script(RunData(broken_server, 0, 5, False), "f1-x", record,
                                    script_steps(repro), script))
    done = _bash(script, broken_server, f"ct-repro-{secrets.token_hex(3)}")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "provisioning failed: PATCH" in done.stderr and "the failing request" not in done.stdout
    assert len(_gone(broken_server, done.stdout)) == 1


def test_no_token_in_any_file_of_the_run(failing_run: tuple[Path, dict[str, Any]]) -> None:
    reports, _ = failing_run
    written = sorted(p.name for p in reports.rglob("*") if p.is_file())
    assert {"conformance.md", "conformance.html", "results.json", "junit.xml"} <= set(written)
    assert any(name.endswith(".sh") for name in written)
    for token in (MOCK_WRITER_TOKEN, MOCK_READER_TOKEN):
        assert files_containing(reports, token) == []
