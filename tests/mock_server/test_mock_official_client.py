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

import official_client as ld
import pytest

uvicorn = pytest.importorskip("uvicorn")

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


@pytest.fixture
def apis(live) -> Iterator[tuple[ld.SegmentsApi, ld.FeatureFlagsApi, ld.UserSettingsApi,
                                 SettableClock]]:
    base_url, clock = live
    clock.set(T0)
    with ld.api_client(base_url, WRITER) as api:
        yield ld.SegmentsApi(api), ld.FeatureFlagsApi(api), ld.UserSettingsApi(api), clock


def test_segment_operations_through_the_official_client(apis) -> None:
    segments, _, _, clock = apis
    key = f"seg-{next(_keys)}"
    created = segments.post_segment(P, E, ld.SegmentBody(key=key, name="Seg"))
    assert created.key == key and created.version == 1

    patched = segments.patch_segment(P, E, key, ld.segment_targets(comment="setup"))
    assert patched.included == ["alice", "bob"] and patched.version == 2
    assert patched.included_contexts[0].context_kind == "org"

    users = segments.patch_expiring_user_targets_for_segment(
        P, E, key, ld.segment_user_expiries(T0 + HOUR), _content_type=SEMANTIC)
    assert (users.total_instructions, users.successful_instructions, users.failed_instructions) == (2, 1, 1)
    assert users.errors[0].instruction_index == 1
    assert [i.user_key for i in users.items] == ["alice"]

    contexts = segments.patch_expiring_targets_for_segment(
        P, E, key, ld.segment_context_expiries(T0 + 2 * HOUR, T0 + HOUR), _content_type=SEMANTIC)
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
    with pytest.raises(ld.ApiException) as caught:
        segments.get_segment(P, E, key)
    assert caught.value.status == 404


@pytest.mark.filterwarnings("ignore:.*is deprecated:DeprecationWarning")
def test_flag_and_user_operations_through_the_official_client(apis) -> None:
    _, flags, users, _ = apis
    key = f"flag-{next(_keys)}"
    created = flags.post_feature_flag(P, ld.FeatureFlagBody(key=key, name="Flag"))
    assert created.kind == "boolean" and set(created.environments) == {"test", "production"}
    on_id, off_id = (v.id for v in created.variations)

    patched = flags.patch_feature_flag(P, key, ld.flag_targets())
    assert patched.environments["test"].targets[0].values == ["alice"]

    result = flags.patch_expiring_user_targets(
        P, E, key, ld.flag_user_expiries(on_id, off_id, T0 + HOUR), _content_type=SEMANTIC)
    assert result.failed_instructions == 1 and result.errors[0].instruction_index == 1
    assert [(i.user_key, i.variation_id) for i in result.items] == [("alice", on_id)]

    result = flags.patch_expiring_targets(
        P, E, key, ld.flag_context_expiry(off_id, T0 + HOUR), _content_type=SEMANTIC)
    assert result.failed_instructions == 0
    assert [i.context_key for i in flags.get_expiring_context_targets(P, E, key).items] == ["acme", "alice"]
    assert [i.user_key for i in flags.get_expiring_user_targets(P, E, key).items] == ["alice"]

    mine = users.patch_expiring_flags_for_user(
        P, "alice", E, ld.user_flag_expiry(key, on_id, T0 + 3 * HOUR), _content_type=SEMANTIC)
    assert mine.failed_instructions == 0 and mine.items[0].version == 2
    listed = users.get_expiring_flags_for_user(P, "alice", E)
    assert listed.items[0].expiration_date == T0 + 3 * HOUR and listed.items[0].resource_id.key == key

    assert flags.get_feature_flag(P, key).version == patched.version
    flags.delete_feature_flag(P, key)
    with pytest.raises(ld.ApiException) as caught:
        flags.get_feature_flag(P, key)
    assert caught.value.status == 404


def test_errors_reach_the_official_client_as_documented(live) -> None:
    base_url, _ = live
    with ld.api_client(base_url, READER) as reader:
        with pytest.raises(ld.ApiException) as caught:
            ld.SegmentsApi(reader).post_segment(P, E, ld.SegmentBody(key="x", name="x"))
        assert caught.value.status == 403 and '"forbidden"' in caught.value.body
    with ld.api_client(base_url, "not-a-token") as stranger:
        with pytest.raises(ld.ApiException) as caught:
            ld.SegmentsApi(stranger).get_segment(P, E, "x")
        assert caught.value.status == 401
    with ld.api_client(base_url, WRITER) as writer:
        key = f"seg-{next(_keys)}"
        ld.SegmentsApi(writer).post_segment(P, E, ld.SegmentBody(key=key, name="x"))
        with pytest.raises(ld.ApiException) as caught:  # plain application/json: refused
            ld.SegmentsApi(writer).patch_expiring_targets_for_segment(
                P, E, key, ld.PatchSegmentExpiringTargetInputRep(instructions=[]))
        assert caught.value.status == 400 and '"invalid_request"' in caught.value.body
