"""Access matrix: every operation x five callers, in a configuration with two projects.

``contract_tests/test_tier2_access.py::test_access_control`` checks no token, an unknown token,
a read-only token and unknown path parameters against whatever target the suite runs on. This
adds the two callers it cannot have there — a writer token (must succeed) and a writer token
granted only ANOTHER project (403 on reads and writes) — and runs the whole matrix in-process on
the kit's mock, with requests built generically from ``generated.operations``:

| caller | read | write |
| --- | --- | --- |
| no token | 401 | 401 |
| unknown token | 401 | 401 |
| read-only token | 200 | 403 |
| writer token | success | success |
| writer of another project | 403 | 403 |

Each case runs on a world of its own (a segment and a flag with targets and schedules); every
GET of that world (and of the key a POST would create) is compared before and after: a refused
request changes nothing, and the writer's request does change something, so the comparison is
not vacuous.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hardening_helpers import (
    ENV,
    OTHER_WRITER,
    READER,
    SEMANTIC,
    WRITER,
    config_dict,
    headers,
    instruction_of,
    path_of,
    provision_world,
    record,
    snapshot,
)

from contract_tests.checks import check_error_body
from contract_tests.transport import SyncASGITransport
from generated import _validation
from generated.operations import OPERATIONS, Operation

T0 = 1_700_000_000_000
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
CALLERS = {
    "no-token": None,
    "unknown-token": "api-unknown-0000-not-in-the-config",
    "read-only": READER,
    "writer": WRITER,
    "other-project-writer": OTHER_WRITER,
}
CASES = [(op_id, caller) for op_id in sorted(OPERATIONS) for caller in CALLERS]
_seen: Counter[int] = Counter()
_counter = itertools.count()


def expected(op: Operation, caller: str) -> tuple[int, str | None]:
    write = op.method in WRITES
    return {
        "no-token": (401, "unauthorized"),
        "unknown-token": (401, "unauthorized"),
        "read-only": (403, "forbidden") if write else (op.success_status, None),
        "writer": (op.success_status, None),
        "other-project-writer": (403, "forbidden"),
    }[caller]


def request_body(op: Operation, values: dict[str, str], new_key: str) -> tuple[str, Any]:
    """A well-formed body that changes something: an expiring-targets PATCH removes a schedule,
    a setup PATCH targets a new key, a POST creates ``new_key``."""
    media = SEMANTIC if SEMANTIC in op.request_media_types else op.request_media_types[0]
    schema = _validation._document()["components"]["schemas"][op.request_schemas[media]]
    body: dict[str, Any] = {}
    for name in schema.get("required", []):
        body[name] = {"key": new_key, "name": new_key, "environmentKey": ENV}.get(name)
    if op.instructions:
        prefix = "remove" if "expiring" in op.path else "add"
        body["instructions"] = [instruction_of(op, prefix, values, values=[new_key])
                                if prefix == "add" else instruction_of(op, prefix, values)]
    return media, body


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    from mock_server import create_mock_app
    from mock_server.clock import SettableClock
    from mock_server.config import parse_config

    config = parse_config(config_dict(rate_limit=None, two_projects=True))
    app = create_mock_app(config, clock=SettableClock(T0), validate_responses=True)
    transport = SyncASGITransport(app)
    client = httpx.Client(transport=transport, base_url="http://mock")
    try:
        yield client
    finally:
        client.close()
        transport.close()
        app.close()
        record("access_matrix", {"cases": len(CASES), "operations": len(OPERATIONS),
                                 "callers": len(CALLERS),
                                 "statuses": {str(k): v for k, v in sorted(_seen.items())}})


@pytest.mark.parametrize(("operation_id", "caller"), CASES,
                         ids=[f"{op_id}-{caller}" for op_id, caller in CASES])
def test_access(http: httpx.Client, operation_id: str, caller: str) -> None:
    op = OPERATIONS[operation_id]
    values = provision_world(http, f"-{next(_counter)}", now_ms=T0)
    new_key = f"new-{values['segmentKey']}"
    watched = {**values, "segmentKey": new_key, "featureFlagKey": new_key}  # what a POST makes
    request_headers = headers(CALLERS[caller])
    content = None
    if op.request_media_types:
        import json

        media, body = request_body(op, values, new_key)
        request_headers["Content-Type"] = media
        content = json.dumps(body).encode()
    before = snapshot(http, values), snapshot(http, watched)
    response = http.request(op.method, path_of(op, values), content=content,
                            headers=request_headers)
    after = snapshot(http, values), snapshot(http, watched)
    status, code = expected(op, caller)
    _seen[response.status_code] += 1
    assert response.status_code == status, (caller, response.text[:300])
    assert response.status_code in op.status_codes, "an undocumented status"
    if code is not None:
        check_error_body("access-control", response, code)
        assert before == after, f"a refused {op.method} changed what the GETs show"
    elif op.method in WRITES:
        assert before != after, "the writer's request changed nothing: the matrix proves nothing"
        if op.method == "PATCH" and "expiring" in op.path:
            assert response.json()["failedInstructions"] == 0, response.json()
    else:
        assert before == after
