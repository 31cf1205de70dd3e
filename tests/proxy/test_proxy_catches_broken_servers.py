"""The proof-of-power servers (tests/contract_power/broken.py) behind the proxy: a short, fixed
sequence of requests that a client of the API might send is enough for the proxy to name the
rule each one breaks, from one exchange or from a sequence; the correct mock gets none."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from proxy_helpers import (
    ENV,
    PROJECT,
    SEMANTIC,
    WRITER,
    Processes,
    ProxyRun,
    future,
    serve_app,
    wait_http,
)

pytestmark = pytest.mark.timeout(90)

SEGMENTS = f"/api/v2/segments/{PROJECT}"
CONTEXTS = f"{SEGMENTS}/s1/expiring-targets/{ENV}"
USERS = f"{SEGMENTS}/s1/expiring-user-targets/{ENV}"


def _instruction(kind: str, key: str, **more: object) -> dict[str, object]:
    return {"kind": kind, "contextKind": "user", "contextKey": key, "targetType": "included",
            **more}


def drive(base_url: str) -> None:
    """Create a segment with targets, schedule, read, update, read both views, try a stale
    version, and send a semantic patch as plain JSON."""
    with httpx.Client(base_url=base_url, headers={"Authorization": WRITER}, timeout=10) as http:
        def semantic(*instructions: dict[str, object], content_type: str = SEMANTIC) -> None:
            http.patch(CONTEXTS, content=json.dumps({"instructions": list(instructions)}),
                       headers={"Content-Type": content_type})

        http.post(f"{SEGMENTS}/{ENV}", json={"key": "s1", "name": "s1"})
        http.patch(f"{SEGMENTS}/{ENV}/s1", json=[
            {"op": "add", "path": "/included", "value": ["alice", "bob"]}])
        http.get(f"{SEGMENTS}/{ENV}/s1")
        semantic(_instruction("addExpiringTarget", "alice", value=future(1)),
                 _instruction("addExpiringTarget", "carol", value=future(1)))
        http.get(CONTEXTS)
        semantic(_instruction("updateExpiringTarget", "alice", value=future(2), version=1))
        http.get(CONTEXTS)
        http.get(USERS)
        semantic(_instruction("updateExpiringTarget", "alice", value=future(3), version=99))
        http.get(CONTEXTS)
        semantic(_instruction("addExpiringTarget", "bob", value=future(1)),
                 content_type="application/json")
        http.get(CONTEXTS)


CASES = {
    "contract_tests.targets:mock_app": None,  # the correct mock
    "tests.contract_power.broken:wrong_counts": "instruction-counts",
    "tests.contract_power.broken:wrong_indices": "error-indices",
    "tests.contract_power.broken:dropped_errors": "instruction-counts",
    "tests.contract_power.broken:missing_required_field": "response_schema_conformance",
    "tests.contract_power.broken:plain_json_accepted": "semantic-content-type",
    "tests.contract_power.broken:versions_never_move": "update-increments-version",
    "tests.contract_power.broken:users_diverge_from_contexts": "users-are-contexts",
    "tests.contract_power.broken:no_precondition": "individual-target-required",
    "tests.contract_power.broken:ignored_versions": "version-mismatch-fails",
}


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, tuple[str, ProxyRun]]]:
    """Every server and a proxy in front of each, started all at once (each takes a second or
    two to import; one after the other they would take most of a minute)."""
    runs: dict[str, tuple[str, ProxyRun]] = {}
    started: list[Processes] = []
    try:
        servers = {}
        for factory in CASES:
            started.append(Processes(Path(tmp_path_factory.mktemp("broken"))))
            servers[factory] = serve_app(started[-1], factory)
        for (factory, (upstream, server)), processes in zip(servers.items(), started,
                                                             strict=True):
            wait_http(upstream, server)
            runs[factory] = (upstream, ProxyRun(processes, upstream))
        for _, proxy in runs.values():
            proxy.ready()
        yield runs
    finally:
        for processes in started:
            processes.stop_all()


@pytest.mark.parametrize("factory", list(CASES), ids=[f.rsplit(":")[-1] for f in CASES])
def test_the_proxy_names_the_broken_rule(fleet: dict[str, tuple[str, ProxyRun]],
                                         factory: str) -> None:
    upstream, proxy = fleet[factory]
    drive(proxy.url)
    status = proxy.stop()
    report = proxy.report()
    found = report["violations"]["by_rule"]
    expected = CASES[factory]
    if expected is None:
        assert found == {} and status == 0, json.dumps(report["violations"], indent=1)
        return
    assert expected in found, f"{factory}: found {found}"
    assert status == 1
    listed = report["violations"]["listed"]
    shown = next(v for v in listed if v["rule"] == expected)
    assert shown["exchange"]["url"].startswith(upstream) and shown["exchange"]["status"]
