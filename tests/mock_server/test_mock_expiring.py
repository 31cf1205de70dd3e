"""Domain tests of the expiring-target semantics (tiers 2 and 3), without HTTP."""

from __future__ import annotations

import pytest
from domain_helpers import (
    HOUR,
    T0,
    E,
    P,
    add_ctx,
    add_user,
    check_counts,
    flag_ctx_patch,
    flag_user_patch,
    seg_ctx_patch,
    seg_user_patch,
    user_patch,
)

from mock_server.errors import DomainError
from mock_server.service import plain

# 200-with-errors ------------------------------------------------------------


def test_mixed_request_reports_failures_by_index_and_applies_the_rest(world, service, kinds) -> None:
    world.segment(included=["alice", "bob"])
    result = seg_user_patch(service, kinds, [
        add_user("alice"),
        add_user("carol"),  # not targeted
        add_user("bob", target_type="excluded"),  # targeted in the other list only
        add_user("bob"),
    ])
    check_counts(result, 4, [1, 2])
    assert "not individually targeted" in result["errors"][0]["message"]
    scheduled = {i["userKey"] for i in plain(service.segment_schedules(P, E, "seg", users_only=True))["items"]}
    assert scheduled == {"alice", "bob"}


def test_every_instruction_failing_is_still_a_result(world, service, kinds) -> None:
    world.segment(included=["alice"])
    result = seg_ctx_patch(service, kinds, [add_ctx("nobody"), add_ctx("alice", kind="org")])
    check_counts(result, 2, [0, 1])
    assert result["items"] == []


def test_missing_value_where_the_kind_needs_it_fails_that_instruction(world, service, kinds) -> None:
    world.segment(included=["alice"])
    instruction = add_user("alice")
    del instruction["value"]
    result = seg_user_patch(service, kinds, [instruction, add_user("alice")])
    check_counts(result, 2, [0])
    assert "value" in result["errors"][0]["message"]


# versions -------------------------------------------------------------------


def test_segment_user_update_needs_the_segments_version(world, service, kinds) -> None:
    segment = world.segment(included=["alice"])
    seg_user_patch(service, kinds, [add_user("alice")])
    update = {"kind": "updateExpireUserTargetDate", "userKey": "alice", "targetType": "included",
              "value": T0 + 2 * HOUR}
    result = seg_user_patch(service, kinds, [
        update,  # no version: required for seed 000
        {**update, "version": segment["version"] + 7},  # mismatch
        {**update, "version": segment["version"]},
    ])
    check_counts(result, 3, [0, 1])
    [item] = result["items"]
    assert item["expirationDate"] == T0 + 2 * HOUR and item["_version"] == 2
    # schedules do not change the segment's version (tier 3)
    assert service.get_segment(P, E, "seg")["version"] == segment["version"]


def test_context_update_checks_the_schedules_version_when_given(world, service, kinds) -> None:
    world.segment(included=["alice"])
    [created] = seg_ctx_patch(service, kinds, [add_ctx("alice")])["items"]
    assert created["_version"] == 1
    update = {"kind": "updateExpiringTarget", "contextKind": "user", "contextKey": "alice",
              "targetType": "included", "value": T0 + 3 * HOUR}
    result = seg_ctx_patch(service, kinds, [
        {**update, "version": 5},
        {**update, "version": 1},
        update,  # optional
    ])
    check_counts(result, 3, [0])
    [item] = result["items"]
    assert item["_version"] == 3 and item["_id"] == created["_id"]


def test_update_of_an_unscheduled_target_fails(world, service, kinds) -> None:
    world.segment(included=["alice"])
    result = seg_ctx_patch(service, kinds, [{
        "kind": "updateExpiringTarget", "contextKind": "user", "contextKey": "alice",
        "targetType": "included", "value": T0 + HOUR}])
    check_counts(result, 1, [0])


# tier 3 ----------------------------------------------------------------------


def test_add_on_an_already_scheduled_target_fails(world, service, kinds) -> None:
    world.segment(included=["alice"])
    result = seg_ctx_patch(service, kinds, [add_ctx("alice"), add_ctx("alice", T0 + 2 * HOUR)])
    check_counts(result, 2, [1])
    assert result["items"][0]["expirationDate"] == T0 + HOUR


def test_dates_at_or_before_now_fail(world, service, kinds) -> None:
    world.segment(included=["alice", "bob"])
    result = seg_ctx_patch(service, kinds, [add_ctx("alice", T0), add_ctx("bob", T0 - 1)])
    check_counts(result, 2, [0, 1])
    assert "future" in result["errors"][0]["message"]


def test_remove_clears_the_schedule_keeps_the_target_and_is_a_noop_when_unscheduled(
    world, service, kinds
) -> None:
    world.segment(included=["alice"])
    seg_ctx_patch(service, kinds, [add_ctx("alice")])
    remove = {"kind": "removeExpiringTarget", "contextKind": "user", "contextKey": "alice",
              "targetType": "included"}
    result = seg_ctx_patch(service, kinds, [remove, remove])
    check_counts(result, 2, [])
    assert result["items"] == []
    assert service.get_segment(P, E, "seg")["included"] == ["alice"]


def test_patch_items_are_the_touched_schedules_in_instruction_order(world, service, kinds) -> None:
    world.segment(included=["b", "a", "c", "d"], excluded=["a"], contexts={"org": ["z"]})
    seg_ctx_patch(service, kinds, [add_ctx("c")])  # not touched below: not in the answer
    remove = {"kind": "removeExpiringTarget", "contextKind": "user", "targetType": "included"}
    result = seg_ctx_patch(service, kinds, [
        add_ctx("z", kind="org"), add_ctx("b"), add_ctx("a", target_type="excluded"), add_ctx("a"),
        add_ctx("nobody"),  # fails: no item
        {"kind": "updateExpiringTarget", "contextKind": "user", "contextKey": "b",
         "targetType": "included", "value": T0 + 2 * HOUR},  # b again: listed once, as it ends
        {**remove, "contextKey": "c"},  # a successful remove leaves no schedule: no item
        add_ctx("d"), {**remove, "contextKey": "d"},  # added, then removed again: no item
    ])
    check_counts(result, 9, [4])
    order = [(i["contextKind"], i["contextKey"], i["targetType"]) for i in result["items"]]
    assert order == [("org", "z", "included"), ("user", "b", "included"),
                     ("user", "a", "excluded"), ("user", "a", "included")]
    listed = plain(service.segment_schedules(P, E, "seg", users_only=False))["items"]
    assert [(i["contextKind"], i["contextKey"], i["targetType"]) for i in listed] == sorted(order)
    by_key = {(i["contextKind"], i["contextKey"], i["targetType"]): i for i in listed}
    assert result["items"] == [by_key[k] for k in order]  # as the GET shows them
    assert by_key[("user", "b", "included")]["_version"] == 2
    assert seg_ctx_patch(service, kinds, [])["items"] == []


def test_patch_items_on_the_user_endpoints_have_the_user_shape(world, service, kinds) -> None:
    flag = world.flag(targets={0: ["alice", "bob"]})
    world.flag("other", targets={0: ["alice"]})
    world.segment(included=["alice", "bob"])
    var0 = flag["variations"][0]["_id"]
    other0 = service.get_flag(P, "other")["variations"][0]["_id"]

    def flag_add(user: str, flag_key: str | None = None, variation: str = var0) -> dict:
        add = {"kind": "addExpireUserTargetDate", "userKey": user, "variationId": variation,
               "value": T0 + HOUR}
        return add if flag_key is None else {**add, "flagKey": flag_key}

    seg_user_patch(service, kinds, [add_user("bob")])
    [item] = seg_user_patch(service, kinds, [add_user("alice")])["items"]
    assert item == {i["userKey"]: i for i in plain(service.segment_schedules(
        P, E, "seg", users_only=True))["items"]}["alice"]
    flag_user_patch(service, kinds, [flag_add("bob")])
    [item] = flag_user_patch(service, kinds, [flag_add("alice")])["items"]
    assert item["userKey"] == "alice" and "contextKey" not in item
    user_patch(service, kinds, "alice", [flag_add("alice", "other", other0)])
    result = user_patch(service, kinds, "alice", [
        {"kind": "updateExpireUserTargetDate", "flagKey": "flag", "variationId": var0,
         "value": T0 + 2 * HOUR}])
    [item] = result["items"]  # the schedule on "other" is not touched: not listed
    assert item == {i["_resourceId"]["key"]: i for i in plain(service.user_schedules(
        P, E, "alice"))["items"]}["flag"]


def test_instruction_count_over_the_limit_is_a_400(world, service, kinds) -> None:
    world.segment(included=["alice"])
    limit = service.config.limits.max_instructions
    with pytest.raises(DomainError) as caught:
        seg_ctx_patch(service, kinds, [add_ctx("alice")] * (limit + 1))
    assert caught.value.status == 400 and str(limit) in caught.value.message
    assert plain(service.segment_schedules(P, E, "seg", users_only=False))["items"] == []


# users are contexts ------------------------------------------------------------


def test_user_and_context_endpoints_share_schedules_on_segments(world, service, kinds) -> None:
    world.segment(contexts={"user": ["alice"]})  # a user in includedContexts counts
    seg_user_patch(service, kinds, [add_user("alice")])
    [item] = plain(service.segment_schedules(P, E, "seg", users_only=False))["items"]
    assert (item["contextKind"], item["contextKey"]) == ("user", "alice")
    result = seg_ctx_patch(service, kinds, [add_ctx("alice")])
    check_counts(result, 1, [0])  # already scheduled through the user endpoint


def test_user_endpoints_list_only_user_contexts(world, service, kinds) -> None:
    world.segment(included=["alice"], contexts={"org": ["acme"]})
    seg_ctx_patch(service, kinds, [add_ctx("alice"), add_ctx("acme", kind="org")])
    users = plain(service.segment_schedules(P, E, "seg", users_only=True))["items"]
    assert [i["userKey"] for i in users] == ["alice"]


def test_flag_user_targets_and_context_targets_share_schedules(world, service, kinds) -> None:
    flag = world.flag(targets={0: ["alice"]})
    var0 = flag["variations"][0]["_id"]
    flag_user_patch(service, kinds, [{"kind": "addExpireUserTargetDate", "userKey": "alice",
                                      "variationId": var0, "value": T0 + HOUR}])
    result = flag_ctx_patch(service, kinds, [{
        "kind": "updateExpiringTarget", "contextKind": "user", "contextKey": "alice",
        "variationId": var0, "value": T0 + 2 * HOUR, "version": 1}])
    check_counts(result, 1, [])
    [item] = plain(service.user_schedules(P, E, "alice"))["items"]
    assert item["expirationDate"] == T0 + 2 * HOUR and item["_version"] == 2
    assert item["_resourceId"]["key"] == "flag"


# flags ----------------------------------------------------------------------------


def test_flag_schedules_need_targeting_with_that_variation_and_a_known_variation(
    world, service, kinds
) -> None:
    flag = world.flag(targets={0: ["alice"]}, contexts={(1, "org"): ["acme"]})
    var0, var1 = (v["_id"] for v in flag["variations"])

    def add(key: str, kind: str, variation: str) -> dict:
        return {"kind": "addExpiringTarget", "contextKind": kind, "contextKey": key,
                "variationId": variation, "value": T0 + HOUR}

    result = flag_ctx_patch(service, kinds, [
        add("alice", "user", var1),  # targeted with the other variation
        add("alice", "user", "no-such-variation"),
        add("acme", "org", var1),
        add("alice", "user", var0),
        {"kind": "explode"},  # free-form instructions: an unknown kind fails only itself
    ])
    check_counts(result, 5, [0, 1, 4])
    assert "unknown variation" in result["errors"][1]["message"]
    assert "unknown instruction kind" in result["errors"][2]["message"]
    assert {(i["contextKey"], i["variationId"]) for i in result["items"]} == {
        ("acme", var1), ("alice", var0)}


def test_a_flag_schedules_a_context_on_at_most_one_variation(world, service, kinds) -> None:
    flag = world.flag(targets={0: ["alice"]})
    var0, var1 = (v["_id"] for v in flag["variations"])
    flag_user_patch(service, kinds, [{"kind": "addExpireUserTargetDate", "userKey": "alice",
                                      "variationId": var0, "value": T0 + HOUR}])
    # move alice to variation 1 by JSON patch: her schedule on variation 0 goes with her
    service.patch_flag(P, "flag", [
        {"op": "replace", "path": "/environments/test/targets",
         "value": [{"variation": 1, "values": ["alice"]}]}], kinds("patch_feature_flag"))
    assert plain(service.flag_schedules(P, E, "flag", users_only=True))["items"] == []
    result = flag_user_patch(service, kinds, [
        {"kind": "addExpireUserTargetDate", "userKey": "alice", "variationId": var1,
         "value": T0 + HOUR},
        {"kind": "addExpireUserTargetDate", "userKey": "alice", "variationId": var0,
         "value": T0 + HOUR},
    ])
    check_counts(result, 2, [1])
    assert [i["variationId"] for i in result["items"]] == [var1]


def test_user_endpoint_reports_unknown_flags_per_instruction_and_404s_unknown_users(
    world, service, kinds
) -> None:
    flag = world.flag(targets={0: ["alice"]})
    var0 = flag["variations"][0]["_id"]
    result = user_patch(service, kinds, "alice", [
        {"kind": "addExpireUserTargetDate", "flagKey": "ghost", "variationId": var0,
         "value": T0 + HOUR},
        {"kind": "addExpireUserTargetDate", "flagKey": "flag", "variationId": var0,
         "value": T0 + HOUR},
    ])
    check_counts(result, 2, [0])
    assert "unknown flag" in result["errors"][0]["message"]
    with pytest.raises(DomainError) as caught:
        plain(service.user_schedules(P, E, "stranger"))
    assert caught.value.status == 404 and "user" in caught.value.message


@pytest.mark.parametrize("call", ["segment", "flag", "project", "environment"])
def test_unknown_resources_are_404s_that_say_which(service, call) -> None:
    calls = {
        "segment": lambda: plain(service.segment_schedules(P, E, "nope", users_only=False)),
        "flag": lambda: plain(service.flag_schedules(P, E, "nope", users_only=False)),
        "project": lambda: service.get_segment("nope", E, "seg"),
        "environment": lambda: service.get_flag(P, "flag", "nope"),
    }
    with pytest.raises(DomainError) as caught:
        calls[call]()
    assert caught.value.status == 404 and call in caught.value.message


# expiry -------------------------------------------------------------------------


def test_due_schedules_remove_the_target_lazily_and_bump_the_version(
    world, service, kinds, clock
) -> None:
    before = world.segment(included=["alice", "bob"])
    seg_ctx_patch(service, kinds, [add_ctx("alice", T0 + HOUR), add_ctx("bob", T0 + 2 * HOUR)])
    clock.set(T0 + HOUR)  # alice's date has come (<= now), bob's not
    segment = service.get_segment(P, E, "seg")
    assert segment["included"] == ["bob"] and segment["version"] == before["version"] + 1
    assert [i["contextKey"] for i in plain(service.segment_schedules(P, E, "seg", users_only=False))["items"]] == ["bob"]


def test_expiry_applies_to_flags_before_a_write(world, service, kinds, clock) -> None:
    flag = world.flag(targets={0: ["alice", "bob"]})
    var0 = flag["variations"][0]["_id"]
    flag_user_patch(service, kinds, [{"kind": "addExpireUserTargetDate", "userKey": "alice",
                                      "variationId": var0, "value": T0 + HOUR}])
    clock.set(T0 + 2 * HOUR)
    result = flag_user_patch(service, kinds, [{"kind": "addExpireUserTargetDate",
                                               "userKey": "alice", "variationId": var0,
                                               "value": T0 + 3 * HOUR}])
    check_counts(result, 1, [0])  # alice already left the targeting
    after = service.get_flag(P, "flag")
    assert after["environments"]["test"]["targets"] == [{"values": ["bob"], "variation": 0}]
    assert after["_version"] == flag["_version"] + 1
    assert after["environments"]["test"]["version"] == flag["environments"]["test"]["version"] + 1
    assert after["environments"]["production"] == flag["environments"]["production"]
