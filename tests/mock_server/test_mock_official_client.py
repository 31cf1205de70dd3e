"""Every operation through LaunchDarkly's official Python client, over real HTTP.

The mock runs in uvicorn on a loopback port (a pre-bound listening socket,
so no waiting for startup); responses must deserialise into the client's
models and mean what they should.
"""

from __future__ import annotations

import itertools
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

launchdarkly_api = pytest.importorskip("launchdarkly_api")
uvicorn = pytest.importorskip("uvicorn")

from launchdarkly_api.api.feature_flags_api import FeatureFlagsApi
from launchdarkly_api.api.segments_api import SegmentsApi
from launchdarkly_api.api.user_settings_api import UserSettingsApi
from launchdarkly_api.exceptions import ApiException
from launchdarkly_api.models import (
    FeatureFlagBody,
    PatchFlagsRequest,
    PatchOperation,
    PatchSegmentExpiringTargetInputRep,
    PatchSegmentExpiringTargetInstruction,
    PatchSegmentInstruction,
    PatchSegmentRequest,
    PatchUsersRequest,
    PatchWithComment,
    SegmentBody,
)

from mock_server.app import create_mock_app
from mock_server.clock import SettableClock
from mock_server.config import load_config

WRITER = "api-writer-00000000-0000-0000-0000-000000000000"
READER = "api-reader-00000000-0000-0000-0000-000000000000"
SEMANTIC = "application/json; domain-model=launchdarkly.semanticpatch"
T0 = 1_700_000_000_000
HOUR = 3_600_000
P, E = "default", "test"
_keys = itertools.count()


@pytest.fixture(scope="module")
def live() -> Iterator[tuple[str, SettableClock]]:
    clock = SettableClock(T0)
    server = create_mock_app(load_config().with_overrides(admin=True), clock=clock)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)  # connections queue until uvicorn accepts them
    port = sock.getsockname()[1]
    runner = uvicorn.Server(uvicorn.Config(server, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=runner.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}", clock
    finally:
        runner.should_exit = True
        thread.join(timeout=10)
        sock.close()
        server.close()


def client(base_url: str, token: str = WRITER) -> Any:
    configuration = launchdarkly_api.Configuration(host=base_url)
    configuration.api_key["ApiKey"] = token
    return launchdarkly_api.ApiClient(configuration)


@pytest.fixture
def apis(live) -> Iterator[tuple[SegmentsApi, FeatureFlagsApi, UserSettingsApi, SettableClock]]:
    base_url, clock = live
    clock.set(T0)
    with client(base_url) as api_client:
        yield SegmentsApi(api_client), FeatureFlagsApi(api_client), UserSettingsApi(api_client), clock


def test_segment_operations_through_the_official_client(apis) -> None:
    segments, _, _, clock = apis
    key = f"seg-{next(_keys)}"
    created = segments.post_segment(P, E, SegmentBody(key=key, name="Seg"))
    assert created.key == key and created.version == 1

    patched = segments.patch_segment(P, E, key, PatchWithComment(patch=[
        PatchOperation(op="add", path="/included", value=["alice", "bob"]),
        PatchOperation(op="add", path="/includedContexts",
                       value=[{"contextKind": "org", "values": ["acme"]}]),
    ], comment="setup"))
    assert patched.included == ["alice", "bob"] and patched.version == 2
    assert patched.included_contexts[0].context_kind == "org"

    users = segments.patch_expiring_user_targets_for_segment(P, E, key, PatchSegmentRequest(
        instructions=[
            PatchSegmentInstruction(kind="addExpireUserTargetDate", userKey="alice",
                                    targetType="included", value=T0 + HOUR),
            PatchSegmentInstruction(kind="addExpireUserTargetDate", userKey="carol",
                                    targetType="included", value=T0 + HOUR),
        ]), _content_type=SEMANTIC)
    assert (users.total_instructions, users.successful_instructions, users.failed_instructions) == (2, 1, 1)
    assert users.errors[0].instruction_index == 1
    assert [i.user_key for i in users.items] == ["alice"]

    contexts = segments.patch_expiring_targets_for_segment(P, E, key, PatchSegmentExpiringTargetInputRep(
        instructions=[
            PatchSegmentExpiringTargetInstruction(kind="updateExpiringTarget", contextKind="user",
                                                  contextKey="alice", targetType="included",
                                                  value=T0 + 2 * HOUR, version=1),
            PatchSegmentExpiringTargetInstruction(kind="addExpiringTarget", contextKind="org",
                                                  contextKey="acme", targetType="included",
                                                  value=T0 + HOUR),
        ]), _content_type=SEMANTIC)
    assert contexts.failed_instructions == 0
    by_key = {i.context_key: i for i in contexts.items}
    assert by_key["alice"].version == 2 and by_key["alice"].expiration_date == T0 + 2 * HOUR
    assert by_key["acme"].resource_id.kind == "segment"

    listed = segments.get_expiring_targets_for_segment(P, E, key)
    assert [i.context_key for i in listed.items] == ["acme", "alice"]
    assert [i.user_key for i in segments.get_expiring_user_targets_for_segment(P, E, key).items] == ["alice"]

    clock.set(T0 + 2 * HOUR)  # both dates have come
    after = segments.get_segment(P, E, key)
    assert after.included == ["bob"] and after.version == 3
    assert segments.get_expiring_targets_for_segment(P, E, key).items == []

    segments.delete_segment(P, E, key)
    with pytest.raises(ApiException) as caught:
        segments.get_segment(P, E, key)
    assert caught.value.status == 404


@pytest.mark.filterwarnings("ignore:.*is deprecated:DeprecationWarning")
def test_flag_and_user_operations_through_the_official_client(apis) -> None:
    _, flags, users, _ = apis
    key = f"flag-{next(_keys)}"
    created = flags.post_feature_flag(P, FeatureFlagBody(key=key, name="Flag"))
    assert created.kind == "boolean" and set(created.environments) == {"test", "production"}
    on_id, off_id = (v.id for v in created.variations)

    patched = flags.patch_feature_flag(P, key, PatchWithComment(patch=[
        PatchOperation(op="add", path="/environments/test/targets",
                       value=[{"variation": 0, "values": ["alice"]}]),
        PatchOperation(op="add", path="/environments/test/contextTargets",
                       value=[{"variation": 1, "contextKind": "org", "values": ["acme"]}]),
    ]))
    assert patched.environments["test"].targets[0].values == ["alice"]

    result = flags.patch_expiring_user_targets(P, E, key, PatchFlagsRequest(instructions=[
        {"kind": "addExpireUserTargetDate", "userKey": "alice", "variationId": on_id, "value": T0 + HOUR},
        {"kind": "addExpireUserTargetDate", "userKey": "alice", "variationId": off_id, "value": T0 + HOUR},
    ]), _content_type=SEMANTIC)
    assert result.failed_instructions == 1 and result.errors[0].instruction_index == 1
    assert [(i.user_key, i.variation_id) for i in result.items] == [("alice", on_id)]

    result = flags.patch_expiring_targets(P, E, key, PatchFlagsRequest(instructions=[
        {"kind": "addExpiringTarget", "contextKind": "org", "contextKey": "acme",
         "variationId": off_id, "value": T0 + HOUR},
    ]), _content_type=SEMANTIC)
    assert result.failed_instructions == 0
    assert [i.context_key for i in flags.get_expiring_context_targets(P, E, key).items] == ["acme", "alice"]
    assert [i.user_key for i in flags.get_expiring_user_targets(P, E, key).items] == ["alice"]

    mine = users.patch_expiring_flags_for_user(P, "alice", E, PatchUsersRequest(instructions=[
        {"kind": "updateExpireUserTargetDate", "flagKey": key, "variationId": on_id,
         "value": T0 + 3 * HOUR, "version": 1},
    ]), _content_type=SEMANTIC)
    assert mine.failed_instructions == 0 and mine.items[0].version == 2
    listed = users.get_expiring_flags_for_user(P, "alice", E)
    assert listed.items[0].expiration_date == T0 + 3 * HOUR and listed.items[0].resource_id.key == key

    assert flags.get_feature_flag(P, key).version == patched.version
    flags.delete_feature_flag(P, key)
    with pytest.raises(ApiException) as caught:
        flags.get_feature_flag(P, key)
    assert caught.value.status == 404


def test_errors_reach_the_official_client_as_documented(live) -> None:
    base_url, _ = live
    with client(base_url, READER) as reader:
        with pytest.raises(ApiException) as caught:
            SegmentsApi(reader).post_segment(P, E, SegmentBody(key="x", name="x"))
        assert caught.value.status == 403 and '"forbidden"' in caught.value.body
    with client(base_url, "not-a-token") as stranger:
        with pytest.raises(ApiException) as caught:
            SegmentsApi(stranger).get_segment(P, E, "x")
        assert caught.value.status == 401
    with client(base_url) as writer:
        key = f"seg-{next(_keys)}"
        SegmentsApi(writer).post_segment(P, E, SegmentBody(key=key, name="x"))
        with pytest.raises(ApiException) as caught:  # plain application/json: refused
            SegmentsApi(writer).patch_expiring_targets_for_segment(
                P, E, key, PatchSegmentExpiringTargetInputRep(instructions=[]))
        assert caught.value.status == 400 and '"invalid_request"' in caught.value.body
