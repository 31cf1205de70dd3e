"""The generated client: requests it builds, 429 retries, parsed responses, token hygiene."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from types import ModuleType
from typing import Any

import httpx
import pytest

TOKEN = "api-0123-very-secret"
SEMANTIC = "application/json; domain-model=launchdarkly.semanticpatch"
SEGMENT = {"key": "s", "name": "S", "_version": 1, "creationDate": 5}


def _client(fixture_package: ModuleType, handler: Callable[[httpx.Request], httpx.Response],
            **kwargs: Any) -> tuple[Any, list[float], list[httpx.Request]]:
    from fxpkg.client import Client

    requests: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return handler(request)

    client = Client("https://ld.example/base", TOKEN, transport=httpx.MockTransport(record),
                    **kwargs)
    sleeps: list[float] = []
    client._sleep = sleeps.append
    return client, sleeps, requests


def test_request_shape(fixture_package: ModuleType) -> None:
    client, _, requests = _client(fixture_package, lambda r: httpx.Response(200, json=SEGMENT))
    response = client.patch_segment(project_key="p/1", segment_key="s", dry_run=False,
                                    body={"instructions": []})
    sent = requests[0]
    assert sent.method == "PATCH"
    assert sent.url.raw_path == b"/base/api/v2/segments/p%2F1/s?dryRun=false"
    assert sent.headers["content-type"] == SEMANTIC  # the semantic patch is the default
    assert sent.headers["authorization"] == TOKEN
    assert json.loads(sent.content) == {"instructions": []}
    assert response.ok and response.parsed.key == "s" and response.value is response.parsed

    client.evaluate_segments(project_key="p", from_=3, kind=["a", "b"], ld_api_version="beta")
    assert requests[1].url.query == b"from=3&kind=a&kind=b"
    assert requests[1].headers["ld-api-version"] == "beta"


def test_models_are_sent_by_alias_without_nulls(fixture_package: ModuleType) -> None:
    from fxpkg import models

    client, _, requests = _client(fixture_package, lambda r: httpx.Response(201, json=SEGMENT))
    response = client.post_segment(project_key="p", body=models.SegmentBody(key="k", name="n"))
    assert json.loads(requests[0].content) == {"key": "k", "name": "n"}
    assert requests[0].headers["content-type"] == "application/json"
    assert response.status_code == 201 and type(response.parsed).__name__ == "Segment"


def test_parsed_is_the_documented_model_of_the_status(fixture_package: ModuleType) -> None:
    error = {"code": "invalid_request", "message": "no"}
    client, _, _ = _client(fixture_package, lambda r: httpx.Response(400, json=error))
    response = client.patch_segment(project_key="p", segment_key="s", body={"instructions": []})
    assert type(response.parsed).__name__ == "Error" and not response.ok
    assert response.json() == error
    client, _, _ = _client(fixture_package, lambda r: httpx.Response(418, json=error))
    assert client.get_segment(project_key="p", segment_key="s").parsed is None


def test_retries_429_after_retry_after(fixture_package: ModuleType) -> None:
    answers = iter([httpx.Response(429, headers={"Retry-After": "2"}),
                    httpx.Response(429, headers={"Retry-After": "1"}),
                    httpx.Response(200, json=SEGMENT)])
    client, sleeps, requests = _client(fixture_package, lambda r: next(answers))
    response = client.get_segment(project_key="p", segment_key="s")
    assert response.status_code == 200 and len(requests) == 3
    assert 2 <= sleeps[0] <= 2.25 and 1 <= sleeps[1] <= 1.25


def test_falls_back_to_ratelimit_reset(fixture_package: ModuleType) -> None:
    reset = str(int((time.time() + 5) * 1000))
    answers = iter([httpx.Response(429, headers={"X-Ratelimit-Reset": reset}),
                    httpx.Response(200, json=SEGMENT)])
    client, sleeps, _ = _client(fixture_package, lambda r: next(answers))
    assert client.get_segment(project_key="p", segment_key="s").status_code == 200
    assert 3.5 <= sleeps[0] <= 5.25


def test_gives_up_after_max_retries(fixture_package: ModuleType) -> None:
    client, sleeps, requests = _client(
        fixture_package, lambda r: httpx.Response(429, headers={"Retry-After": "0"}),
        max_retries=2)
    assert client.get_segment(project_key="p", segment_key="s").status_code == 429
    assert len(requests) == 3 and len(sleeps) == 2


def test_never_waits_longer_than_max_retry_wait(fixture_package: ModuleType) -> None:
    client, sleeps, requests = _client(
        fixture_package, lambda r: httpx.Response(429, headers={"Retry-After": "4"}),
        max_retries=10, max_retry_wait=10.0)
    assert client.get_segment(project_key="p", segment_key="s").status_code == 429
    assert len(sleeps) == 2 and sum(sleeps) <= 10.0 and len(requests) == 3


def test_token_never_shown(fixture_package: ModuleType) -> None:
    from fxpkg.client import UnexpectedStatus

    echo = {"code": "unauthorized", "message": f"token {TOKEN} is unknown"}
    client, _, requests = _client(fixture_package, lambda r: httpx.Response(401, json=echo))
    response = client.get_segment(project_key="p", segment_key="s")
    with pytest.raises(UnexpectedStatus) as raised:
        _ = response.value
    shown = [repr(client), str(client), repr(response), str(raised.value), repr(raised.value),
             repr(requests[0]), repr(requests[0].headers), repr(vars(client))]
    assert all(TOKEN not in text for text in shown)
    assert "***" in str(raised.value)


def test_async_client_against_the_app(fixture_package: ModuleType) -> None:
    from fxpkg.app import create_app
    from fxpkg.client import AsyncClient

    class Backend:
        def patch_segment(self, **kwargs: Any) -> dict[str, Any]:
            return {**SEGMENT, "name": type(kwargs["body"]).__name__}

    async def go() -> Any:
        transport = httpx.ASGITransport(app=create_app(Backend()))  # type: ignore[arg-type]
        async with AsyncClient("http://test", TOKEN, transport=transport) as client:
            return await client.patch_segment(
                project_key="p", segment_key="s",
                body={"instructions": [{"kind": "addIncludedUsers", "values": ["u"]}]})

    response = asyncio.run(go())
    assert response.status_code == 200 and response.parsed.name == "SemanticPatch"
