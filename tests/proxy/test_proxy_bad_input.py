"""Bad input to the proxy, the replay and the comparison: one line naming the problem, a non-zero
exit, and nothing written (no report, no HAR file)."""

from __future__ import annotations

import functools
import json
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import HTTPServer, SimpleHTTPRequestHandler
from pathlib import Path

import pytest
from proxy_helpers import ROOT

from mock_server.process import HOST, MockProcess, free_port

pytestmark = pytest.mark.timeout(60)


def _run(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *argv], cwd=ROOT, capture_output=True, text=True,
                          timeout=30, env=env or {"PATH": "/usr/bin:/bin"}, check=False)


def _one_line(result: subprocess.CompletedProcess[str], *words: str) -> None:
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and not result.stdout, result.stdout + result.stderr
    for word in words:
        assert word in lines[0], lines[0]


@pytest.fixture
def not_http() -> Iterator[str]:
    """A TCP server that answers every connection with a line that is not HTTP."""
    server = socket.create_server((HOST, 0))

    def serve() -> None:
        while True:
            try:
                connection, _ = server.accept()
            except OSError:
                return
            with connection:
                connection.sendall(b"SSH-2.0-OpenSSH_9.6\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://{HOST}:{server.getsockname()[1]}"
    server.close()


def _proxy(tmp_path: Path, upstream: str, port: int | None = None) -> list[str]:
    return ["-m", "proxy", "--upstream", upstream, "--port", str(port or free_port()),
            "--reports-dir", str(tmp_path / "reports"), "--har", str(tmp_path / "t.har")]


def _nothing_written(tmp_path: Path) -> None:
    assert not (tmp_path / "reports").exists() and not (tmp_path / "t.har").exists()


def test_unreachable_upstream(tmp_path: Path) -> None:
    _one_line(_run(*_proxy(tmp_path, f"http://{HOST}:{free_port()}")), "cannot connect")
    _nothing_written(tmp_path)


def test_upstream_that_is_not_http(tmp_path: Path, not_http: str) -> None:
    _one_line(_run(*_proxy(tmp_path, not_http)), "does not speak HTTP", not_http)
    _nothing_written(tmp_path)


def test_upstream_that_is_not_a_url(tmp_path: Path) -> None:
    _one_line(_run(*_proxy(tmp_path, "ftp://example.com")), "not an http:// or https:// URL")
    _one_line(_run(*_proxy(tmp_path, "http://example.com/api/v2")), "has a path")
    _nothing_written(tmp_path)


@pytest.fixture
def http_server(tmp_path: Path) -> Iterator[str]:
    """Something that answers HTTP (serving an empty directory)."""
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(tmp_path / "www"))
    (tmp_path / "www").mkdir()
    server = HTTPServer((HOST, 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://{HOST}:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_port_in_use(tmp_path: Path, http_server: str) -> None:
    with socket.create_server((HOST, 0)) as taken:
        port = taken.getsockname()[1]
        _one_line(_run(*_proxy(tmp_path, http_server, port)), f"{HOST}:{port}", "in use")
    _nothing_written(tmp_path)


@pytest.mark.parametrize("content", ["not json at all", json.dumps({"entries": []}),
                                     json.dumps({"log": {"version": "1.2", "entries": [{}]}})],
                         ids=["text", "no-log", "entry-without-request"])
def test_replay_of_a_file_that_is_not_a_har(tmp_path: Path, content: str) -> None:
    har = tmp_path / "traffic.har"
    har.write_text(content, encoding="utf-8")
    result = _run("-m", "proxy.replay", str(har), "--base-url", "http://127.0.0.1:9",
                  "--reports-dir", str(tmp_path / "reports"))
    _one_line(result, str(har), "HAR")
    assert not (tmp_path / "reports").exists()


def test_replay_of_a_missing_file(tmp_path: Path) -> None:
    result = _run("-m", "proxy.replay", str(tmp_path / "nope.har"), "--base-url",
                  "http://127.0.0.1:9", "--reports-dir", str(tmp_path / "reports"))
    _one_line(result, "nope.har", "cannot read it")
    assert not (tmp_path / "reports").exists()


def _har(tmp_path: Path, label: str) -> Path:
    """A HAR file of one request made with the token labelled `label`."""
    har = tmp_path / "traffic.har"
    har.write_text(json.dumps({"log": {"version": "1.2", "entries": [
        {"request": {"method": "GET", "url": "http://x/api/v2/flags/p/f", "headers": []},
         "_authorization": label}]}}), encoding="utf-8")
    return har


def test_replay_without_the_token_it_needs(tmp_path: Path) -> None:
    result = _run("-m", "proxy.replay", str(_har(tmp_path, "writer")), "--base-url",
                  "http://127.0.0.1:9", "--reports-dir", str(tmp_path / "reports"))
    _one_line(result, "LD_API_TOKEN is not set")
    assert not (tmp_path / "reports").exists()


def _replay_mapping(tmp_path: Path, *mappings: str, **variables: str
                    ) -> subprocess.CompletedProcess[str]:
    """A replay of a recording with an opaque label, the mappings given, `variables` set."""
    options = [arg for mapping in mappings for arg in ("--token", mapping)]
    return _run("-m", "proxy.replay", str(_har(tmp_path, "token-1")), "--base-url",
                "http://127.0.0.1:9", *options, "--reports-dir", str(tmp_path / "reports"),
                env={"PATH": "/usr/bin:/bin", **variables})


TOKENS = {"LD_API_TOKEN": "a-writer-token-0000", "LD_API_TOKEN_READONLY": "a-reader-token-0000"}


@pytest.mark.parametrize(("mappings", "words"), [
    (["token-1"], ["VARIABLE LD_API_TOKEN or LD_API_TOKEN_READONLY"]),
    (["token-1=HOME"], ["VARIABLE LD_API_TOKEN or LD_API_TOKEN_READONLY"]),
    (["token=LD_API_TOKEN"], ["an opaque label", "token-1"]),
    (["reader=LD_API_TOKEN"], ["an opaque label", "reader is always LD_API_TOKEN_READONLY"]),
    (["token-1=LD_API_TOKEN", "token-1=LD_API_TOKEN_READONLY"],
     ["mapped to LD_API_TOKEN already"]),
], ids=["no-variable", "other-variable", "not-a-label", "role-label", "twice"])
def test_replay_with_a_bad_token_mapping(tmp_path: Path, mappings: list[str],
                                         words: list[str]) -> None:
    """Refused before a request is sent (the --base-url is not even probed): one line naming
    the mapping and what to change."""
    result = _replay_mapping(tmp_path, *mappings, **TOKENS)
    _one_line(result, f"--token {mappings[-1]!r}", *words)
    assert not any(token in result.stderr for token in TOKENS.values())
    assert not (tmp_path / "reports").exists()


def test_replay_mapping_to_a_variable_not_set(tmp_path: Path) -> None:
    result = _replay_mapping(tmp_path, "token-1=LD_API_TOKEN_READONLY",
                             LD_API_TOKEN=TOKENS["LD_API_TOKEN"])
    _one_line(result, "--token 'token-1=LD_API_TOKEN_READONLY'",
              "LD_API_TOKEN_READONLY is not set")
    assert not (tmp_path / "reports").exists()


def test_compare_with_an_unreachable_target(tmp_path: Path) -> None:
    result = _run("-m", "fidelity", "--base-url", f"http://{HOST}:{free_port()}",
                  "--reports-dir", str(tmp_path / "reports"))
    _one_line(result, "--base-url", "cannot connect")
    assert not (tmp_path / "reports").exists()


def test_compare_with_a_budget_the_plan_does_not_fit(tmp_path: Path, http_server: str) -> None:
    result = _run("-m", "fidelity", "--base-url", http_server, "--max-requests", "20",
                  "--mock-url", http_server, "--reports-dir", str(tmp_path / "reports"))
    _one_line(result, "the plan needs", "--max-requests 20")
    assert not (tmp_path / "reports").exists()


def test_compare_with_a_token_the_target_refuses(tmp_path: Path, mock: MockProcess) -> None:
    result = _run("-m", "fidelity", "--base-url", mock.base_url, "--reports-dir",
                  str(tmp_path / "reports"), env={"PATH": "/usr/bin:/bin",
                                                  "LD_API_TOKEN": "not-a-valid-token-1234"})
    assert result.returncode == 2, result.stdout + result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert "could not be set up" in line and "401" in line, line
    assert "not-a-valid-token-1234" not in result.stdout + result.stderr
    assert not (tmp_path / "reports").exists()
