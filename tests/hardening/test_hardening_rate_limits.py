"""Rate limits: per token, fixed 10-second windows of the settable clock, in-process.

Already covered elsewhere: ``tests/mock_server/test_mock_http.py`` (one token over its limit:
429, ``Retry-After``, the reset with the clock, a second token unaffected) and
``contract_tests/test_tier2_access.py::test_rate_limit`` (the generated client retries a GET
after ``Retry-After``). Added here:

- a model-based check (Hypothesis): random interleavings of five callers (writer, reader,
  writer of another project, unknown token, no token), reads, writes, the admin clock route
  and clock moves, against a reference model of the fixed windows: exact status,
  ``X-Ratelimit-Global-Remaining``, ``X-Ratelimit-Reset``, ``Retry-After`` (whole seconds)
  on every answer; 403s count, 401s and the admin route do not; no budget leaks between tokens;
- the generated ``Client`` and ``AsyncClient`` on a WRITE: they wait ``Retry-After`` (the
  injected ``_sleep`` moves the mock's clock), then succeed, and the write is applied exactly
  once (the refused attempt changed nothing);
- a client whose ``max_retry_wait`` is shorter than ``Retry-After`` returns the 429 at once.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hardening_helpers import (
    DAY_MS,
    ENV,
    OTHER_WRITER,
    PROJECT,
    READER,
    SEMANTIC,
    WRITER,
    config_dict,
    provision_world,
    record,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contract_tests.transport import SyncASGITransport
from generated.client import AsyncClient, Client

LIMIT = 5
WINDOW_MS = 10_000
T0 = 1_700_000_000_000  # a multiple of the window
SETUP = "api-setup-writer"  # used only on the unlimited app
UNKNOWN = "api-unknown-token"
CALLERS = {"writer": WRITER, "reader": READER, "other": OTHER_WRITER, "unknown": UNKNOWN,
           "none": None}
_stats = {"requests": 0, "429": 0, "examples": 0}


def _config() -> Any:
    from mock_server.config import parse_config

    raw = config_dict(rate_limit=LIMIT, admin=True, two_projects=True)
    raw["tokens"][SETUP] = {"role": "writer", "projects": ["*"]}
    return parse_config(raw)


@pytest.fixture(scope="module")
def limited() -> Iterator[dict[str, Any]]:
    """The limited app, and an unlimited one on the same store and clock for setup and GETs."""
    from mock_server import create_mock_app
    from mock_server.clock import SettableClock
    from mock_server.storage.sqlite import SqliteStore

    config, clock, store = _config(), SettableClock(T0), SqliteStore(":memory:")
    app = create_mock_app(config, store=store, clock=clock, validate_responses=True)
    setup_app = create_mock_app(config.with_overrides(rate_limit=None), store=store, clock=clock)
    transport, setup_transport = SyncASGITransport(app), SyncASGITransport(setup_app)
    http = httpx.Client(transport=transport, base_url="http://mock")
    setup = httpx.Client(transport=setup_transport, base_url="http://mock")
    try:
        world = provision_world(setup, "", token=SETUP, now_ms=T0)
        yield {"app": app, "http": http, "setup": setup, "transport": transport, "world": world}
    finally:
        http.close()
        setup.close()
        transport.close()
        setup_transport.close()
        store.close()


class _Borrowed(httpx.BaseTransport):
    """A transport a client may close without closing the shared one underneath."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self.inner.handle_request(request)


def _headers(token: str | None, content_type: str | None = None) -> dict[str, str]:
    out = {} if token is None else {"Authorization": token}
    if content_type:
        out["Content-Type"] = content_type
    return out


_step = st.tuples(  # weighted so that budgets run out within a window
    st.sampled_from(["writer"] * 4 + ["reader"] * 2 + ["other"] * 2 + ["unknown", "none"]),
    st.sampled_from(["read", "read", "write", "admin"]),
    st.sampled_from([0] * 10 + [1, 400, 2_500, 9_999, 10_000, 12_345]))
_windows = itertools.count(1)


@settings(max_examples=60, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(steps=st.lists(_step, min_size=10, max_size=60))
def test_windows_match_a_reference_model(limited, steps) -> None:
    app, http, world = limited["app"], limited["http"], limited["world"]
    now = T0 + next(_windows) * 3_600_000 + 1_234  # a fresh hour: every budget is full
    app.clock.set(now)
    model: dict[str, tuple[int, int]] = {}  # token -> (window start, count)
    segment = f"/api/v2/segments/{PROJECT}/{ENV}/{world['segmentKey']}"
    toggle = itertools.cycle(["addIncludedUsers", "removeIncludedUsers"])
    _stats["examples"] += 1
    for caller, action, advance in steps:
        now += advance
        app.clock.set(now)
        token = CALLERS[caller]
        if action == "admin":
            response = http.get("/_admin/clock", headers=_headers(token))
        elif action == "read":
            response = http.get(segment, headers=_headers(token))
        else:
            response = http.patch(segment, headers=_headers(token, SEMANTIC), content=json.dumps(
                {"instructions": [{"kind": next(toggle), "values": ["toggled"]}]}).encode())
        _stats["requests"] += 1
        _stats["429"] += response.status_code == 429
        where = f"{caller} {action} at +{now % WINDOW_MS} ms: {response.status_code}"
        if token is None or token == UNKNOWN:
            assert response.status_code == 401, where
            assert "x-ratelimit-reset" not in response.headers, where
            continue
        if action == "admin":  # behind the token check, not rate limited
            assert response.status_code == 200, where
            assert "x-ratelimit-reset" not in response.headers, where
            continue
        start = now - now % WINDOW_MS
        window, count = model.get(token, (start, 0))
        if window != start:
            count = 0
        reset = start + WINDOW_MS
        assert response.headers["x-ratelimit-reset"] == str(reset), where
        if count >= LIMIT:
            assert response.status_code == 429, where
            assert response.json()["code"] == "rate_limited"
            assert response.headers["retry-after"] == str(max(1, math.ceil((reset - now) / 1000)))
            assert response.headers["x-ratelimit-global-remaining"] == "0", where
            model[token] = (start, count)
            continue
        model[token] = (start, count + 1)
        assert response.headers["x-ratelimit-global-remaining"] == str(LIMIT - count - 1), where
        expected = {("writer", "read"): 200, ("writer", "write"): 200, ("reader", "read"): 200,
                    ("reader", "write"): 403, ("other", "read"): 403, ("other", "write"): 403}
        assert response.status_code == expected[caller, action], (where, response.text)


def _exhaust(limited: dict[str, Any], token: str) -> httpx.Response:
    http, world = limited["http"], limited["world"]
    path = f"/api/v2/segments/{PROJECT}/{ENV}/{world['segmentKey']}"
    for _ in range(LIMIT):
        assert http.get(path, headers=_headers(token)).status_code == 200
    refused = http.get(path, headers=_headers(token))
    assert refused.status_code == 429
    return refused


def _schedule_version(limited: dict[str, Any]) -> int:
    world = limited["world"]
    response = limited["setup"].get(
        f"/api/v2/segments/{PROJECT}/{world['segmentKey']}/expiring-targets/{ENV}",
        headers=_headers(SETUP))
    assert response.status_code == 200, response.text
    return next(i["_version"] for i in response.json()["items"]
                if i["contextKey"] == world["userKey"] and i["contextKind"] == "user")


def _update(world: dict[str, str], value: int) -> dict[str, Any]:
    return {"project_key": PROJECT, "environment_key": ENV, "segment_key": world["segmentKey"],
            "body": {"instructions": [{
                "kind": "updateExpiringTarget", "contextKind": "user",
                "contextKey": world["userKey"], "targetType": "included", "value": value}]}}


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_generated_client_waits_retry_after_then_writes_once(limited, flavour) -> None:
    app, world = limited["app"], limited["world"]
    app.clock.set(T0 + next(_windows) * 3_600_000 + 2_500)  # 7.5 s before the window ends
    refused = _exhaust(limited, WRITER)
    retry_after = int(refused.headers["retry-after"])
    version = _schedule_version(limited)
    waits: list[float] = []
    value = app.clock.now_ms() + 40 * DAY_MS

    def advance(seconds: float) -> None:  # the mock's clock moves instead of real time
        waits.append(seconds)
        app.clock.advance(math.ceil(seconds * 1000))

    if flavour == "sync":
        with Client("http://mock", WRITER, transport=_Borrowed(limited["transport"]), max_retries=2,
                    max_retry_wait=60.0) as client:
            client._sleep = advance
            response = client.patch_expiring_targets_for_segment(**_update(world, value))
    else:
        async def run() -> Any:
            async def sleep(seconds: float) -> None:
                advance(seconds)

            transport = httpx.ASGITransport(app=app)
            async with AsyncClient("http://mock", WRITER, transport=transport, max_retries=2,
                                   max_retry_wait=60.0) as client:
                client._sleep = sleep
                return await client.patch_expiring_targets_for_segment(**_update(world, value))
        response = asyncio.run(run())
    assert response.status_code == 200, response.content
    assert response.parsed is not None and response.parsed.failedInstructions == 0
    assert len(waits) == 1 and waits[0] >= retry_after, (waits, retry_after)
    assert _schedule_version(limited) == version + 1, "the write was not applied exactly once"
    record(f"rate_limit_client_{flavour}", {"limit_per_10s": LIMIT, "retry_after_s": retry_after,
                                            "client_waited_s": round(waits[0], 2),
                                            "attempts": 2, "applied": 1})


def test_client_gives_up_when_retry_after_exceeds_its_budget(limited) -> None:
    app = limited["app"]
    app.clock.set(T0 + next(_windows) * 3_600_000 + 500)  # 9.5 s to wait
    _exhaust(limited, READER)
    waits: list[float] = []
    with Client("http://mock", READER, transport=_Borrowed(limited["transport"]), max_retries=3,
                max_retry_wait=5.0) as client:
        client._sleep = waits.append
        response = client.get_segment(project_key=PROJECT, environment_key=ENV,
                                      segment_key=limited["world"]["segmentKey"])
    assert response.status_code == 429 and waits == []
    assert response.headers["retry-after"] == "10"


def test_record_model_figures(limited) -> None:
    record("rate_limit_model", {"limit_per_10s": LIMIT, **_stats})
    if _stats["examples"]:  # the model run above reached the limit, not just the happy path
        assert _stats["429"] > 0, _stats
