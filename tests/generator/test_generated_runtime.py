"""The generated server: body reader, parameters, routing and error answers (fixture spec)."""

from __future__ import annotations

import asyncio
import json
from types import ModuleType
from typing import Any

import httpx
import pytest

SEMANTIC = "application/json; domain-model=launchdarkly.semanticpatch"
SEGMENT_URL = "/api/v2/segments/proj/seg"


class RecordingBackend:
    """Answers every fixture operation and remembers what it was called with."""

    def __init__(self, models: ModuleType, api_error: type[Exception]) -> None:
        self.models = models
        self.api_error = api_error
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def _segment(self, key: str) -> Any:
        return self.models.Segment(key=key, name="Seg", _version=3, creationDate=1700000000000)

    def evaluate_segments(self, **kwargs: Any) -> list[str]:
        self.calls.append(("evaluate_segments", kwargs))
        return ["evaluated"]

    def get_segment(self, **kwargs: Any) -> Any:
        self.calls.append(("get_segment", kwargs))
        if kwargs["authorization"] != "secret-token":
            raise self.api_error(401, "unauthorized", "invalid token")
        return self._segment(kwargs["segment_key"])

    def patch_segment(self, **kwargs: Any) -> Any:
        self.calls.append(("patch_segment", kwargs))
        return self._segment(kwargs["segment_key"])

    def delete_segment(self, **kwargs: Any) -> None:
        self.calls.append(("delete_segment", kwargs))

    def post_segment(self, **kwargs: Any) -> Any:
        raise RuntimeError("backend bug")

    def import_segments(self, **kwargs: Any) -> None:
        self.calls.append(("import_segments", kwargs))

    def get_expiring_flags_for_user(self, **kwargs: Any) -> dict[str, Any]:
        return {"items": []}


@pytest.fixture
def backend(fixture_package: ModuleType) -> RecordingBackend:
    from fxpkg import models
    from fxpkg.backends import ApiError

    return RecordingBackend(models, ApiError)


@pytest.fixture
def call(backend: RecordingBackend):  # type: ignore[no-untyped-def]
    from fxpkg.app import create_app

    app = create_app(backend)

    def send(method: str, url: str, *, body: bytes | None = None,
             content_type: str | None = SEMANTIC, **headers: str) -> httpx.Response:
        async def go() -> httpx.Response:
            transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                all_headers = dict(headers)
                if content_type is not None:
                    all_headers["content-type"] = content_type
                return await client.request(method, url, content=body, headers=all_headers)

        return asyncio.run(go())

    return send


def _error(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"code", "message"}
    return str(body["message"])


def _instructions(*instructions: dict[str, Any]) -> bytes:
    return json.dumps({"instructions": list(instructions)}).encode()


ADD = {"kind": "addIncludedUsers", "values": ["u1"]}


# -- media types ------------------------------------------------------------------------------

@pytest.mark.parametrize(("content_type", "declared", "expected"), [
    (SEMANTIC, SEMANTIC, True),
    ("APPLICATION/JSON;DOMAIN-MODEL=LaunchDarkly.SemanticPatch", SEMANTIC, True),
    ("application/json ;  domain-model=launchdarkly.semanticpatch ", SEMANTIC, True),
    ('application/json; domain-model="launchdarkly.semanticpatch"', SEMANTIC, True),
    ("application/json; charset=utf-8; domain-model=launchdarkly.semanticpatch", SEMANTIC, True),
    ("application/json", SEMANTIC, False),
    ("application/json; domain-model=other", SEMANTIC, False),
    ("text/json; domain-model=launchdarkly.semanticpatch", SEMANTIC, False),
    ("application/json; charset=UTF-8", "application/json", True),
    (SEMANTIC, "application/json", False),
    ("multipart/form-data; boundary=abc", "multipart/form-data", True),
])
def test_media_type_matching(fixture_package: ModuleType, content_type: str, declared: str,
                             expected: bool) -> None:
    from fxpkg._runtime import media_type_matches

    assert media_type_matches(content_type, declared) is expected


def test_semantic_patch_reaches_the_backend_as_its_model(call, backend) -> None:  # type: ignore[no-untyped-def]
    response = call("PATCH", SEGMENT_URL + "?dryRun=true", body=_instructions(ADD),
                    content_type="Application/Json ; Domain-Model=LaunchDarkly.SemanticPatch")
    assert response.status_code == 200, response.text
    assert response.json() == {"key": "seg", "name": "Seg", "_version": 3,
                               "creationDate": 1700000000000}
    name, kwargs = backend.calls[-1]
    assert name == "patch_segment" and kwargs["dry_run"] is True
    assert type(kwargs["body"]).__name__ == "SemanticPatch"
    assert kwargs["body"].instructions[0].kind == "addIncludedUsers"


def test_json_patch_without_a_named_model_arrives_as_plain_json(call, backend) -> None:  # type: ignore[no-untyped-def]
    patch = [{"op": "replace", "path": "/name", "value": "x"}]
    response = call("PATCH", SEGMENT_URL, body=json.dumps(patch).encode(),
                    content_type="application/json")
    assert response.status_code == 200, response.text
    assert backend.calls[-1][1]["body"] == patch


@pytest.mark.parametrize(("content_type", "fragment"), [
    (None, "missing Content-Type header; expected 'application/json' or " + repr(SEMANTIC)),
    ("text/plain", "unsupported Content-Type 'text/plain'; expected"),
    ("application/json; domain-model=nope", "unsupported Content-Type"),
])
def test_content_type_is_required_and_named(call, content_type, fragment) -> None:  # type: ignore[no-untyped-def]
    message = _error(call("PATCH", SEGMENT_URL, body=_instructions(ADD),
                          content_type=content_type), 400)
    assert fragment in message


@pytest.mark.parametrize(("body", "fragment"), [
    (b"\xff\xfe{}", "not valid UTF-8 (byte offset 0)"),
    (b'{"instructions": [NaN]}', "NaN is not a valid JSON number"),
    (b'{"instructions": [], "comment": Infinity}', "Infinity is not a valid JSON number"),
    (b'{"instructions": [1e999]}', "number 1e999 is out of range"),
    (b'{"instructions": [], "instructions": []}', "duplicate object key 'instructions'"),
    (b'{"instructions": [', "not valid JSON"),
    (b"[" * 65 + b"]" * 65, "deeper than the limit of 64"),
    (b"[" * 200_000 + b"]" * 200_000, "deeper than the limit of 64"),
    (b"{}", "$: 'instructions' is a required property"),
    (_instructions({"kind": "bogus"}), "$.instructions[0].kind: 'bogus' is not one of"),
    (_instructions({"kind": "addIncludedUsers", "value": 2**63}),
     "$.instructions[0].value: 9223372036854775808 is not a 'int64'"),
    (_instructions({"kind": "addIncludedUsers", "value": -(2**63) - 1}),
     "$.instructions[0].value"),
    (_instructions({"kind": "addIncludedUsers", "values": "u1"}),
     "$.instructions[0].values: 'u1' is not of type 'array'"),
])
def test_bad_bodies_get_400_naming_the_problem(call, body: bytes, fragment: str) -> None:  # type: ignore[no-untyped-def]
    assert fragment in _error(call("PATCH", SEGMENT_URL, body=body), 400)


def test_nesting_at_the_limit_is_accepted(call) -> None:  # type: ignore[no-untyped-def]
    nested: Any = ["u"]
    for _ in range(60):  # instructions[0].values: depth 4 + 60 lists = 64
        nested = [nested]
    body = _instructions({"kind": "addIncludedUsers", "extra": nested})
    assert call("PATCH", SEGMENT_URL, body=body).status_code == 200


def test_int64_bounds_are_accepted(call) -> None:  # type: ignore[no-untyped-def]
    body = _instructions({"kind": "addIncludedUsers", "value": 2**63 - 1},
                         {"kind": "addIncludedUsers", "value": -(2**63)})
    assert call("PATCH", SEGMENT_URL, body=body).status_code == 200


def test_limits_are_configurable(call, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    from fxpkg import _runtime

    monkeypatch.setattr(_runtime, "MAX_BODY_BYTES", 64)
    big = _instructions(*[ADD] * 5)
    assert "larger than the limit of 64 bytes" in _error(call("PATCH", SEGMENT_URL, body=big), 400)
    monkeypatch.setattr(_runtime, "MAX_BODY_BYTES", 1 << 20)
    monkeypatch.setattr(_runtime, "MAX_DEPTH", 3)
    assert "deeper than the limit of 3" in _error(
        call("PATCH", SEGMENT_URL, body=_instructions(ADD)), 400)


def test_default_size_limit_is_one_mebibyte(call) -> None:  # type: ignore[no-untyped-def]
    body = _instructions(ADD)
    padded = body[:-1] + b" " * ((1 << 20) - len(body)) + b"}"
    assert len(padded) == 1 << 20
    assert call("PATCH", SEGMENT_URL, body=padded).status_code == 200
    message = _error(call("PATCH", SEGMENT_URL, body=padded + b" "), 400)
    assert "larger than the limit of 1048576 bytes" in message


def test_missing_required_body(call) -> None:  # type: ignore[no-untyped-def]
    assert "request body is required" in _error(call("PATCH", SEGMENT_URL, body=None), 400)


# -- parameters, routing, errors --------------------------------------------------------------

def test_static_path_is_not_shadowed_by_a_parameter(call, backend) -> None:  # type: ignore[no-untyped-def]
    response = call("GET", "/api/v2/segments/proj/evaluate?from=5&kind=a&kind=b",
                    content_type=None, **{"LD-API-Version": "beta"})
    assert response.json() == ["evaluated"]
    assert backend.calls[-1] == ("evaluate_segments", {
        "project_key": "proj", "from_": 5, "ld_api_version": "beta", "kind": ["a", "b"],
        "authorization": None})


@pytest.mark.parametrize(("url", "headers", "fragment"), [
    ("/api/v2/segments/proj/evaluate?from=soon", {}, "invalid query parameter 'from'"),
    ("/api/v2/segments/proj/evaluate", {"LD-API-Version": "v9"},
     "invalid header parameter 'LD-API-Version'"),
])
def test_bad_parameters_get_400_naming_them(call, url, headers, fragment) -> None:  # type: ignore[no-untyped-def]
    assert fragment in _error(call("GET", url, content_type=None, **headers), 400)


def test_backend_api_error_and_authorization(call) -> None:  # type: ignore[no-untyped-def]
    assert _error(call("GET", SEGMENT_URL, content_type=None), 401) == "invalid token"
    ok = call("GET", SEGMENT_URL, content_type=None, Authorization="secret-token")
    assert ok.status_code == 200 and ok.json()["key"] == "seg"


def test_no_content_and_unknown_routes(call) -> None:  # type: ignore[no-untyped-def]
    deleted = call("DELETE", SEGMENT_URL, content_type=None)
    assert deleted.status_code == 204 and deleted.content == b""
    assert _error(call("GET", "/nowhere", content_type=None), 404) == "Not Found"
    assert call("GET", "/nowhere", content_type=None).json()["code"] == "not_found"


def test_unexpected_exceptions_become_internal_error(call) -> None:  # type: ignore[no-untyped-def]
    response = call("POST", "/api/v2/segments/proj", body=b'{"key": "k", "name": "n"}',
                    content_type="application/json")
    assert response.json() == {"code": "internal_error",
                               "message": "internal error (RuntimeError)"}
    assert response.status_code == 500


def test_non_json_bodies_pass_through_as_bytes(call, backend) -> None:  # type: ignore[no-untyped-def]
    response = call("POST", "/api/v2/segments/proj/import", body=b"--b\r\nraw",
                    content_type="multipart/form-data; boundary=b")
    assert response.status_code == 204
    assert backend.calls[-1][1]["body"] == b"--b\r\nraw"


def test_openapi_json_is_served(call, fixture_package: ModuleType) -> None:  # type: ignore[no-untyped-def]
    response = call("GET", "/openapi.json", content_type=None)
    assert response.status_code == 200
    assert response.json()["info"]["title"] == "Fixture API"
    assert call("GET", "/docs", content_type=None).status_code == 404


def test_an_unrouted_method_gets_405_with_the_error_body(call) -> None:  # type: ignore[no-untyped-def]
    response = call("PUT", SEGMENT_URL, body=b"{}", content_type="application/json")
    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"
    assert "PATCH" in response.headers["allow"]


def test_bodies_can_reach_the_backend_as_checked_plain_json(backend) -> None:  # type: ignore[no-untyped-def]
    """``body_models=False``: the same checks, the JSON value instead of the model."""
    from fxpkg.app import create_app

    app = create_app(backend, body_models=False)

    async def go(body: bytes) -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.patch(SEGMENT_URL, content=body,
                                      headers={"content-type": SEMANTIC})

    assert asyncio.run(go(_instructions(ADD))).status_code == 200
    assert backend.calls[-1][1]["body"] == {"instructions": [ADD]}
    refused = asyncio.run(go(_instructions({"kind": 7})))
    assert refused.status_code == 400 and "request body" in refused.json()["message"]
