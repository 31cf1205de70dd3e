"""The pre-flight (contract_tests/preflight.py): every bad configuration of a staging run ends
before any test, in seconds, with one line naming the variable to fix -- against real servers
on 127.0.0.1 only: the kit's mock as a process, a static file server, a closed port.

Each case runs ``python -m contract_tests.run --base-url …`` as a user would, with the reports
of an earlier run in its reports directory, and checks: status 4, exactly one line of output,
the right variable(s) named and no other, no traceback, no token, under 10 s, the earlier
reports gone, and no ``ct-`` resource left in the mock's store.
"""

from __future__ import annotations

import functools
import http.server
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from suite_helpers import PYTHON, recognisable_token, resources_left, run

from contract_tests import preflight
from contract_tests.report import REPORT_FILES
from contract_tests.run import suite_options, write_mock_config
from contract_tests.settings import MOCK_READER_TOKEN, settings_from
from mock_server.process import HOST, MockProcess, free_port

WRITER = recognisable_token()  # a writer the mock knows, besides its shipped tokens
BOGUS = recognisable_token()  # a token the mock does not know
TOKENS = (WRITER, BOGUS, MOCK_READER_TOKEN)
VARIABLES = re.compile(
    r"\b(BASE_URL|LD_API_TOKEN_READONLY|LD_API_TOKEN|LD_PROJECT_KEY|LD_ENVIRONMENT_KEY)\b")
BUDGET_S = 10.0
GOOD = {"LD_API_TOKEN": WRITER, "LD_API_TOKEN_READONLY": MOCK_READER_TOKEN,
        "LD_PROJECT_KEY": "default", "LD_ENVIRONMENT_KEY": "test"}


@pytest.fixture(scope="module")
def mock(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MockProcess]:
    directory = tmp_path_factory.mktemp("preflight-mock")
    config = write_mock_config(directory / "config.yaml", extra_writer_tokens=[WRITER])
    with MockProcess(directory / "store.sqlite3", config, directory / "server.log") as server:
        yield server


@pytest.fixture
def static_server(tmp_path: Path) -> Iterator[str]:
    """Python's http.server on a free loopback port: answers, but is not this API."""
    (tmp_path / "index.html").write_text("<p>hello</p>", encoding="utf-8")

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(
        (HOST, 0), functools.partial(Quiet, directory=str(tmp_path)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{HOST}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def _stopped(tmp_path: Path, mock: MockProcess, base_url: str, variables: set[str],
             options: tuple[str, ...] = (), **environ: str) -> str:
    """Run the runner against `base_url` with GOOD overridden by `environ` (an empty value
    unsets); assert it stopped as the module docstring says; return its line."""
    reports = tmp_path / "reports"
    reports.mkdir()
    for name in REPORT_FILES:
        (reports / name).write_text("an earlier run's result", encoding="utf-8")
    env = {k: v for k, v in {**GOOD, **environ}.items() if v}
    started = time.monotonic()
    result = run([PYTHON, "-m", "contract_tests.run", "--base-url", base_url,
                  "--reports-dir", str(reports), *options], cwd=tmp_path, env=env, timeout=60)
    seconds = time.monotonic() - started
    print(f"\n[preflight] {seconds:.2f} s: {result.output.strip()}")
    assert result.returncode == 4, result.output
    lines = result.output.splitlines()
    assert len(lines) == 1 and lines[0].startswith("contract: cannot run against"), result.output
    assert set(VARIABLES.findall(lines[0])) == variables, lines[0]
    assert "Traceback" not in result.output and "usage:" not in result.output
    assert not any(token in result.output for token in TOKENS)
    assert seconds < BUDGET_S
    assert sorted(p.name for p in reports.iterdir()) == []
    assert resources_left(mock.db) == []
    return lines[0]


def test_a_base_url_with_a_path_prefix(mock: MockProcess, tmp_path: Path) -> None:
    line = _stopped(tmp_path, mock, f"{mock.base_url}/api/v2", {"BASE_URL"})
    assert f"give the server's root, {mock.base_url}" in line


@pytest.mark.parametrize(("suffix", "extra"), [
    ("?x=1", "a query (?x=1)"), ("/?x=1", "a query (?x=1)"), ("#top", "a fragment (#top)"),
    ("/api/v2?x=1", "a path (/api/v2) and a query (?x=1)"),
])
def test_a_base_url_with_a_query_or_fragment(mock: MockProcess, tmp_path: Path, suffix: str,
                                             extra: str) -> None:
    """A query sent every request to ``/`` (httpx puts the path after it), and the 404s blamed
    LD_PROJECT_KEY; a fragment is never sent."""
    line = _stopped(tmp_path, mock, f"{mock.base_url}{suffix}", {"BASE_URL"})
    assert f"BASE_URL has {extra}: give the server's root, {mock.base_url}" in line


def test_a_base_url_beyond_the_root_is_refused_before_a_plan_too(mock: MockProcess,
                                                                 tmp_path: Path) -> None:
    """PLAN=1 runs no pre-flight: the URL's shape is checked with the settings, before it."""
    line = _stopped(tmp_path, mock, f"{mock.base_url}/api/v2?x=1", {"BASE_URL"}, ("--plan",))
    assert "BASE_URL has a path (/api/v2) and a query (?x=1)" in line


@pytest.mark.parametrize("port", ["99999", "0", "abc"])
def test_a_base_url_with_a_port_no_server_has(mock: MockProcess, tmp_path: Path,
                                              port: str) -> None:
    """99999 and 0 were tried as "Connection refused", abc was httpx's traceback."""
    line = _stopped(tmp_path, mock, f"http://{HOST}:{port}", {"BASE_URL"})
    assert f"BASE_URL has port {port}, which no server listens on: give one from 1 to 65535" in line


def test_a_server_that_is_not_this_api(mock: MockProcess, static_server: str,
                                       tmp_path: Path) -> None:
    line = _stopped(tmp_path, mock, static_server, {"BASE_URL"})
    assert "answered 404 (text/html)" in line and "not the LaunchDarkly API" in line


def test_https_spoken_to_a_plain_http_port(mock: MockProcess, tmp_path: Path) -> None:
    https = mock.base_url.replace("http://", "https://")
    line = _stopped(tmp_path, mock, https, {"BASE_URL"})
    assert "TLS handshake failed" in line and f"({mock.base_url}?)" in line


def test_an_unreachable_host(mock: MockProcess, tmp_path: Path) -> None:
    line = _stopped(tmp_path, mock, f"http://{HOST}:{free_port()}", {"BASE_URL"})
    assert "cannot reach it" in line and "refused" in line


def test_a_bogus_write_token(mock: MockProcess, tmp_path: Path) -> None:
    line = _stopped(tmp_path, mock, mock.base_url, {"LD_API_TOKEN"}, LD_API_TOKEN=BOGUS)
    assert "write token was rejected (401)" in line


def test_the_read_only_token_as_the_write_token(mock: MockProcess, tmp_path: Path) -> None:
    line = _stopped(tmp_path, mock, mock.base_url, {"LD_API_TOKEN"},
                    LD_API_TOKEN=MOCK_READER_TOKEN)
    assert "may not create a segment" in line and "(403)" in line


def test_a_bogus_read_only_token(mock: MockProcess, tmp_path: Path) -> None:
    line = _stopped(tmp_path, mock, mock.base_url, {"LD_API_TOKEN_READONLY"},
                    LD_API_TOKEN_READONLY=BOGUS)
    assert "read-only token was rejected (401)" in line


def test_a_read_only_token_that_can_write(mock: MockProcess, tmp_path: Path) -> None:
    line = _stopped(tmp_path, mock, mock.base_url, {"LD_API_TOKEN_READONLY"},
                    LD_API_TOKEN_READONLY=WRITER)
    assert "answered 204, not 403" in line


def test_an_unknown_project(mock: MockProcess, tmp_path: Path) -> None:
    line = _stopped(tmp_path, mock, mock.base_url, {"LD_PROJECT_KEY"},
                    LD_PROJECT_KEY="no-such-project")
    assert "project 'no-such-project' does not exist" in line


def test_an_unknown_environment(mock: MockProcess, tmp_path: Path) -> None:
    line = _stopped(tmp_path, mock, mock.base_url, {"LD_ENVIRONMENT_KEY"},
                    LD_ENVIRONMENT_KEY="no-such-environment")
    assert "environment 'no-such-environment' does not exist in project 'default'" in line


def test_missing_project_and_environment_keys(mock: MockProcess, tmp_path: Path) -> None:
    line = _stopped(tmp_path, mock, mock.base_url, {"LD_PROJECT_KEY", "LD_ENVIRONMENT_KEY"},
                    LD_PROJECT_KEY="", LD_ENVIRONMENT_KEY="")
    assert "are not set" in line


def test_a_good_configuration_passes_and_leaves_nothing(mock: MockProcess) -> None:
    settings = settings_from(suite_options(["--base-url", mock.base_url]), environ=GOOD)
    started = time.monotonic()
    preflight.check(settings)
    assert time.monotonic() - started < BUDGET_S
    assert resources_left(mock.db) == []
