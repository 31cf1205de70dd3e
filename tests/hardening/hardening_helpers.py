"""Helpers of the hardening tests (tests/hardening).

The mock server as a real process on 127.0.0.1 (own session, killed as a group when the test
ends, also on failure), configurations written to a temp directory, RSS of a process, a world
of resources built from the operation metadata, and ``record()``, which prints measured
figures and merges them into ``reports/reliability.json`` (``bench/results/reliability.json`` when run by bench/reliability.py) (the README's "Reliability"
table; ``bench/reliability.py --table`` renders it).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

from mock_server.process import HOST as MOCK_HOST

ROOT = Path(__file__).resolve().parents[2]
# Measured figures: reports/ (ignored) by default, so `make test` leaves a clone clean;
# bench/reliability.py points RELIABILITY_RESULTS at the tracked bench/results/reliability.json.
RESULTS = Path(os.environ.get("RELIABILITY_RESULTS") or ROOT / "reports" / "reliability.json")
HOST = MOCK_HOST  # the only address any test here talks to

WRITER = "api-writer-00000000-0000-0000-0000-000000000000"
READER = "api-reader-00000000-0000-0000-0000-000000000000"
OTHER_WRITER = "api-writer-other-project-only"
SEMANTIC = "application/json; domain-model=launchdarkly.semanticpatch"
PROJECT, ENV = "default", "test"
DAY_MS = 86_400_000


# -- configurations ---------------------------------------------------------------------------


def config_dict(*, rate_limit: int | None = None, admin: bool = False,
                two_projects: bool = False) -> dict[str, Any]:
    projects: dict[str, Any] = {
        PROJECT: {"environments": {"test": {"name": "Test"}, "production": {"name": "Production"}}},
    }
    tokens: dict[str, Any] = {
        WRITER: {"role": "writer", "projects": [PROJECT] if two_projects else ["*"]},
        READER: {"role": "reader", "projects": [PROJECT] if two_projects else ["*"]},
    }
    if two_projects:
        projects["other"] = {"environments": ["test"]}
        tokens[OTHER_WRITER] = {"role": "writer", "projects": ["other"]}
    return {"projects": projects, "tokens": tokens,
            "rate_limit": {"requests_per_10s": rate_limit}, "admin": admin}


def write_config(directory: Path, **options: Any) -> Path:
    path = directory / "config.yaml"
    path.write_text(yaml.safe_dump(config_dict(**options)), encoding="utf-8")
    return path


# -- the server as a real process -------------------------------------------------------------


def rss_kib(pid: int) -> int:
    """VmRSS of a process, in KiB (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


# -- HTTP helpers -----------------------------------------------------------------------------


def headers(token: str | None = WRITER, content_type: Any = None) -> dict[str, Any]:
    out = {}
    if token is not None:
        out["Authorization"] = token
    if content_type is not None:
        out["Content-Type"] = content_type
    return out


def provision_segment(http: httpx.Client, key: str, contexts: list[str],
                      kind: str = "user") -> None:
    """A segment in default/test whose ``contexts`` are included individually."""
    response = http.post(f"/api/v2/segments/{PROJECT}/{ENV}", json={"key": key, "name": key},
                         headers=headers())
    assert response.status_code == 201, response.text
    response = http.patch(
        f"/api/v2/segments/{PROJECT}/{ENV}/{key}", headers=headers(content_type=SEMANTIC),
        content=json.dumps({"instructions": [
            {"kind": "addIncludedTargets", "contextKind": kind, "values": contexts}]}))
    assert response.status_code == 200, response.text


def schedule_path(segment: str) -> str:
    return f"/api/v2/segments/{PROJECT}/{segment}/expiring-targets/{ENV}"


def schedule_all(http: httpx.Client, segment: str, contexts: list[str], value: int,
                 kind: str = "user") -> dict[str, Any]:
    response = http.patch(schedule_path(segment), headers=headers(content_type=SEMANTIC),
                          content=json.dumps({"instructions": [
                              {"kind": "addExpiringTarget", "contextKind": kind, "contextKey": c,
                               "targetType": "included", "value": value} for c in contexts]}))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["failedInstructions"] == 0, body
    return body


# -- results ----------------------------------------------------------------------------------

_results_lock = threading.Lock()


def record(section: str, figures: dict[str, Any]) -> None:
    """Print the figures and merge them into ``reports/reliability.json`` (``bench/results/reliability.json`` when run by bench/reliability.py)."""
    print(f"\n[reliability] {section}: {json.dumps(figures, sort_keys=True)}")
    with _results_lock:
        try:
            data = json.loads(RESULTS.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            data = {}
        data.setdefault("machine", {}).update({
            "cpus": os.cpu_count(), "python": platform.python_version(),
            "platform": platform.platform()})
        data[section] = {**figures,
                         "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")


# -- a world to attack: a segment and a flag with targets and schedules, from the metadata ----


def path_of(op: Any, values: dict[str, str]) -> str:
    from urllib.parse import quote

    path = op.path
    for param in op.parameters:
        if param.location == "path":
            path = path.replace("{" + param.name + "}", quote(values[param.name], safe=""))
    return str(path)


def expiring_patches() -> list[Any]:
    """The five expiring-targets PATCH operations."""
    from generated.operations import OPERATIONS

    return [op for op in OPERATIONS.values()
            if op.method == "PATCH" and "expiring" in op.path]


def state_gets() -> list[Any]:
    """The GETs that show everything a world's resources hold."""
    from generated.operations import OPERATIONS

    return [op for op in OPERATIONS.values() if op.method == "GET"]


def provision_world(http: httpx.Client, suffix: str, token: str = WRITER,
                    now_ms: int | None = None) -> dict[str, str]:
    """Segment ``seg{suffix}`` and flag ``flag{suffix}`` in default/test: user ``u{suffix}`` and
    device ``d{suffix}`` targeted individually and scheduled (so every instruction kind has
    something to act on). Returns the path values, plus the flag's variation ids."""
    seg, flag, user, device = f"seg{suffix}", f"flag{suffix}", f"u{suffix}", f"d{suffix}"
    value = (now_ms if now_ms is not None else int(time.time() * 1000)) + 30 * DAY_MS
    auth = headers(token)
    semantic = headers(token, SEMANTIC)

    def ok(response: httpx.Response, status: int = 200) -> dict[str, Any]:
        assert response.status_code == status, response.text
        return response.json() if response.content else {}

    ok(http.post(f"/api/v2/segments/{PROJECT}/{ENV}", json={"key": seg, "name": seg},
                 headers=auth), 201)
    ok(http.patch(f"/api/v2/segments/{PROJECT}/{ENV}/{seg}", headers=semantic, json={
        "instructions": [{"kind": "addIncludedTargets", "contextKind": "user", "values": [user]},
                         {"kind": "addIncludedTargets", "contextKind": "device",
                          "values": [device]}]}))
    created = ok(http.post(f"/api/v2/flags/{PROJECT}", json={"key": flag, "name": flag},
                           headers=auth), 201)
    variations = [v["_id"] for v in created["variations"]]
    ok(http.patch(f"/api/v2/flags/{PROJECT}/{flag}", headers=semantic, json={
        "environmentKey": ENV, "instructions": [
            {"kind": "addTargets", "variationId": variations[0], "contextKind": "user",
             "values": [user]},
            {"kind": "addTargets", "variationId": variations[0], "contextKind": "device",
             "values": [device]}]}))
    for path, extra in (
        (f"/api/v2/segments/{PROJECT}/{seg}/expiring-targets/{ENV}", {"targetType": "included"}),
        (f"/api/v2/flags/{PROJECT}/{flag}/expiring-targets/{ENV}", {"variationId": variations[0]}),
    ):
        body = ok(http.patch(path, headers=semantic, json={"instructions": [
            {"kind": "addExpiringTarget", "contextKind": kind, "contextKey": key,
             "value": value, **extra} for kind, key in (("user", user), ("device", device))]}))
        assert body["failedInstructions"] == 0, body
    return {"projectKey": PROJECT, "environmentKey": ENV, "segmentKey": seg,
            "featureFlagKey": flag, "userKey": user, "variation0": variations[0],
            "variation1": variations[1], "value": str(value)}


def snapshot(http: httpx.Client, values: dict[str, str],
             token: str = WRITER) -> list[tuple[str, int, Any]]:
    """What every GET shows of a world (status and body)."""
    seen = []
    for op in state_gets():
        response = http.get(path_of(op, values), headers=headers(token))
        seen.append((op.operation_id, response.status_code,
                     response.json() if response.content else None))
    return seen


def fill(values: dict[str, str], field_name: str) -> Any:
    """A sensible value of an instruction field, on a world's resources."""
    return {
        "targetType": "included", "userKey": values["userKey"], "contextKey": values["userKey"],
        "contextKind": "user", "variationId": values["variation0"],
        "flagKey": values["featureFlagKey"], "value": int(values["value"]) + DAY_MS,
        "values": [values["userKey"]], "environmentKey": ENV,
    }.get(field_name, "x")


def instruction_of(op: Any, prefix: str, world: dict[str, str],
                   **changes: Any) -> dict[str, Any]:
    """An instruction of ``op`` whose kind starts with ``prefix`` (add, update, remove), with
    every required field filled in for the world (``version`` 1 where required)."""
    kind = next(k for name, k in op.instructions.items() if name.startswith(prefix))
    body = {"kind": kind.name,
            **{f: (1 if f == "version" else fill(world, f)) for f in kind.required}}
    body.update(changes)
    return body
