"""A PATCH reads the named contexts' schedules in a batch and writes them back at the end:
the instructions must still see each other's effects, in order, as if applied one by one."""

from __future__ import annotations

from typing import Any

from domain_helpers import (
    HOUR,
    T0,
    E,
    P,
    add_ctx,
    check_counts,
    flag_ctx_patch,
    seg_ctx_patch,
    user_patch,
)

from mock_server.expiring import new_schedule_id
from mock_server.service import plain
from mock_server.storage import Resource, Schedule


def _items(service: Any, key: str = "seg") -> dict[tuple[str, str], dict[str, Any]]:
    listed = plain(service.segment_schedules(P, E, key, users_only=False))["items"]
    return {(i["contextKey"], i["targetType"]): i for i in listed}


def test_add_then_remove_then_add_in_one_request(world, service, kinds) -> None:
    world.segment(included=["alice"])
    result = seg_ctx_patch(service, kinds, [
        add_ctx("alice"),
        {"kind": "removeExpiringTarget", "contextKind": "user", "contextKey": "alice",
         "targetType": "included"},
        add_ctx("alice", T0 + 2 * HOUR),
        add_ctx("alice", T0 + 3 * HOUR),  # already scheduled (by the instruction before)
    ])
    check_counts(result, 4, [3])
    [item] = result["items"]
    assert item["expirationDate"] == T0 + 2 * HOUR and item["_version"] == 1
    assert _items(service) == {("alice", "included"): item}


def test_remove_then_add_replaces_the_schedule(world, service, kinds) -> None:
    world.segment(included=["alice"])
    [first] = seg_ctx_patch(service, kinds, [add_ctx("alice")])["items"]
    result = seg_ctx_patch(service, kinds, [
        {"kind": "removeExpiringTarget", "contextKind": "user", "contextKey": "alice",
         "targetType": "included"},
        add_ctx("alice", T0 + 5 * HOUR),
    ])
    check_counts(result, 2, [])
    [second] = _items(service).values()
    assert second["_id"] != first["_id"] and second["expirationDate"] == T0 + 5 * HOUR


def test_updates_in_one_request_see_each_others_versions(world, service, kinds) -> None:
    world.segment(included=["alice", "bob"])
    seg_ctx_patch(service, kinds, [add_ctx("alice"), add_ctx("bob")])

    def update(key: str, value: int, version: int | None = None) -> dict[str, Any]:
        instruction = {"kind": "updateExpiringTarget", "contextKind": "user", "contextKey": key,
                       "targetType": "included", "value": value}
        if version is not None:
            instruction["version"] = version
        return instruction

    result = seg_ctx_patch(service, kinds, [
        update("alice", T0 + 2 * HOUR, 1),
        update("alice", T0 + 3 * HOUR, 1),  # the first update made it 2
        update("alice", T0 + 4 * HOUR, 2),
        update("bob", T0 + 2 * HOUR),
        update("carol", T0 + 2 * HOUR),  # not scheduled (nor targeted)
    ])
    check_counts(result, 5, [1, 4])
    items = _items(service)
    assert items[("alice", "included")]["_version"] == 3
    assert items[("alice", "included")]["expirationDate"] == T0 + 4 * HOUR
    assert items[("bob", "included")]["_version"] == 2


def test_a_batch_leaves_other_resources_and_contexts_alone(world, service, kinds) -> None:
    world.segment("seg", included=["alice", "bob"])
    world.segment("other", included=["alice"])
    seg_ctx_patch(service, kinds, [add_ctx("alice"), add_ctx("bob")])
    seg_ctx_patch(service, kinds, [add_ctx("alice")], key="other")
    before_other = _items(service, "other")
    result = seg_ctx_patch(service, kinds, [
        {"kind": "removeExpiringTarget", "contextKind": "user", "contextKey": "alice",
         "targetType": "included"},
    ])
    check_counts(result, 1, [])
    assert set(_items(service)) == {("bob", "included")}
    assert _items(service, "other") == before_other


def test_flag_moves_a_schedule_between_variations_within_one_request(world, service, kinds) -> None:
    flag = world.flag(contexts={(0, "device"): ["d1"]})
    var0, var1 = (v["_id"] for v in flag["variations"])

    def flag_add(variation: str, value: int = T0 + HOUR) -> dict[str, Any]:
        return {"kind": "addExpiringTarget", "contextKind": "device", "contextKey": "d1",
                "variationId": variation, "value": value}

    result = flag_ctx_patch(service, kinds, [
        flag_add(var0),
        flag_add(var1),  # not targeted with var1
        {"kind": "removeExpiringTarget", "contextKind": "device", "contextKey": "d1",
         "variationId": var0},
        flag_add(var0, T0 + 2 * HOUR),
    ])
    check_counts(result, 4, [1])
    [item] = result["items"]
    assert item["variationId"] == var0 and item["expirationDate"] == T0 + 2 * HOUR


def test_user_endpoint_batches_across_flags(world, service, kinds) -> None:
    flag_a = world.flag("a", targets={0: ["alice"]})
    flag_b = world.flag("b", targets={1: ["alice"]})
    a0 = flag_a["variations"][0]["_id"]
    b1 = flag_b["variations"][1]["_id"]

    def add(flag: str, variation: str, value: int = T0 + HOUR) -> dict[str, Any]:
        return {"kind": "addExpireUserTargetDate", "flagKey": flag, "variationId": variation,
                "value": value}

    result = user_patch(service, kinds, "alice", [
        add("a", a0), add("b", b1), add("a", a0), add("missing", a0),
        {"kind": "updateExpireUserTargetDate", "flagKey": "b", "variationId": b1,
         "value": T0 + 3 * HOUR, "version": 1},
    ])
    check_counts(result, 5, [2, 3])
    by_flag = {i["_resourceId"]["flagKey"]: i for i in result["items"]}
    assert by_flag["a"]["expirationDate"] == T0 + HOUR
    assert by_flag["b"]["expirationDate"] == T0 + 3 * HOUR and by_flag["b"]["_version"] == 2


def test_store_batch_writes_delete_before_insert(store) -> None:
    res = Resource("segment", P, E, "s")
    old = Schedule(new_schedule_id(), res, "user", "alice", "included", "", 1, T0 + HOUR)
    store.write(lambda tx: tx.write_schedules([], [], [old]))
    new = Schedule(new_schedule_id(), res, "user", "alice", "included", "", 1, T0 + 2 * HOUR)

    def replace(tx: Any) -> list[Schedule]:  # same target, new _id: the delete must go first
        tx.write_schedules([old.id], [], [new])
        return tx.context_schedules(res, "user", ["alice", "bob"])

    assert store.write(replace) == [new]
    new.version, new.expiration_date = 2, T0 + 3 * HOUR
    store.write(lambda tx: tx.write_schedules([], [new], []))
    assert store.read(lambda tx: tx.schedules_for(res)) == [new]
    assert store.read(lambda tx: tx.context_schedules(
        res, "user", [f"k{i}" for i in range(1200)])) == []
