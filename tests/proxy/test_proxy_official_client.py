"""LaunchDarkly's official Python client drives every in-scope operation through the proxy to the
kit's mock: the proxy finds nothing, sees every operation, records a HAR file without a token,
and the HAR replayed against a fresh mock finds nothing either."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import official_client as ld  # type: ignore[import-not-found]  # tests/: pytest's path
import pytest
from proxy_helpers import PROJECT, READER, ROOT, SEMANTIC, WRITER, Processes, ProxyRun, future

from generated.operations import OPERATIONS
from mock_server.process import MockProcess
from proxy.har import read_har

E = "test"
BOGUS = "not-a-token-0000-1111"
pytestmark = pytest.mark.timeout(120)


def _segments(api: Any) -> None:
    segments = ld.SegmentsApi(api)
    segments.post_segment(PROJECT, E, ld.SegmentBody(key="seg-1", name="Seg"))
    segments.patch_segment(PROJECT, E, "seg-1", ld.segment_targets())
    result = segments.patch_expiring_user_targets_for_segment(
        PROJECT, E, "seg-1", ld.segment_user_expiries(future(1)), _content_type=SEMANTIC)
    assert result.failed_instructions == 1
    segments.get_expiring_targets_for_segment(PROJECT, E, "seg-1")
    segments.patch_expiring_targets_for_segment(
        PROJECT, E, "seg-1", ld.segment_context_expiries(future(2), future(1)),
        _content_type=SEMANTIC)
    segments.get_expiring_targets_for_segment(PROJECT, E, "seg-1")
    segments.get_expiring_user_targets_for_segment(PROJECT, E, "seg-1")
    segments.patch_expiring_targets_for_segment(PROJECT, E, "seg-1",
        ld.PatchSegmentExpiringTargetInputRep(instructions=[
            ld.PatchSegmentExpiringTargetInstruction(
                kind="removeExpiringTarget", contextKind="org", contextKey="acme",
                targetType="included")]), _content_type=SEMANTIC)
    segments.get_expiring_targets_for_segment(PROJECT, E, "seg-1")
    segments.get_segment(PROJECT, E, "seg-1")
    segments.delete_segment(PROJECT, E, "seg-1")


def _flags(api: Any) -> None:
    flags, users = ld.FeatureFlagsApi(api), ld.UserSettingsApi(api)
    created = flags.post_feature_flag(PROJECT, ld.FeatureFlagBody(key="flag-1", name="Flag"))
    on, off = (v.id for v in created.variations)
    flags.patch_feature_flag(PROJECT, "flag-1", ld.flag_targets())
    flags.get_feature_flag(PROJECT, "flag-1")
    flags.patch_expiring_user_targets(
        PROJECT, E, "flag-1", ld.flag_user_expiries(on, off, future(1)), _content_type=SEMANTIC)
    flags.patch_expiring_targets(
        PROJECT, E, "flag-1", ld.flag_context_expiry(off, future(1)), _content_type=SEMANTIC)
    flags.get_expiring_context_targets(PROJECT, E, "flag-1")
    flags.get_expiring_user_targets(PROJECT, E, "flag-1")
    users.patch_expiring_flags_for_user(
        PROJECT, "alice", E, ld.user_flag_expiry("flag-1", on, future(3)), _content_type=SEMANTIC)
    users.get_expiring_flags_for_user(PROJECT, "alice", E)
    flags.get_expiring_context_targets(PROJECT, E, "flag-1")
    flags.delete_feature_flag(PROJECT, "flag-1")


def _errors(base_url: str) -> None:
    """Refusals: a read-only write, an unknown token, plain JSON on a semantic patch, 404."""
    with ld.api_client(base_url, READER) as reader, pytest.raises(ld.ApiException) as caught:
        ld.SegmentsApi(reader).post_segment(PROJECT, E, ld.SegmentBody(key="x", name="x"))
    assert caught.value.status == 403
    with ld.api_client(base_url, BOGUS) as stranger, pytest.raises(ld.ApiException) as caught:
        ld.SegmentsApi(stranger).get_segment(PROJECT, E, "x")
    assert caught.value.status == 401
    with ld.api_client(base_url, WRITER) as writer:
        ld.SegmentsApi(writer).post_segment(PROJECT, E, ld.SegmentBody(key="seg-2", name="x"))
        with pytest.raises(ld.ApiException) as caught:
            ld.SegmentsApi(writer).patch_expiring_targets_for_segment(
                PROJECT, E, "seg-2", ld.PatchSegmentExpiringTargetInputRep(instructions=[]))
        assert caught.value.status == 400
        with pytest.raises(ld.ApiException) as caught:
            ld.SegmentsApi(writer).get_expiring_targets_for_segment(PROJECT, E, "no-such-segment")
        assert caught.value.status == 404
        ld.SegmentsApi(writer).delete_segment(PROJECT, E, "seg-2")


@pytest.mark.filterwarnings("ignore:.*is deprecated:DeprecationWarning")
def test_official_client_through_the_proxy_shows_no_violation(
        processes: Processes, mock_factory: Callable[..., MockProcess], tmp_path: Path) -> None:
    mock = mock_factory("recorded")
    har = tmp_path / "traffic.har"
    tokens = {"LD_API_TOKEN": WRITER, "LD_API_TOKEN_READONLY": READER}
    proxy = ProxyRun(processes, mock.base_url, "--har", str(har), env=tokens).ready()
    with ld.api_client(proxy.url, WRITER) as api:
        _segments(api)
        _flags(api)
    _errors(proxy.url)
    assert proxy.stop() == 0, processes.log("proxy")
    report = proxy.report()
    assert report["violations"]["total"] == 0, json.dumps(report["violations"], indent=1)
    assert report["infrastructure"]["total"] == 0
    exercised = {op for op, count in report["coverage"]["operations"].items() if count}
    assert exercised == set(OPERATIONS)

    written = [har, *proxy.reports.iterdir()]
    for path in written:
        text = path.read_text(encoding="utf-8")
        for token in (WRITER, READER, BOGUS):
            assert token not in text, f"{token[:10]}… in {path.name}"
    labels = {r.credential.label for r in read_har(har) if r.credential is not None}
    assert labels == {"writer", "reader", "token-1"}  # token-1: the unknown token

    fresh = mock_factory("replayed")
    replay = subprocess.run(
        [sys.executable, "-m", "proxy.replay", str(har), "--base-url", fresh.base_url,
         "--reports-dir", str(tmp_path / "replay")], cwd=ROOT, capture_output=True, text=True,
        timeout=60, check=False, env={"PATH": "/usr/bin:/bin", **tokens})
    assert replay.returncode == 0, replay.stdout + replay.stderr
    replayed = json.loads((tmp_path / "replay" / "replay.json").read_text(encoding="utf-8"))
    assert replayed["violations"]["total"] == 0, json.dumps(replayed["violations"], indent=1)
    assert replayed["exchanges"] == report["exchanges"] - 1  # the unknown token: not replayed
    assert "1 requests skipped" in replay.stdout and "unmapped token-1 (1)" in replay.stdout
    for path in (tmp_path / "replay").iterdir():
        assert WRITER not in path.read_text(encoding="utf-8")
