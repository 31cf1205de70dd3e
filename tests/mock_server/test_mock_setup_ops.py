"""Setup operations: segments and flags, semantic patch and JSON patch."""

from __future__ import annotations

import pytest

from mock_server.errors import DomainError
from mock_server.service import plain

P, E = "default", "test"
T0 = 1_700_000_000_000
HOUR = 3_600_000


def test_new_segment_has_every_required_field(service) -> None:
    segment = service.post_segment(P, E, {"key": "s", "name": "S", "tags": ["x"]})
    for field in ("_links", "creationDate", "deleted", "generation", "key", "lastModifiedDate",
                  "name", "rules", "tags", "version"):
        assert field in segment
    assert segment["version"] == 1 and segment["creationDate"] == T0
    with pytest.raises(DomainError) as caught:
        service.post_segment(P, E, {"key": "s", "name": "again"})
    assert caught.value.status == 409


def test_new_flag_has_boolean_variations_with_stable_ids_and_every_environment(service) -> None:
    flag = service.post_flag(P, {"key": "f", "name": "F"})
    assert [v["value"] for v in flag["variations"]] == [True, False]
    assert flag["kind"] == "boolean" and set(flag["environments"]) == {"test", "production"}
    for config in flag["environments"].values():
        for field in ("_environmentName", "_site", "archived", "lastModified", "on", "salt",
                      "sel", "trackEvents", "trackEventsFallthrough", "version"):
            assert field in config
    assert service.get_flag(P, "f")["variations"] == flag["variations"]
    assert set(service.get_flag(P, "f", "production")["environments"]) == {"production"}


def test_segment_semantic_patch_changes_targets_and_bumps_version(world, service, kinds) -> None:
    world.segment()
    segment = service.patch_segment(P, E, "seg", {"instructions": [
        {"kind": "addIncludedUsers", "values": ["alice", "bob"]},
        {"kind": "addExcludedTargets", "contextKind": "org", "values": ["acme"]},
        {"kind": "removeIncludedUsers", "values": ["bob"]},
    ]}, kinds("patch_segment"))
    assert segment["included"] == ["alice"]
    assert segment["excludedContexts"] == [{"contextKind": "org", "values": ["acme"]}]
    assert segment["version"] == 2


def test_a_failing_setup_instruction_fails_the_whole_request(world, service, kinds) -> None:
    world.segment()
    with pytest.raises(DomainError) as caught:
        service.patch_segment(P, E, "seg", {"instructions": [
            {"kind": "addIncludedUsers", "values": ["alice"]},
            {"kind": "addIncludedTargets", "values": ["acme"]},  # no contextKind
        ]}, kinds("patch_segment"))
    assert caught.value.status == 400 and "instruction 1" in caught.value.message
    segment = service.get_segment(P, E, "seg")
    assert segment["included"] == [] and segment["version"] == 1


def test_flag_semantic_patch_refuses_unknown_variations_and_a_second_variation(world, service, kinds) -> None:
    flag = world.flag(targets={0: ["alice"]})
    var0, var1 = (v["_id"] for v in flag["variations"])
    for instruction in ({"kind": "addUserTargets", "variationId": "nope", "values": ["bob"]},
                        {"kind": "addTargets", "variationId": var1, "values": ["alice"]}):
        with pytest.raises(DomainError) as caught:
            service.patch_flag(P, "flag", {"environmentKey": E, "instructions": [instruction]},
                               kinds("patch_feature_flag"))
        assert caught.value.status == 400
    with pytest.raises(DomainError) as caught:
        service.patch_flag(P, "flag", {"environmentKey": "staging", "instructions": []},
                           kinds("patch_feature_flag"))
    assert caught.value.status == 404
    assert service.get_flag(P, "flag")["_version"] == flag["_version"]
    del var0


def test_segment_json_patch_on_targeting_fields(world, service, kinds) -> None:
    world.segment(included=["alice"])
    segment = service.patch_segment(P, E, "seg", {"patch": [
        {"op": "test", "path": "/version", "value": 2},
        {"op": "add", "path": "/included/-", "value": "bob"},
        {"op": "add", "path": "/includedContexts", "value": [{"contextKind": "org", "values": ["acme"]}]},
        {"op": "replace", "path": "/description", "value": "d"},
    ], "comment": "c"}, kinds("patch_segment"))
    assert segment["included"] == ["alice", "bob"] and segment["description"] == "d"
    assert segment["includedContexts"] == [{"contextKind": "org", "values": ["acme"]}]
    assert segment["version"] == 3


@pytest.mark.parametrize("operation, fragment", [
    ({"op": "replace", "path": "/key", "value": "k"}, "/key"),
    ({"op": "replace", "path": "/included", "value": "alice"}, "/included"),
    ({"op": "test", "path": "/version", "value": 99}, "test failed"),
    ({"op": "move", "from": "/included", "path": "/excluded"}, "move"),
    ({"op": "remove", "path": "/included/5"}, "non-existent object '5'"),
])
def test_segment_json_patch_refusals_name_the_problem(world, service, kinds, operation, fragment) -> None:
    world.segment(included=["alice"])
    with pytest.raises(DomainError) as caught:
        service.patch_segment(P, E, "seg", [operation], kinds("patch_segment"))
    assert caught.value.status == 400 and fragment in caught.value.message
    assert service.get_segment(P, E, "seg")["version"] == 2


def test_flag_json_patch_on_targets_and_refusals(world, service, kinds) -> None:
    flag = world.flag()
    patched = service.patch_flag(P, "flag", [
        {"op": "add", "path": "/environments/test/contextTargets/-",
         "value": {"contextKind": "org", "variation": 1, "values": ["acme"]}},
    ], kinds("patch_feature_flag"))
    assert patched["environments"]["test"]["contextTargets"] == [
        {"values": ["acme"], "variation": 1, "contextKind": "org"}]
    assert patched["_version"] == flag["_version"] + 1
    for operations, fragment in (
        ([{"op": "replace", "path": "/variations", "value": []}], "/variations"),
        ([{"op": "add", "path": "/environments/staging/targets", "value": []}], "staging"),
        ([{"op": "add", "path": "/environments/test/targets/-",
           "value": {"variation": 7, "values": ["x"]}}], "variation"),
        ([{"op": "add", "path": "/environments/test/targets/-",
           "value": {"variation": 0, "values": ["acme"], "contextKind": "org"}}], "contextKind"),
    ):
        with pytest.raises(DomainError) as caught:
            service.patch_flag(P, "flag", operations, kinds("patch_feature_flag"))
        assert caught.value.status == 400 and fragment in caught.value.message


def test_dry_run_changes_nothing(world, service, kinds) -> None:
    world.segment()
    preview = service.patch_segment(P, E, "seg", [{"op": "add", "path": "/included/-", "value": "x"}],
                                    kinds("patch_segment"), dry_run=True)
    assert preview["included"] == ["x"]
    assert service.get_segment(P, E, "seg")["included"] == []


def test_removing_a_target_drops_its_schedule(world, service, kinds) -> None:
    world.segment(included=["alice"])
    service.patch_segment_schedules(P, E, "seg", {"instructions": [
        {"kind": "addExpiringTarget", "contextKind": "user", "contextKey": "alice",
         "targetType": "included", "value": T0 + HOUR}]},
        kinds("patch_expiring_targets_for_segment"), users_only=False)
    service.patch_segment(P, E, "seg", {"instructions": [
        {"kind": "removeIncludedUsers", "values": ["alice"]}]}, kinds("patch_segment"))
    assert plain(service.segment_schedules(P, E, "seg", users_only=False))["items"] == []


def test_delete_removes_the_resource_and_its_schedules(world, service, kinds) -> None:
    flag = world.flag(targets={0: ["alice"]})
    service.patch_user_schedules(P, E, "alice", {"instructions": [
        {"kind": "addExpireUserTargetDate", "flagKey": "flag",
         "variationId": flag["variations"][0]["_id"], "value": T0 + HOUR}]},
        kinds("patch_expiring_flags_for_user"))
    service.delete_flag(P, "flag")
    with pytest.raises(DomainError):
        service.get_flag(P, "flag")
    world.flag(targets={1: ["alice"]})  # same key again: no schedule carried over
    assert plain(service.user_schedules(P, E, "alice"))["items"] == []


def test_what_a_setup_kind_does_comes_from_its_metadata_not_its_name(world, service,
                                                                     kinds) -> None:
    """Kinds renamed (same metadata, other names) act as their metadata says."""
    world.segment()
    segment_kinds = kinds("patch_segment")
    renamed = {"pick": segment_kinds["addIncludedUsers"],
               "drop": segment_kinds["removeIncludedUsers"],
               "shun": segment_kinds["addExcludedTargets"]}
    segment = service.patch_segment(P, E, "seg", {"instructions": [
        {"kind": "pick", "values": ["alice", "bob"]},
        {"kind": "shun", "contextKind": "org", "values": ["acme"]},
        {"kind": "drop", "values": ["bob"]},
    ]}, renamed)
    assert segment["included"] == ["alice"]
    assert segment["excludedContexts"] == [{"contextKind": "org", "values": ["acme"]}]
    flag = world.flag()
    var0 = flag["variations"][0]["_id"]
    flag_kinds = {"pin": kinds("patch_feature_flag")["addUserTargets"]}
    flag = service.patch_flag(P, "flag", {"environmentKey": E, "instructions": [
        {"kind": "pin", "variationId": var0, "contextKind": "org", "values": ["carol"]},
    ]}, flag_kinds)
    assert flag["environments"][E]["targets"] == [{"values": ["carol"], "variation": 0}]
    assert flag["environments"][E]["contextTargets"] == []  # a user, whatever it said
