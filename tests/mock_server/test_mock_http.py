"""The whole app in-process (generated routes + backend + middleware) through ASGI."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mock_server.config import Limits, parse_config

WRITER = "api-writer-00000000-0000-0000-0000-000000000000"
READER = "api-reader-00000000-0000-0000-0000-000000000000"
SEMANTIC = "application/json; domain-model=launchdarkly.semanticpatch"
T0 = 1_700_000_000_000
HOUR = 3_600_000
SEG = "/api/v2/segments/default/test"
SEG_USERS = "/api/v2/segments/default/seg/expiring-user-targets/test"
SEG_CONTEXTS = "/api/v2/segments/default/seg/expiring-targets/test"


def setup_segment(api, *users: str) -> dict:
    assert api("POST", SEG, json={"key": "seg", "name": "Seg"}).status_code == 201
    response = api("PATCH", f"{SEG}/seg", content_type=SEMANTIC,
                   json={"instructions": [{"kind": "addIncludedUsers", "values": list(users)}]})
    assert response.status_code == 200, response.text
    return response.json()


def add_user(user: str, value: int = T0 + HOUR) -> dict:
    return {"kind": "addExpireUserTargetDate", "userKey": user, "targetType": "included",
            "value": value}


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == code and isinstance(body["message"], str) and body["message"]
    return body


def test_200_with_errors_over_http(api) -> None:
    setup_segment(api, "alice")
    response = api("PATCH", SEG_USERS, content_type=SEMANTIC,
                   json={"instructions": [add_user("nobody"), add_user("alice")]})
    assert response.status_code == 200
    body = response.json()
    assert (body["totalInstructions"], body["successfulInstructions"], body["failedInstructions"]) == (2, 1, 1)
    assert [e["instructionIndex"] for e in body["errors"]] == [0]
    listed = api("GET", SEG_CONTEXTS).json()["items"]
    assert [(i["contextKind"], i["contextKey"]) for i in listed] == [("user", "alice")]


@pytest.mark.parametrize("content_type", [
    "application/json",
    None,
    "text/plain",
])
def test_semantic_patch_needs_its_media_type(api, content_type) -> None:
    setup_segment(api, "alice")
    response = api("PATCH", SEG_USERS, content_type=content_type,
                   content=json.dumps({"instructions": [add_user("alice")]}).encode())
    assert_error(response, 400, "invalid_request")
    assert api("GET", SEG_USERS).json()["items"] == []


def test_semantic_media_type_is_matched_loosely(api) -> None:
    setup_segment(api, "alice")
    response = api("PATCH", SEG_USERS, content_type="Application/JSON ;Domain-Model=LaunchDarkly.SemanticPatch",
                   json={"instructions": [add_user("alice")]})
    assert response.status_code == 200, response.text


def test_tokens_roles_and_projects(config, make_api) -> None:
    extra = parse_config({
    "projects": {"other": {"environments": ["test"]}},
    "tokens": {"only-other": {"role": "writer", "projects": ["other"]}},
    })
    api = make_api(projects={**config.projects, **extra.projects},
               tokens={**config.tokens, **extra.tokens})
    assert_error(api("GET", f"{SEG}/seg", token=None), 401, "unauthorized")
    assert_error(api("GET", f"{SEG}/seg", token="nope"), 401, "unauthorized")
    body = assert_error(api("POST", SEG, token=READER, json={"key": "s", "name": "s"}), 403, "forbidden")
    assert "read-only" in body["message"]
    assert_error(api("POST", SEG, token="only-other", json={"key": "s", "name": "s"}), 403, "forbidden")
    assert api("POST", "/api/v2/segments/other/test", token="only-other",
               json={"key": "s", "name": "s"}).status_code == 201
    # the denied requests changed nothing
    assert_error(api("GET", f"{SEG}/s"), 404, "not_found")
    assert api("GET", f"{SEG}/s".replace("default", "other"), token=READER).status_code == 200


def test_the_contract_is_public_and_everything_else_needs_a_token(api) -> None:
    response = api("GET", "/openapi.json", token=None)
    assert response.status_code == 200 and "paths" in response.json()
    assert_error(api("GET", "/api/v2/flags/default/x", token=None), 401, "unauthorized")


def test_rate_limit_answers_429_with_headers_and_resets_with_the_clock(make_api, clock) -> None:
    clock.set(T0 + 2_500)  # 7.5 s before the window ends
    api = make_api(rate_limit=3)
    seen = [api("POST", SEG, json={"key": f"s{i}", "name": "s"}) for i in range(3)]
    assert [r.headers["X-Ratelimit-Global-Remaining"] for r in seen] == ["2", "1", "0"]
    assert {r.headers["X-Ratelimit-Reset"] for r in seen} == {str(T0 + 10_000)}
    refused = api("POST", SEG, json={"key": "s9", "name": "s"})
    assert_error(refused, 429, "rate_limited")
    assert refused.headers["Retry-After"] == "8"
    assert refused.headers["X-Ratelimit-Reset"] == str(T0 + 10_000)
    assert_error(api("GET", f"{SEG}/s9", token=READER), 404, "not_found")  # own budget
    clock.set(T0 + 10_000)
    assert api("GET", f"{SEG}/s0").status_code == 200


def test_admin_clock_route_moves_time_and_triggers_expiry(api, clock) -> None:
    setup_segment(api, "alice")
    api("PATCH", SEG_USERS, content_type=SEMANTIC, json={"instructions": [add_user("alice")]})
    assert api("GET", "/_admin/clock").json() == {"now": T0, "fixed": True}
    assert_error(api("PUT", "/_admin/clock", json={"now": T0 + HOUR}, token=READER), 403, "forbidden")
    assert_error(api("PUT", "/_admin/clock", json={"now": "soon"}), 400, "invalid_request")
    assert api("PUT", "/_admin/clock", json={"now": T0 + HOUR}).status_code == 200
    assert api("GET", f"{SEG}/seg").json()["included"] == []
    assert api("GET", SEG_USERS).json()["items"] == []
    assert api("DELETE", "/_admin/clock").json()["fixed"] is False


def test_admin_route_exists_only_when_enabled(make_api) -> None:
    response = make_api(admin=False)("PUT", "/_admin/clock", json={"now": T0})
    assert response.status_code == 404


def test_body_over_the_size_limit_is_a_400(make_api) -> None:
    api = make_api(limits=Limits(max_instructions=1500, max_body_bytes=200))
    assert_error(api("POST", SEG, json={"key": "s", "name": "x" * 300}), 400, "invalid_request")
    assert api("GET", f"{SEG}/s").status_code == 404


def test_authentication_comes_first_in_one_place(make_api) -> None:
    """The access control authenticates before routing and before the body is read (the
    backend's `authorization` is never needed: docs/mock-server.md, Authentication)."""
    api = make_api(limits=Limits(max_instructions=1500, max_body_bytes=200))
    big = {"key": "s", "name": "x" * 300}
    assert_error(api("GET", "/api/v2/no/such/path", token=None), 401, "unauthorized")
    assert_error(api("POST", SEG, json=big, token=None), 401, "unauthorized")
    assert_error(api("POST", SEG, json=big, token="api-unknown-token"), 401, "unauthorized")
    assert_error(api("POST", SEG, json=big, token=READER), 403, "forbidden")
    assert_error(api("POST", SEG, json=big), 400, "invalid_request")


def test_unknown_resources_are_404_with_the_reason(api) -> None:
    assert "project" in assert_error(api("GET", "/api/v2/segments/nope/test/seg"), 404, "not_found")["message"]
    assert "environment" in assert_error(api("GET", "/api/v2/segments/default/nope/seg"), 404, "not_found")["message"]
    assert "segment" in assert_error(api("GET", SEG_USERS), 404, "not_found")["message"]
    assert "flag" in assert_error(api("GET", "/api/v2/flags/default/nope"), 404, "not_found")["message"]
    assert "user" in assert_error(
        api("GET", "/api/v2/users/default/nobody/expiring-user-targets/test"), 404, "not_found")["message"]


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["kind", "userKey", "contextKey", "contextKind", "targetType", "value",
                         "version", "variationId", "flagKey", "values", "x"]), inner, max_size=5),
    max_leaves=10,
)


@pytest.fixture
def populated(api):
    setup_segment(api, "u")
    flag = api("POST", "/api/v2/flags/default", json={"key": "f", "name": "F"}).json()
    api("PATCH", "/api/v2/flags/default/f", content_type=SEMANTIC, json={
        "environmentKey": "test",
        "instructions": [{"kind": "addUserTargets", "variationId": flag["variations"][0]["_id"],
                          "values": ["u"]}]})
    return api


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(instructions=st.lists(_json, max_size=4))
def test_arbitrary_instructions_never_cause_a_server_error(populated, instructions) -> None:
    api = populated
    for path in (SEG_USERS, SEG_CONTEXTS, "/api/v2/flags/default/f/expiring-targets/test",
                 "/api/v2/users/default/u/expiring-user-targets/test"):
        response = api("PATCH", path, content_type=SEMANTIC, json={"instructions": instructions})
        assert response.status_code in (200, 400, 404), response.text
        assert "code" in response.json() or "items" in response.json()
