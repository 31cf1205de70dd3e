"""A run model with something of everything, for the report tests: a tier-1 test split into
operation checks (one failed), passing, failing, infra, skipped and not-run tests, a contract
failure with a recorded request and repro, an infrastructure failure, and a stop reason."""

from __future__ import annotations

import json

from contract_tests.recorder import Exchange
from contract_tests.report.model import ALL_OPERATIONS, FailureRecord, Repro, Result, RunData
from generated.operations import OPERATIONS

__all__ = ["RUN_ID", "exchange", "sample_run"]

RUN_ID = "ct-1700000000-abcdef"
SEGMENTS = "/api/v2/segments/default/test"
PATCH = "patchExpiringTargetsForSegment"
SEGMENT = f"{RUN_ID}-1-segment"


def exchange(method: str, path: str, body: object = None, status: int = 200,
             answer: object = None, credential: str | None = "writer",
             content_type: str = "application/json") -> Exchange:
    raw = json.dumps(body).encode() if body is not None else b""
    return Exchange(method, f"http://mock.local{path}",
                    (("content-type", content_type),) if raw else (), raw, status,
                    json.dumps(answer if answer is not None else {}), credential)  # type: ignore[arg-type]


def sample_run(complete: bool = False) -> RunData:
    """Stopped by a request budget, unless `complete` (then it simply failed)."""
    get_op, patch_op = "getSegment", PATCH
    failing = exchange("PATCH", f"/api/v2/segments/default/{SEGMENT}/expiring-targets/test",
                       {"instructions": [{"kind": "addExpiringTarget", "contextKey": "<&>"}]},
                       answer={"totalInstructions": 2, "errors": []},
                       content_type="application/json; domain-model=launchdarkly.semanticpatch")
    repro = Repro(
        provision=(exchange("POST", SEGMENTS, {"key": SEGMENT, "name": SEGMENT}, 201),),
        prepare=(), failing=failing,
        after=(exchange("GET", f"/api/v2/segments/default/{SEGMENT}/expiring-targets/test"),),
        run_id=RUN_ID)
    tests = {
        "t.py::test_schema": Result(ALL_OPERATIONS, "tier1", "passed", True),
        "t.py::test_counts[a]": Result(patch_op, "tier2", "failed", True),
        "t.py::test_counts[b]": Result(patch_op, "tier2", "passed", True),
        "t.py::test_lost": Result(get_op, "tier2", "infra", True),
        "t.py::test_stateful": Result(ALL_OPERATIONS, "stateful",
                                      "passed" if complete else "not run", True),
        "t.py::test_policy[a]": Result(patch_op, "tier3", "skipped", True),
        "t.py::test_policy[b]": Result(patch_op, "tier3", "skipped" if complete else "not run",
                                       complete),
    }
    checks = {f"t.py::test_schema[{op}]": Result(op, "tier1", "passed", True,
                                                 parent="t.py::test_schema")
              for op in list(OPERATIONS)[:3]}
    checks["t.py::test_schema[GET /x]"] = Result(get_op, "tier1", "failed", True,
                                                 parent="t.py::test_schema")
    return RunData(
        target="http://127.0.0.1:9", seed=7, examples_per_test=5, in_process=False,
        rerun="make contract BASE_URL=http://127.0.0.1:9 SEED=7 EXAMPLES=5",
        duration_s=1.5, requests=40, examples_run=12, tests=tests, checks=checks,
        statuses={(get_op, 200): 3, (patch_op, 200): 4},
        failures=[
            FailureRecord("t.py::test_counts[a]", patch_op, "tier2", "tier2",
                          "instruction-counts", "totalInstructions 2, but 1 were sent",
                          (failing.as_curl(),), repro=repro),
            FailureRecord("t.py::test_schema[GET /x]", get_op, "tier1", "tier1",
                          "response_schema_conformance", "Response violates schema <b>", ()),
            FailureRecord("t.py::test_lost", get_op, "tier2", "tier2", "infrastructure",
                          "InfrastructureError: connection reset", (), infrastructure=True),
        ],
        stopped=None if complete else "request budget of 30 spent",
    )
