"""Tier 3: the kit mock's own answers to what the documents leave open (docs/mock-server.md,
"Reference policy"), and expiry on its settable clock. Runs only against the kit's mock.

Each test works on a segment and flag of its own (`fresh`), through the five semantic PATCHes
as `generated.operations` describes them; a departure raises `PolicyViolation`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from generated.operations import OPERATIONS

from .actions import context_family, patch
from .checks import (
    ContractViolation,
    PolicyViolation,
    check_200_with_errors,
    check_counts,
    check_error_body,
    check_error_indices,
    check_status,
)
from .conftest import Suite
from .families import FAMILIES, Family, schedule_key
from .observe import call, read_schedules, read_targeted, read_user_schedules, segment_version
from .plans import DAY_MS
from .provisioning import Provisioned, Slot

pytestmark = pytest.mark.tier3

FAMILY_IDS = sorted(FAMILIES)


# -- helpers ----------------------------------------------------------------------------------


def _send(suite: Suite, family: Family, p: Provisioned, instructions: list[dict[str, Any]],
          path_params: dict[str, str] | None = None) -> tuple[dict[str, Any], set[int]]:
    """A PATCH that must be well-formed (200); returns the body and the failed indices."""
    response = patch(suite.api, family, p, instructions, path_params)
    body = check_200_with_errors(response, len(instructions))
    check_counts(body, len(instructions))
    return body, check_error_indices(body, len(instructions))


def _add(family: Family, p: Provisioned, slot: Slot, date: int) -> dict[str, Any]:
    return {"kind": family.add.name, **family.address(slot, p, family.add), "value": date}


def _update(suite: Suite, family: Family, p: Provisioned, slot: Slot,
            date: int) -> dict[str, Any]:
    """An update carrying the version it needs (the segment's, where that is required)."""
    instruction = {"kind": family.update.name, **family.address(slot, p, family.update),
                   "value": date}
    if family.update.version_of == "segment":
        instruction["version"] = segment_version(suite.api, p)
    return instruction


def _remove(family: Family, p: Provisioned, slot: Slot) -> dict[str, Any]:
    return {"kind": family.remove.name, **family.address(slot, p, family.remove)}


def _expect(policy: str, holds: bool, message: str) -> None:
    if not holds:
        raise PolicyViolation(policy, message)


def _dates(suite: Suite, family: Family, p: Provisioned) -> dict[Any, int]:
    return {k: date for k, (date, _) in read_schedules(suite.api, family, p).items()}


@pytest.fixture
def fixed_clock(suite: Suite) -> Iterator[int]:
    """The mock's clock fixed at the current time; always back to real time afterwards."""
    now = suite.target.now_ms()
    suite.target.set_clock(now)
    try:
        yield now
    finally:
        suite.target.reset_clock()


def _limits(suite: Suite) -> Any:
    config = getattr(suite.target.app, "config", None)
    if config is None:  # the mock as a process: its documented default configuration
        from mock_server.config import load_config

        config = load_config()
    return config.limits


# -- add, update, remove on what is or is not scheduled ---------------------------------------


@pytest.mark.parametrize("operation_id", FAMILY_IDS)
def test_add_on_scheduled_target_fails(suite: Suite, fresh: Provisioned,
                                       operation_id: str) -> None:
    family, p = FAMILIES[operation_id], fresh
    slot, now = family.slots(p)[0], suite.target.now_ms()
    _send(suite, family, p, [_add(family, p, slot, now + DAY_MS)])
    _, failed = _send(suite, family, p, [_add(family, p, slot, now + 2 * DAY_MS)])
    _expect("add-on-scheduled", failed == {0}, "a second add on a scheduled target succeeded")
    dates = _dates(suite, family, p)
    _expect("add-on-scheduled", dates.get(family.key_of(slot)) == now + DAY_MS,
            f"the failed add changed the schedule: {dates}")


@pytest.mark.parametrize("operation_id", FAMILY_IDS)
def test_update_of_unscheduled_target_fails(suite: Suite, fresh: Provisioned,
                                            operation_id: str) -> None:
    family, p = FAMILIES[operation_id], fresh
    slot = family.slots(p)[0]
    _, failed = _send(suite, family, p,
                      [_update(suite, family, p, slot, suite.target.now_ms() + DAY_MS)])
    _expect("update-unscheduled", failed == {0}, "an update of an unscheduled target succeeded")
    _expect("update-unscheduled", not _dates(suite, family, p),
            "the failed update created a schedule")


@pytest.mark.parametrize("operation_id", FAMILY_IDS)
def test_remove_of_unscheduled_target_is_a_no_op(suite: Suite, fresh: Provisioned,
                                                 operation_id: str) -> None:
    family, p = FAMILIES[operation_id], fresh
    slot = family.slots(p)[0]
    instructions = [_remove(family, p, slot)]
    key_fields = [f for f in ("userKey", "contextKey") if f in family.remove.required]
    if key_fields:  # and of a context targeted nowhere
        instructions.append({**_remove(family, p, slot),
                             **dict.fromkeys(key_fields, p.untargeted_key)})
    _, failed = _send(suite, family, p, instructions)
    _expect("remove-unscheduled", not failed,
            f"removing unscheduled targets failed instructions {sorted(failed)}")
    _expect("remove-unscheduled", not _dates(suite, family, p), "a no-op remove scheduled")
    _expect("remove-unscheduled", family.key_of(slot) in read_targeted(suite.api, family, p),
            "a no-op remove took the context out of the targeting")


@pytest.mark.parametrize("operation_id", FAMILY_IDS)
def test_date_at_or_before_now_fails(suite: Suite, fresh: Provisioned, fixed_clock: int,
                                     operation_id: str) -> None:
    family, p, now = FAMILIES[operation_id], fresh, fixed_clock
    slot = family.slots(p)[0]
    _, failed = _send(suite, family, p, [_add(family, p, slot, now),
                                         _add(family, p, slot, now - 1)])
    _expect("past-dates", failed == {0, 1}, f"adds dated now / before now: failed {failed}")
    _expect("past-dates", not _dates(suite, family, p), "a past-dated add scheduled something")
    _send(suite, family, p, [_add(family, p, slot, now + 1)])
    _, failed = _send(suite, family, p, [_update(suite, family, p, slot, now)])
    _expect("past-dates", failed == {0}, "an update to a date at now succeeded")
    dates = _dates(suite, family, p)
    _expect("past-dates", dates == {family.key_of(slot): now + 1},
            f"the failed update changed the schedule: {dates}")


# -- what the GETs and the PATCH answers hold --------------------------------------------------


def _listed(suite: Suite, family: Family, p: Provisioned) -> dict[Any, dict[str, Any]]:
    """The family's GET, keyed by (resource key, schedule key)."""
    got = call(suite.api, family.get, **family.path_params(p))
    check_status("successful-take-effect", got, 200, f"GET {family.get.operation_id}")
    return {((i.get("_resourceId") or {}).get("key"), schedule_key(i)): i
            for i in got.json()["items"]}


@pytest.mark.parametrize("operation_id", FAMILY_IDS)
def test_items_are_ordered_and_patch_answers_with_the_touched_schedules(
        suite: Suite, fresh: Provisioned, operation_id: str) -> None:
    family, p = FAMILIES[operation_id], fresh
    slots = list(reversed(family.slots(p)))  # scheduled against the documented order
    resource_key = p.segment_key if family.resource == "segment" else p.flag_key

    def expected(touched: list[Slot]) -> list[dict[str, Any]]:
        """The touched schedules as the GET shows them, in instruction order."""
        listed = _listed(suite, family, p)
        return [listed[(resource_key, family.key_of(s))] for s in touched]

    now = suite.target.now_ms()
    adds = [_add(family, p, s, now + (i + 1) * DAY_MS) for i, s in enumerate(slots)]
    body, failed = _send(suite, family, p, [*adds, adds[0]])  # the repeat fails: no item
    _expect("add-on-scheduled", failed == {len(adds)}, f"failed instructions {failed}")
    want = expected(slots)
    _expect("items-after-patch", body.get("items") == want,
            f"PATCH items {body.get('items')!r:.300} differ from the touched schedules as the"
            f" GET shows them, in instruction order: {want!r:.300}")
    for name, listed in (("GET", call(suite.api, family.get, **family.path_params(p)).json()[
            "items"]), ("context GET", call(
            suite.api, family.state_get, **family.state_params(p)).json()["items"])):
        keys = [schedule_key(i) for i in listed]
        _expect("items-order", keys == sorted(keys),
                f"{name} lists schedules out of order: {keys}")
    # an update lists its schedule; a successful remove leaves none, so it adds no item
    instructions = [_update(suite, family, p, slots[-1], now + 9 * DAY_MS)]
    instructions += [_remove(family, p, s) for s in slots[:-1]]
    body, failed = _send(suite, family, p, instructions)
    _expect("items-after-patch", not failed, f"update and removes failed {sorted(failed)}")
    want = expected(slots[-1:])
    _expect("items-after-patch", body.get("items") == want,
            f"PATCH items {body.get('items')!r:.300} after an update and removes, expected"
            f" {want!r:.300}")


def test_user_endpoint_orders_by_flag_key(suite: Suite, fresh: Provisioned) -> None:
    family, p = FAMILIES[next(i for i in FAMILY_IDS if FAMILIES[i].resource == "user")], fresh
    other = suite.provisioning.create()
    user = family.user_key(p)
    setup = OPERATIONS["patchFeatureFlag"]
    assert "addTargets" in setup.instructions
    response = suite.api.patch_feature_flag(
        project_key=p.project, feature_flag_key=other.flag_key,
        body={"environmentKey": p.environment, "instructions": [
            {"kind": "addTargets", "variationId": other.variation_ids[0], "contextKind": "user",
             "values": [user]}]})
    check_status("successful-take-effect", response, 200, "targeting the user on a 2nd flag")
    now = suite.target.now_ms()
    flags = sorted([(p, family.slots(p)[0]),
                    (other, Slot("user", user, variation_id=other.variation_ids[0]))],
                   key=lambda pair: pair[0].flag_key, reverse=True)
    _send(suite, family, p, [_add(family, q, slot, now + DAY_MS) for q, slot in flags])
    items = call(suite.api, family.get, **family.path_params(p)).json()["items"]
    keys = [(i.get("_resourceId") or {}).get("key") for i in items]
    _expect("items-order", keys == sorted(q.flag_key for q, _ in flags),
            f"the user endpoint lists flags {keys}")


def _versions(suite: Suite, p: Provisioned) -> dict[str, Any]:
    segment = suite.api.get_segment(project_key=p.project, environment_key=p.environment,
                                    segment_key=p.segment_key).json()
    flag = suite.api.get_feature_flag(project_key=p.project, feature_flag_key=p.flag_key).json()
    return {"segment version": segment.get("version"), "flag _version": flag.get("_version"),
            "environment version": flag["environments"][p.environment].get("version")}


def test_versions_unchanged_when_only_schedules_change(suite: Suite, fresh: Provisioned) -> None:
    p = fresh
    before = _versions(suite, p)
    now = suite.target.now_ms()
    for operation_id in FAMILY_IDS:
        family = FAMILIES[operation_id]
        slot = family.slots(p)[-1]
        for instruction in (_add(family, p, slot, now + DAY_MS),
                            _update(suite, family, p, slot, now + 2 * DAY_MS),
                            _remove(family, p, slot)):
            _, failed = _send(suite, family, p, [instruction])
            if failed:
                raise ContractViolation("successful-take-effect",
                                        f"{operation_id} {instruction['kind']} failed")
    after = _versions(suite, p)
    _expect("versions-unchanged", before == after,
            f"schedule changes moved resource versions: {before} -> {after}")


# -- limits -----------------------------------------------------------------------------------


@pytest.mark.parametrize("operation_id", FAMILY_IDS)
def test_instruction_limit(suite: Suite, fresh: Provisioned, operation_id: str) -> None:
    family, p, limit = FAMILIES[operation_id], fresh, _limits(suite).max_instructions
    slot, now = family.slots(p)[0], suite.target.now_ms()
    add = _add(family, p, slot, now + DAY_MS)
    response = patch(suite.api, family, p, [add] * (limit + 1))
    check_status("well-formed-or-400", response, 400, f"{limit + 1} instructions")
    check_error_body("well-formed-or-400", response, "invalid_request")
    _expect("max-instructions", not _dates(suite, family, p),
            "a refused over-long patch applied instructions")
    _, failed = _send(suite, family, p, [add] * limit)
    _expect("max-instructions", failed == set(range(1, limit)),
            f"{limit} instructions: the first add must succeed, the repeats fail")


@pytest.mark.parametrize("operation_id", FAMILY_IDS)
def test_body_size_limit(suite: Suite, fresh: Provisioned, operation_id: str) -> None:
    family, p, limit = FAMILIES[operation_id], fresh, _limits(suite).max_body_bytes
    add = _add(family, p, family.slots(p)[0], suite.target.now_ms() + DAY_MS)
    response = call(suite.api, family.operation, **family.path_params(p),
                    body={"instructions": [add], "comment": "x" * limit})
    check_status("well-formed-or-400", response, 400, f"a body over {limit} bytes")
    check_error_body("well-formed-or-400", response, "invalid_request")
    _expect("max-body-bytes", not _dates(suite, family, p), "a refused body applied")


# -- expiry and setup PATCHes ------------------------------------------------------------------


def test_expiry_removes_target_and_schedule(suite: Suite, fresh: Provisioned,
                                            fixed_clock: int) -> None:
    p, now = fresh, fixed_clock
    owners: dict[str, Family] = {f.resource: f for f in map(context_family, FAMILIES.values())}
    user_gets: dict[str, Family] = {f.resource: f for f in FAMILIES.values() if f.resource != "user" and f.users_only}
    plan = {}
    for resource, owner in owners.items():
        users = p.user_slots(owner.slots(p))
        due, later = users[0], users[1]  # kind user: in the user and the context lists
        _send(suite, owner, p, [_add(owner, p, due, now + 1_000),
                                _add(owner, p, later, now + DAY_MS)])
        plan[resource] = (owner, due, later)
    before = _versions(suite, p)
    suite.target.set_clock(now + 1_000)  # "now" reaches the first date: it expires
    for resource, (owner, due, later) in plan.items():
        dates = _dates(suite, owner, p)
        _expect("expiry", dates == {owner.key_of(later): now + DAY_MS},
                f"{resource}: schedules after the first date passed: {dates}")
        targeted = read_targeted(suite.api, owner, p)
        _expect("expiry", owner.key_of(due) not in targeted,
                f"{resource}: {due.context_key} is still targeted after its schedule expired")
        _expect("expiry", owner.key_of(later) in targeted,
                f"{resource}: {later.context_key} left before its date")
        listed = read_user_schedules(suite.api, user_gets[resource], p)
        _expect("expiry", owner.key_of(due) not in listed,
                f"{resource}: the user GET still lists the expired schedule")
    after = _versions(suite, p)
    _expect("expiry", all(after[k] == before[k] + 1 for k in before),
            f"expiry should add one to each version: {before} -> {after}")


def test_target_removed_by_setup_patch_loses_its_schedule(suite: Suite,
                                                          fresh: Provisioned) -> None:
    p, now = fresh, suite.target.now_ms()
    segment_owner = context_family(next(f for f in FAMILIES.values() if f.resource == "segment"))
    flag_owner = context_family(next(f for f in FAMILIES.values() if f.resource == "flag"))
    segment_slot = next(s for s in p.segment_slots if s.context_kind != "user")
    flag_slot = next(s for s in p.flag_slots if s.context_kind != "user")
    _send(suite, segment_owner, p, [_add(segment_owner, p, segment_slot, now + DAY_MS)])
    _send(suite, flag_owner, p, [_add(flag_owner, p, flag_slot, now + DAY_MS)])
    segment_kind = f"remove{(segment_slot.target_type or '').capitalize()}Targets"
    assert segment_kind in OPERATIONS["patchSegment"].instructions
    assert "removeTargets" in OPERATIONS["patchFeatureFlag"].instructions
    check_status("successful-take-effect", suite.api.patch_segment(
        project_key=p.project, environment_key=p.environment, segment_key=p.segment_key,
        body={"instructions": [{"kind": segment_kind, "contextKind": segment_slot.context_kind,
                                "values": [segment_slot.context_key]}]}), 200, "untarget")
    check_status("successful-take-effect", suite.api.patch_feature_flag(
        project_key=p.project, feature_flag_key=p.flag_key,
        body={"environmentKey": p.environment, "instructions": [
            {"kind": "removeTargets", "variationId": flag_slot.variation_id,
             "contextKind": flag_slot.context_kind, "values": [flag_slot.context_key]}]}),
        200, "untarget")
    for owner in (segment_owner, flag_owner):
        dates = _dates(suite, owner, p)
        _expect("untargeted-loses-schedule", not dates,
                f"{owner.state_get.operation_id} still lists {dates} after the targets left")
