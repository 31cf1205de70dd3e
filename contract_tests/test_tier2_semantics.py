"""Tier 2: each semantic-patch operation against mixes of instructions with documented fates."""

from __future__ import annotations

import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from .actions import patch, reset_schedules, schedule_slots
from .checks import (
    check_200_with_errors,
    check_counts,
    check_error_body,
    check_error_indices,
    check_patch_items_agree,
    check_request_applied,
    check_schedules_targeted,
    check_targets_kept,
    check_users_match_contexts,
    check_visible,
    reasons_of,
)
from .conftest import Suite
from .families import FAMILIES
from .observe import (
    patch_items,
    read_schedules,
    read_targeted,
    read_user_schedules,
    segment_version,
)
from .plans import future_dates, plans

pytestmark = pytest.mark.tier2

USER_ENDPOINT = next(f for f in FAMILIES.values() if f.resource == "user")


@pytest.mark.parametrize("operation_id", sorted(FAMILIES))
def test_instructions_succeed_or_fail_as_documented(suite: Suite, operation_id: str) -> None:
    family = FAMILIES[operation_id]
    p, api = suite.provisioned, suite.api
    now = int(time.time() * 1000)

    @given(data=st.data())
    def example(data: st.DataObject) -> None:
        reset_schedules(api, family, p)
        suite.provisioning.retarget(p, family.resource)  # whatever a server dropped before
        slots = list(family.slots(p))
        starting = data.draw(st.lists(st.sampled_from(slots), unique=True), label="scheduled")
        dates = [data.draw(future_dates(now)) for _ in starting]
        schedule_slots(api, family, p, starting, dates)
        intended = {family.key_of(slot): date for slot, date in zip(starting, dates, strict=True)}
        plan = data.draw(plans(family, p, frozenset(intended), now), label="plan")
        before = read_schedules(api, family, p)
        check_visible(before, intended, "the schedules this example starts from")
        version = segment_version(api, p) if family.update.version_of == "segment" else 0
        plan = plan.resolve(before, version)

        with suite.target.recorder.expecting(reasons_of(plan.expectations)):
            response = patch(api, family, p, plan.instructions, body_extras=plan.body_extras)

        if response.status_code == 409 and "version-mismatch-fails" in plan.failure_rules.values():
            # a stale version refused for the whole request: "409 Conflict", nothing applied
            check_error_body("version-mismatch-fails", response)
            check_visible(read_schedules(api, family, p), {k: d for k, (d, _) in before.items()},
                          "after a request refused with 409")
            suite.target.recorder.record_choice("a stale `version`", "409, nothing applied")
            return
        body = check_200_with_errors(response, len(plan.instructions))
        check_counts(body, len(plan.instructions))
        failed = check_error_indices(body, len(plan.instructions))
        after = read_schedules(api, family, p)
        reading = check_request_applied(plan.expectations, failed, plan.failure_rules, before,
                                        after)
        if reading is not None:
            suite.target.recorder.record_choice("a request with failing instructions", reading)
        if "version-mismatch-fails" in plan.failure_rules.values():
            suite.target.recorder.record_choice("a stale `version`", "that instruction fails")
        check_patch_items_agree(patch_items(body, family, p), after, operation_id)
        targeted = read_targeted(api, family, p)
        check_schedules_targeted(after, targeted, family.state_get.operation_id)
        removed = [e.key for e in plan.expectations
                   if e.must_succeed and e.key is not None and e.schedule is None]
        if removed:
            check_targets_kept(removed, targeted)
        if family.resource == "flag":  # the per-user view of the same flag schedules
            user = USER_ENDPOINT.user_key(p)
            check_users_match_contexts(
                read_user_schedules(api, USER_ENDPOINT, p),
                {k: v for k, v in after.items() if k[1] == user},
                USER_ENDPOINT.get.operation_id,
            )
        if family.users_only:
            check_users_match_contexts(
                read_user_schedules(api, family, p),
                {k: v for k, v in after.items()
                 if family.resource != "user" or k[1] == family.user_key(p)},
                operation_id,
            )

    example()
