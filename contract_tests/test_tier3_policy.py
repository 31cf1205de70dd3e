"""Tier 3: the kit mock's own answers to what the documents leave open (docs/mock-server.md,
"Reference policy"), and expiry on its settable clock. Runs only against the kit's mock.

The answers are the mock's configured policy (mock_server/policy.py), which it reports at
`/_admin/policy`; `--expect-policy VARIANT` makes tier 3 check another one instead (the
self-test in tests/contract_policy shows that every variant passes under its own policy and
fails under any other). Each test works on a segment and flag of its own (`fresh`), through the
five semantic PATCHes as `generated.operations` describes them; a departure raises
`PolicyViolation`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from generated.operations import OPERATIONS, SEMANTIC_PATCH_MEDIA_TYPE
from mock_server.policy import VARIANTS, Policy
from mock_server.wire_policy import ALTERNATIVE_CODES

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
from .raw import raw_request

# the kit mock's clock is shared: with workers (WORKERS=N) these tests all run in one of them
pytestmark = [pytest.mark.tier3, pytest.mark.xdist_group("kit-mock-clock")]

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


def _schedule_first(suite: Suite, family: Family, p: Provisioned) -> tuple[Slot, int]:
    """Schedule the first slot a day ahead, for a test on what is scheduled; returns the slot
    and the time its date counts from."""
    slot, now = family.slots(p)[0], suite.target.now_ms()
    _send(suite, family, p, [_add(family, p, slot, now + DAY_MS)])
    return slot, now


def _code(policy: Policy, reference: str) -> str:
    """The error `code` the mock sends under `policy` where the reference sends `reference`."""
    return ALTERNATIVE_CODES[reference] if policy.error_codes == "alternative" else reference


def _expect(policy: str, holds: bool, message: str) -> None:
    if not holds:
        raise PolicyViolation(policy, message)


def _dates(suite: Suite, family: Family, p: Provisioned) -> dict[Any, int]:
    return {k: date for k, (date, _) in read_schedules(suite.api, family, p).items()}


@pytest.fixture(scope="module")
def policy(suite: Suite) -> Policy:
    """The policy tier 3 holds the mock to: --expect-policy, else the one it reports."""
    if suite.settings.expect_policy is not None:
        return VARIANTS[suite.settings.expect_policy]
    reported = suite.target.policy()
    return Policy(**{k: v for k, v in reported.items() if k != "name"})


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
def test_add_on_scheduled_target(suite: Suite, fresh: Provisioned, policy: Policy,
                                 operation_id: str) -> None:
    family, p = FAMILIES[operation_id], fresh
    slot, now = _schedule_first(suite, family, p)
    _, failed = _send(suite, family, p, [_add(family, p, slot, now + 2 * DAY_MS)])
    replaces = policy.add_on_scheduled == "replace"
    _expect("add-on-scheduled", failed == (set() if replaces else {0}),
            f"a second add on a scheduled target (policy {policy.add_on_scheduled}): "
            f"failed {failed}")
    dates = _dates(suite, family, p)
    want = now + (2 if replaces else 1) * DAY_MS
    _expect("add-on-scheduled", dates.get(family.key_of(slot)) == want,
            f"after a second add (policy {policy.add_on_scheduled}) the schedule is {dates}")


@pytest.mark.parametrize("operation_id", FAMILY_IDS)
def test_update_of_unscheduled_target(suite: Suite, fresh: Provisioned, policy: Policy,
                                      operation_id: str) -> None:
    family, p = FAMILIES[operation_id], fresh
    slot, date = family.slots(p)[0], suite.target.now_ms() + DAY_MS
    _, failed = _send(suite, family, p, [_update(suite, family, p, slot, date)])
    creates = policy.update_unscheduled == "create"
    _expect("update-unscheduled", failed == (set() if creates else {0}),
            f"an update of an unscheduled target (policy {policy.update_unscheduled}): "
            f"failed {failed}")
    want = {family.key_of(slot): date} if creates else {}
    dates = _dates(suite, family, p)
    _expect("update-unscheduled", dates == want,
            f"after an update of an unscheduled target (policy {policy.update_unscheduled}) "
            f"the schedules are {dates}")


@pytest.mark.parametrize("operation_id", FAMILY_IDS)
def test_remove_of_unscheduled_target(suite: Suite, fresh: Provisioned, policy: Policy,
                                      operation_id: str) -> None:
    family, p = FAMILIES[operation_id], fresh
    slot = family.slots(p)[0]
    instructions = [_remove(family, p, slot)]
    key_fields = [f for f in ("userKey", "contextKey") if f in family.remove.required]
    if key_fields:  # and of a context targeted nowhere
        instructions.append({**_remove(family, p, slot),
                             **dict.fromkeys(key_fields, p.untargeted_key)})
    _, failed = _send(suite, family, p, instructions)
    want = set(range(len(instructions))) if policy.remove_unscheduled == "fail" else set()
    _expect("remove-unscheduled", failed == want,
            f"removing unscheduled targets (policy {policy.remove_unscheduled}): failed "
            f"{sorted(failed)}")
    _expect("remove-unscheduled", not _dates(suite, family, p), "a remove scheduled something")
    _expect("remove-unscheduled", family.key_of(slot) in read_targeted(suite.api, family, p),
            "a remove of nothing took the context out of the targeting")


@pytest.mark.parametrize("operation_id", FAMILY_IDS)
def test_date_at_or_before_now(suite: Suite, fresh: Provisioned, fixed_clock: int,
                               policy: Policy, operation_id: str) -> None:
    family, p, now = FAMILIES[operation_id], fresh, fixed_clock
    slot = family.slots(p)[0]
    if policy.past_dates == "accept":  # taken, and due at once: the target leaves
        _, failed = _send(suite, family, p, [_add(family, p, slot, now - 1)])
        _expect("past-dates", not failed, "an add dated before now failed (policy accept)")
        _expect("past-dates", not _dates(suite, family, p),
                "a past-dated schedule did not expire")
        _expect("past-dates", family.key_of(slot) not in read_targeted(suite.api, family, p),
                "the context of a past-dated schedule is still targeted")
        return
    _, failed = _send(suite, family, p, [_add(family, p, slot, now)])
    _expect("past-dates", failed == {0}, "an add dated now succeeded (policy refuse)")
    _, failed = _send(suite, family, p, [_add(family, p, slot, now - 1)])
    _expect("past-dates", failed == {0}, "an add dated before now succeeded (policy refuse)")
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


def _in_order(keys: list[Any], policy: Policy) -> bool:
    return keys == sorted(keys, reverse=policy.items_order == "descending")


@pytest.mark.parametrize("operation_id", FAMILY_IDS)
def test_items_order_and_patch_items(suite: Suite, fresh: Provisioned, policy: Policy,
                                     operation_id: str) -> None:
    family, p = FAMILIES[operation_id], fresh
    slots = list(reversed(family.slots(p)))  # scheduled against the documented order
    resource_key = p.segment_key if family.resource == "segment" else p.flag_key

    def expected(touched: list[Slot]) -> list[dict[str, Any]]:
        """What the PATCH's items must be under the policy, from the GET right after it."""
        if policy.patch_items == "none":
            return []
        got = call(suite.api, family.get, **family.path_params(p)).json()["items"]
        if policy.patch_items == "all":
            return got  # type: ignore[no-any-return]
        listed = {((i.get("_resourceId") or {}).get("key"), schedule_key(i)): i for i in got}
        return [listed[(resource_key, family.key_of(s))] for s in touched]

    now = suite.target.now_ms()
    adds = [_add(family, p, s, now + (i + 1) * DAY_MS) for i, s in enumerate(slots)]
    body, failed = _send(suite, family, p, adds)
    _expect("items-after-patch", not failed, f"adds failed {sorted(failed)}")
    want = expected(slots)
    _expect("items-after-patch", body.get("items") == want,
            f"PATCH items {body.get('items')!r:.300} (policy {policy.patch_items}), expected "
            f"{want!r:.300}")
    for name, listed in (("GET", call(suite.api, family.get, **family.path_params(p)).json()[
            "items"]), ("context GET", call(
            suite.api, family.state_get, **family.state_params(p)).json()["items"])):
        keys = [schedule_key(i) for i in listed]
        _expect("items-order", _in_order(keys, policy),
                f"{name} lists schedules out of {policy.items_order} order: {keys}")
    # an update lists its schedule; a successful remove leaves none, so it adds no item
    instructions = [_update(suite, family, p, slots[-1], now + 9 * DAY_MS)]
    instructions += [_remove(family, p, s) for s in slots[:-1]]
    body, failed = _send(suite, family, p, instructions)
    _expect("items-after-patch", not failed, f"update and removes failed {sorted(failed)}")
    want = expected(slots[-1:])
    _expect("items-after-patch", body.get("items") == want,
            f"PATCH items {body.get('items')!r:.300} after an update and removes (policy "
            f"{policy.patch_items}), expected {want!r:.300}")


def test_user_endpoint_orders_by_flag_key(suite: Suite, fresh: Provisioned,
                                          policy: Policy) -> None:
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
    _expect("items-order", _in_order(keys, policy) and len(keys) == 2,
            f"the user endpoint lists flags {keys} ({policy.items_order} by flag key expected)")


def _versions(suite: Suite, p: Provisioned) -> dict[str, Any]:
    segment = suite.api.get_segment(project_key=p.project, environment_key=p.environment,
                                    segment_key=p.segment_key).json()
    flag = suite.api.get_feature_flag(project_key=p.project, feature_flag_key=p.flag_key).json()
    return {"segment version": segment.get("version"), "flag _version": flag.get("_version"),
            "environment version": flag["environments"][p.environment].get("version")}


def test_resource_versions_when_only_schedules_change(suite: Suite, fresh: Provisioned,
                                                      policy: Policy) -> None:
    p = fresh
    before = _versions(suite, p)
    now = suite.target.now_ms()
    changes = {"segment": 0, "flag": 0}  # PATCHes that changed each resource's schedules
    for operation_id in FAMILY_IDS:
        family = FAMILIES[operation_id]
        slot = family.slots(p)[-1]
        for action in ("add", "update", "remove"):  # each built just before it is sent, so
            instruction = (  # an update carries the segment version as it is then
                _add(family, p, slot, now + DAY_MS) if action == "add" else
                _update(suite, family, p, slot, now + 2 * DAY_MS) if action == "update" else
                _remove(family, p, slot))
            _, failed = _send(suite, family, p, [instruction])
            if failed:
                raise ContractViolation("successful-take-effect",
                                        f"{operation_id} {instruction['kind']} failed")
            changes["segment" if family.resource == "segment" else "flag"] += 1
    after = _versions(suite, p)
    if policy.resource_version == "incremented":
        want = {"segment version": before["segment version"] + changes["segment"],
                "flag _version": before["flag _version"] + changes["flag"],
                "environment version": before["environment version"] + changes["flag"]}
    else:
        want = before
    _expect("resource-version", after == want,
            f"schedule changes moved resource versions {before} -> {after} (policy "
            f"{policy.resource_version}: expected {want})")


def test_first_version_and_answer_form(suite: Suite, fresh: Provisioned,
                                       policy: Policy) -> None:
    """A new schedule's `_version`; how a PATCH answer with no failure spells `errors` and
    its counts."""
    family = FAMILIES[FAMILY_IDS[0]]
    p, slot = fresh, family.slots(fresh)[0]
    response = patch(suite.api, family, p, [_add(family, p, slot, suite.target.now_ms() + DAY_MS)])
    body = check_200_with_errors(response, 1)
    versions = [v for _, v in read_schedules(suite.api, family, p).values()]
    _expect("first-version", versions == [policy.first_version],
            f"a new schedule has _version {versions} (policy {policy.first_version})")
    _expect("empty-errors", ("errors" in body) == (policy.empty_errors == "list"),
            f"errors of a PATCH without failures: {body.get('errors', 'left out')!r} (policy "
            f"{policy.empty_errors})")
    number = float if policy.count_numbers == "decimal" else int
    _expect("count-numbers", type(body.get("totalInstructions")) is number,
            f"totalInstructions is {body.get('totalInstructions')!r} (policy "
            f"{policy.count_numbers})")


def test_unknown_user(suite: Suite, fresh: Provisioned, policy: Policy) -> None:
    family = next(f for f in FAMILIES.values() if f.resource == "user")
    p = fresh
    params = {**family.path_params(p), "user_key": f"{p.untargeted_key}-nobody"}
    got = call(suite.api, family.get, **params)
    sent = patch(suite.api, family, p, [_add(family, p, family.slots(p)[0],
                                             suite.target.now_ms() + DAY_MS)], params)
    if policy.unknown_user == "not_found":
        _expect("unknown-user", (got.status_code, sent.status_code) == (404, 404),
                f"a user nothing targets: GET {got.status_code}, PATCH {sent.status_code}")
        return
    _expect("unknown-user", got.status_code == 200 and got.json().get("items") == [],
            f"a user nothing targets: GET {got.status_code} {got.content[:200]!r}")
    _expect("unknown-user", sent.status_code == 200 and sent.json().get("errors"),
            f"a user nothing targets: PATCH {sent.status_code} {sent.content[:200]!r}")


def test_partial_failure(suite: Suite, fresh: Provisioned, policy: Policy) -> None:
    family = FAMILIES["patchExpiringTargetsForSegment"]
    p, slot = fresh, family.slots(fresh)[0]
    date = suite.target.now_ms() + DAY_MS
    untargeted = {**_add(family, p, slot, date), "contextKey": p.untargeted_key}
    _, failed = _send(suite, family, p, [_add(family, p, slot, date), untargeted])
    atomic = policy.partial_failure == "atomic"
    _expect("partial-failure", failed == ({0, 1} if atomic else {1}),
            f"an add beside a failing one (policy {policy.partial_failure}): failed {failed}")
    want = {} if atomic else {family.key_of(slot): date}
    dates = _dates(suite, family, p)
    _expect("partial-failure", dates == want,
            f"after it the schedules are {dates} (policy {policy.partial_failure})")


@pytest.mark.parametrize("operation_id", FAMILY_IDS)
def test_version_mismatch(suite: Suite, fresh: Provisioned, policy: Policy,
                          operation_id: str) -> None:
    family, p = FAMILIES[operation_id], fresh
    slot, now = _schedule_first(suite, family, p)
    stale = _update(suite, family, p, slot, now + 2 * DAY_MS)
    stale["version"] = (stale.get("version") or read_schedules(
        suite.api, family, p)[family.key_of(slot)][1]) + 5
    response = patch(suite.api, family, p, [stale])
    if policy.version_mismatch == "conflict":
        check_status("version-mismatch-fails", response, 409, "a stale version (policy conflict)")
        code = check_error_body("version-mismatch-fails", response)
        _expect("version-mismatch", code == _code(policy, "conflict"), f"409 code {code!r}")
    else:
        body = check_200_with_errors(response, 1)
        _expect("version-mismatch", check_error_indices(body, 1) == {0},
                "a stale version did not fail its instruction (policy fail_instruction)")
    _expect("version-mismatch", _dates(suite, family, p) == {family.key_of(slot): now + DAY_MS},
            "a stale update changed the schedule")


def test_write_denied(suite: Suite, fresh: Provisioned, policy: Policy) -> None:
    family = FAMILIES[FAMILY_IDS[0]]
    assert suite.settings.readonly_token is not None  # the kit's mock has its reader token
    reader = suite.target.client(token=suite.settings.readonly_token)
    response = patch(reader, family, fresh, [_add(family, fresh, family.slots(fresh)[0],
                                                  suite.target.now_ms() + DAY_MS)])
    status, reference = (401, "unauthorized") if policy.write_denied == "401" else (
        403, "forbidden")
    check_status("access-control", response, status,
                 f"a read-only token's PATCH (policy {policy.write_denied})")
    code = check_error_body("access-control", response)
    _expect("write-denied", code == _code(policy, reference), f"HTTP {status} code {code!r}")


def test_error_codes(suite: Suite, fresh: Provisioned, policy: Policy) -> None:
    family = FAMILIES[FAMILY_IDS[0]]
    anonymous = suite.target.client(anonymous=True)
    for client, params, status, reference in (
            (anonymous, family.path_params(fresh), 401, "unauthorized"),
            (suite.api, {**family.path_params(fresh), "project_key": "ct-no-such-project"}, 404,
             "not_found")):
        response = call(client, family.get, **params)
        check_status("access-control", response, status, f"GET {family.get.operation_id}")
        code = check_error_body("access-control", response)
        _expect("error-codes", code == _code(policy, reference),
                f"HTTP {status} code {code!r} (policy {policy.error_codes}: "
                f"{_code(policy, reference)!r})")


def test_media_type_value_case(suite: Suite, fresh: Provisioned, policy: Policy) -> None:
    family = FAMILIES[FAMILY_IDS[0]]
    p = fresh
    essence, _, parameter = SEMANTIC_PATCH_MEDIA_TYPE.partition(";")
    name, _, value = parameter.strip().partition("=")
    instruction = _add(family, p, family.slots(p)[0], suite.target.now_ms() + DAY_MS)
    response = raw_request(suite.target, family.operation, p,
                           json.dumps({"instructions": [instruction]}).encode(),
                           f"{essence}; {name}={value.upper()}")
    want = 400 if policy.media_type_value == "exact" else 200
    _expect("media-type-value", response.status_code == want,
            f"domain-model={value.upper()}: HTTP {response.status_code} (policy "
            f"{policy.media_type_value}: {want})")


# -- limits -----------------------------------------------------------------------------------


def _expect_refused(suite: Suite, family: Family, p: Provisioned, policy: Policy, response: Any,
                    limit_policy: str, what: str) -> None:
    """A PATCH over a limit (`what`): a well-formed 400 with the policy's invalid_request code,
    and none of it applied (else `limit_policy` is violated)."""
    check_status("well-formed-or-400", response, 400, what)
    check_error_body("well-formed-or-400", response, _code(policy, "invalid_request"))
    _expect(limit_policy, not _dates(suite, family, p), f"a refused PATCH ({what}) applied")


@pytest.mark.parametrize("operation_id", FAMILY_IDS)
def test_instruction_limit(suite: Suite, fresh: Provisioned, policy: Policy,
                           operation_id: str) -> None:
    family, p, limit = FAMILIES[operation_id], fresh, _limits(suite).max_instructions
    slot, now = family.slots(p)[0], suite.target.now_ms()
    add = _add(family, p, slot, now + DAY_MS)
    response = patch(suite.api, family, p, [add] * (limit + 1))
    _expect_refused(suite, family, p, policy, response, "max-instructions",
                    f"{limit + 1} instructions")
    _, failed = _send(suite, family, p, [add] * limit)
    repeats_fail = policy.add_on_scheduled == "fail"
    _expect("max-instructions", failed == (set(range(1, limit)) if repeats_fail else set()),
            f"{limit} instructions: the first add must succeed, the repeats "
            f"{'fail' if repeats_fail else 'succeed'} (policy {policy.add_on_scheduled})")


@pytest.mark.parametrize("operation_id", FAMILY_IDS)
def test_body_size_limit(suite: Suite, fresh: Provisioned, policy: Policy,
                         operation_id: str) -> None:
    family, p, limit = FAMILIES[operation_id], fresh, _limits(suite).max_body_bytes
    add = _add(family, p, family.slots(p)[0], suite.target.now_ms() + DAY_MS)
    response = call(suite.api, family.operation, **family.path_params(p),
                    body={"instructions": [add], "comment": "x" * limit})
    _expect_refused(suite, family, p, policy, response, "max-body-bytes",
                    f"a body over {limit} bytes")


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
