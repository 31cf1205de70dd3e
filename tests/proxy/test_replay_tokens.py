"""A replay never sends a request with more privilege than it was recorded with. The tester's
recording (a GET with the read-only token, a DELETE of the segment with it, refused with 403, a
GET with the write token) replayed against a second mock holding the segment leaves the segment
there: with role labels when the proxy had the tokens in its environment, with opaque labels when
the user maps them; unmapped labels are skipped and reported. ``Bearer X`` and ``X`` are one
token, and the replay sends the spelling it recorded."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import httpx
import pytest
from proxy_helpers import ENV, PROJECT, READER, ROOT, WRITER, Processes, ProxyRun

from mock_server.process import MockProcess
from proxy.har import read_har
from proxy.tokens import Credential

pytestmark = pytest.mark.timeout(120)
SEGMENTS = f"/api/v2/segments/{PROJECT}/{ENV}"
SEGMENT = f"{SEGMENTS}/seg-1"
ROLE_TOKENS = {"LD_API_TOKEN": WRITER, "LD_API_TOKEN_READONLY": READER}
NO_TOKENS = dict.fromkeys(ROLE_TOKENS, "")  # cleared: the proxy knows no token's role
TESTER = [("GET", READER), ("DELETE", READER), ("GET", WRITER)]


def _with_segment(mock: MockProcess) -> MockProcess:
    httpx.post(mock.base_url + SEGMENTS, json={"key": "seg-1", "name": "Seg"},
               headers={"Authorization": WRITER}, timeout=10).raise_for_status()
    return mock


def _segment_status(mock: MockProcess) -> int:
    return httpx.get(mock.base_url + SEGMENT, headers={"Authorization": WRITER},
                     timeout=10).status_code


def _no_token_in(*paths: Path) -> None:
    for path in paths:
        text = path.read_text(encoding="utf-8")
        assert WRITER not in text and READER not in text, path.name


def _record(processes: Processes, upstream: str, proxy_env: dict[str, str],
            requests: Sequence[tuple[str, str]]) -> tuple[Path, list[int]]:
    """`requests` (method, Authorization value) to the segment through a recording proxy whose
    environment has `proxy_env`: the HAR file and the statuses answered."""
    har = processes.directory / "traffic.har"
    proxy = ProxyRun(processes, upstream, "--har", str(har), env=proxy_env).ready()
    with httpx.Client(timeout=10) as http:
        statuses = [http.request(method, proxy.url + SEGMENT,
                                 headers={"Authorization": value}).status_code
                    for method, value in requests]
    assert proxy.stop() == 0, processes.log("proxy")
    _no_token_in(har, *proxy.reports.iterdir())
    return har, statuses


def _replay(har: Path, base_url: str, *tokens: str) -> subprocess.CompletedProcess[str]:
    """``python -m proxy.replay`` with both tokens set and `tokens` as its --token mappings."""
    reports = har.parent / "replay"
    result = subprocess.run(
        [sys.executable, "-m", "proxy.replay", str(har), "--base-url", base_url,
         "--reports-dir", str(reports), *(a for t in tokens for a in ("--token", t))],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
        env={"PATH": "/usr/bin:/bin", **ROLE_TOKENS})
    _no_token_in(*reports.glob("*"))
    output = result.stdout + result.stderr
    assert WRITER not in output and READER not in output
    return result


def _credentials(har: Path) -> list[Credential | None]:
    """The credentials of the recorded requests to the segment (not the proxy's readiness
    probe)."""
    return [r.credential for r in read_har(har) if r.path_and_query == SEGMENT]


def _answered(har: Path) -> dict[str, dict[str, int]]:
    """Operation -> status -> count, of the replay's exchanges."""
    report = json.loads((har.parent / "replay" / "replay.json").read_text(encoding="utf-8"))
    assert report["violations"]["total"] == 0, report["violations"]
    answered: dict[str, dict[str, int]] = report["coverage"]["status_codes"]
    return answered


@pytest.mark.parametrize(("proxy_env", "mapping", "labels"), [
    (ROLE_TOKENS, [], ["reader", "reader", "writer"]),
    (NO_TOKENS, ["token-1=LD_API_TOKEN_READONLY", "token-2=LD_API_TOKEN"],
     ["token-1", "token-1", "token-2"]),
], ids=["role-labels", "opaque-labels-mapped"])
def test_a_delete_refused_in_the_recording_is_refused_in_the_replay(
        processes: Processes, mock_factory: Callable[..., MockProcess],
        proxy_env: dict[str, str], mapping: list[str], labels: list[str]) -> None:
    recorded = _with_segment(mock_factory("recorded"))
    har, statuses = _record(processes, recorded.base_url, proxy_env, TESTER)
    assert statuses == [200, 403, 200]
    target = _with_segment(mock_factory("target"))
    result = _replay(har, target.base_url, *mapping)
    assert _segment_status(target) == 200, "the replay deleted the segment: " + result.stdout
    assert result.returncode == 0, result.stdout + result.stderr
    assert [c.label for c in _credentials(har) if c] == labels
    assert _answered(har) == {"getSegment": {"200": 2}, "deleteSegment": {"403": 1}}
    assert "skipped" not in result.stdout


def test_opaque_labels_without_a_mapping_are_skipped_and_reported(
        processes: Processes, mock_factory: Callable[..., MockProcess]) -> None:
    recorded = _with_segment(mock_factory("recorded"))
    har, _ = _record(processes, recorded.base_url, NO_TOKENS, TESTER)
    target = _with_segment(mock_factory("target"))
    result = _replay(har, target.base_url)
    assert result.returncode == 0, result.stdout + result.stderr
    assert _segment_status(target) == 200
    assert _answered(har) == {}
    (line,) = [line for line in result.stdout.splitlines() if "skipped" in line]
    for words in ("3 requests skipped", "unmapped token-1 (2), token-2 (1)",
                  "--token token-1=LD_API_TOKEN_READONLY", "TOKENS='token-1="):
        assert words in line, line


def test_bearer_and_bare_spellings_share_a_label_and_replay_as_recorded(
        processes: Processes, mock_factory: Callable[..., MockProcess]) -> None:
    """The replay goes through a second recording proxy, whose HAR file shows the spelling and
    the role of what the replay sent."""
    recorded = _with_segment(mock_factory("recorded"))
    har, statuses = _record(processes, recorded.base_url, ROLE_TOKENS, [
        ("GET", f"Bearer {WRITER}"), ("GET", WRITER), ("GET", f"bearer {READER}")])
    assert statuses == [200, 200, 200]
    credentials = _credentials(har)
    assert credentials == [Credential("writer", "Bearer"), Credential("writer"),
                           Credential("reader", "bearer")]
    target = _with_segment(mock_factory("target"))
    second = processes.directory / "replayed.har"
    proxy = ProxyRun(processes, target.base_url, "--har", str(second), env=ROLE_TOKENS).ready()
    result = _replay(har, proxy.url)
    assert proxy.stop() == 0, processes.log("proxy")
    assert result.returncode == 0, result.stdout + result.stderr
    assert _answered(har) == {"getSegment": {"200": 3}}
    assert _credentials(second) == credentials
    _no_token_in(second)
