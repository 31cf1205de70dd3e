"""Stateful: random sequences of adds, updates, removes and GETs across all five semantic PATCHes.

A Hypothesis `RuleBasedStateMachine` over one segment and one flag of the test's own. Each step
sends one instruction through any endpoint that can address the schedule (add through the user
endpoint, update through the context endpoint, remove through the user-flags endpoint, ...), and
only steps whose outcome the tier-2 rules decide are generated: an add on an unscheduled target,
an update (current, stale or missing version; without one where it is optional) or a remove of a
scheduled one. The model is a dict, schedule -> (date, _version); after every step an invariant
compares it with the context GETs of segment and flag and with the user GETs.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from generated.operations import RuleId

from .actions import context_family, reset_schedules
from .checks import (
    ContractViolation,
    Expectation,
    Schedules,
    check_200_with_errors,
    check_counts,
    check_error_body,
    check_error_indices,
    check_expected_outcomes,
    check_targets_kept,
    check_users_match_contexts,
    checked,
    reasons_of,
)
from .conftest import Suite
from .families import FAMILIES, Family, ScheduleKey
from .observe import call, read_schedules, read_targeted, read_user_schedules, segment_version
from .plans import future_dates, request_extras, stale_offsets, unknown_properties
from .provisioning import Provisioned, Slot

pytestmark = pytest.mark.stateful

Place = tuple[str, Slot]  # ("segment" | "flag", the individually targeted context)
OWNERS: dict[str, Family] = {f.resource: f for f in (context_family(f) for f in FAMILIES.values())}  # context PATCHes
USER_GETS: dict[str, Family] = {f.resource: f for f in FAMILIES.values()  # the user GET of segment and flag
             if f.resource != "user" and f.users_only}
# how an update gives its version -> the rule a wrong outcome breaks, and the documented reason
# it fails (None: it succeeds)
_UPDATE_FATES: dict[str, tuple[RuleId, str | None]] = {
    "current": ("successful-take-effect", None),
    "unversioned": ("successful-take-effect", None),
    "stale": ("version-mismatch-fails", "version-mismatch"),
    "missing": ("instruction-counts", "missing-field"),
}
USER_ENDPOINT = next(f for f in FAMILIES.values() if f.resource == "user")


def _families_for(place: Place) -> list[Family]:
    """Every semantic PATCH that can address this schedule."""
    resource, slot = place
    return [f for _, f in sorted(FAMILIES.items())
            if resource == (f.resource if f.resource != "user" else "flag")
            and (slot.context_kind == "user" or not f.users_only)]


class ExpiringTargets(RuleBasedStateMachine):
    scheduled = Bundle("scheduled")

    def __init__(self, suite: Suite, p: Provisioned, steps: list[str]) -> None:
        super().__init__()
        self.api, self.p, self.steps = suite.api, p, steps
        self.recorder = suite.target.recorder
        for resource, owner in OWNERS.items():
            reset_schedules(self.api, owner, p)
            suite.provisioning.retarget(p, resource)  # whatever a server dropped before
        self.now = int(time.time() * 1000)
        self.places: list[Place] = [("segment", s) for s in p.segment_slots] + [
            ("flag", s) for s in p.flag_slots]
        # The model: what the rules say the server holds. A new schedule's first _version is
        # not documented, so it is None until the invariant reads it; then updates add one.
        self.model: dict[tuple[str, ScheduleKey], tuple[int, int | None]] = {}
        self.rule_of_step: RuleId = "successful-take-effect"  # what a state mismatch breaks
        self.users_to_check: set[str] = set()
        self.flag_users = sorted({s.context_key for s in p.user_slots(p.flag_slots)})

    # -- helpers -------------------------------------------------------------------------

    def _key(self, place: Place) -> tuple[str, ScheduleKey]:
        resource, slot = place
        return resource, OWNERS[resource].key_of(slot)

    def _send(self, data: st.DataObject, family: Family, slot: Slot,
              instruction: dict[str, Any], expectation: Expectation, rule_if_wrong: RuleId) -> None:
        """Send one instruction, with what else its request may carry (a `comment`, unknown
        properties), and check its documented fate."""
        params = family.path_params(self.p)
        if family.resource == "user":  # any user the flag targets, not only the default one
            params["user_key"] = slot.context_key
        unknown = data.draw(unknown_properties(family.open_instructions), label="unknown")
        body = {**data.draw(request_extras(family), label="body"),
                "instructions": [{**unknown, **instruction}]}
        with self.recorder.expecting(reasons_of([expectation])):
            response = call(self.api, family.operation, **params, body=body)
        self.steps.append(f"{family.operation.operation_id}:{instruction['kind']}")
        if response.status_code == 409 and rule_if_wrong == "version-mismatch-fails":
            check_error_body(rule_if_wrong, response)  # "409 Conflict": refused whole
            self.rule_of_step = rule_if_wrong
            return
        body = check_200_with_errors(response, 1)
        check_counts(body, 1)
        failed = check_error_indices(body, 1)
        check_expected_outcomes([expectation], failed, {0: rule_if_wrong})
        self.rule_of_step = "successful-take-effect" if expectation.must_succeed else (
            rule_if_wrong)
        if slot.context_kind == "user" and family.resource != "segment":
            self.users_to_check.add(slot.context_key)

    # -- rules ---------------------------------------------------------------------------

    @precondition(lambda self: any(self._key(place) not in self.model for place in self.places))
    @rule(target=scheduled, data=st.data())
    def add(self, data: st.DataObject) -> Place:
        place = data.draw(st.sampled_from(
            [pl for pl in self.places if self._key(pl) not in self.model]), label="target")
        family = data.draw(st.sampled_from(_families_for(place)), label="endpoint")
        date = data.draw(future_dates(self.now), label="date")
        _, slot = place
        instruction = {"kind": family.add.name, **family.address(slot, self.p, family.add),
                       "value": date}
        self._send(data, family, slot, instruction,
                   Expectation(0, True, "add for a targeted, unscheduled context"),
                   "successful-take-effect")
        self.model[self._key(place)] = (date, None)
        return place

    @rule(place=scheduled, data=st.data())
    def update(self, place: Place, data: st.DataObject) -> None:
        family = data.draw(st.sampled_from(_families_for(place)), label="endpoint")
        kind = family.update
        versions = ["current", "stale",
                    "missing" if "version" in kind.required else "unversioned"]
        how = data.draw(st.sampled_from(versions), label="version")
        date = data.draw(future_dates(self.now), label="date")
        key = self._key(place)
        old_version = self.model[key][1]
        assert old_version is not None  # the invariant has read it after the add
        current = segment_version(self.api, self.p) if kind.version_of == "segment" else (
            old_version)
        _, slot = place
        instruction = {"kind": kind.name, **family.address(slot, self.p, kind), "value": date}
        if how == "current":
            instruction["version"] = current
        elif how == "stale":
            instruction["version"] = current + data.draw(stale_offsets(), label="off by")
        rule_if_wrong, reason = _UPDATE_FATES[how]
        succeeds = reason is None
        self._send(data, family, slot, instruction,
                   Expectation(0, succeeds, f"update with {how} version", reason=reason),
                   rule_if_wrong)
        if succeeds:
            self.model[key] = (date, old_version + 1)

    @rule(place=consumes(scheduled), data=st.data())
    def remove(self, place: Place, data: st.DataObject) -> None:
        family = data.draw(st.sampled_from(_families_for(place)), label="endpoint")
        _, slot = place
        instruction = {"kind": family.remove.name, **family.address(slot, self.p, family.remove)}
        self._send(data, family, slot, instruction,
                   Expectation(0, True, "remove of a scheduled context"), "successful-take-effect")
        del self.model[self._key(place)]
        check_targets_kept([self._key(place)[1]], read_targeted(self.api, family, self.p))

    # -- the invariant -------------------------------------------------------------------

    @invariant()
    def server_matches_model(self) -> None:
        for resource, owner in OWNERS.items():
            server = read_schedules(self.api, owner, self.p)
            self._compare(resource, server, owner.state_get.operation_id)
            user_get = USER_GETS[resource]
            check_users_match_contexts(read_user_schedules(self.api, user_get, self.p),
                                       server, user_get.get.operation_id)
        # The user endpoint's GET: for the users the step wrote to, and one more in turn (so
        # users without schedules are read too).
        self.users_to_check.add(self.flag_users[len(self.steps) % len(self.flag_users)])
        for user in sorted(self.users_to_check):
            seen = read_user_schedules(self.api, USER_ENDPOINT, self.p, user_key=user)
            expected = {k: v for (r, k), v in self.model.items()
                        if r == "flag" and k[:2] == ("user", user)}
            checked("users-are-contexts")
            if dict(seen) != expected:  # versions: learnt from the context GET just above
                raise ContractViolation(
                    "users-are-contexts",
                    f"{USER_ENDPOINT.get.operation_id} for {user} shows {dict(seen)}, the "
                    f"model {expected}")
        self.users_to_check.clear()

    def _compare(self, resource: str, server: Schedules, where: str) -> None:
        expected = {k: v for (r, k), v in self.model.items() if r == resource}
        checked(self.rule_of_step)
        for key in sorted(set(expected) | set(server)):
            want, got = expected.get(key), server.get(key)
            if (want and want[0]) != (got and got[0]):
                raise ContractViolation(
                    self.rule_of_step,
                    f"{where}: schedule {key} is {got!r}, the model says {want!r} "
                    f"after {self.steps[-1] if self.steps else 'reset'}")
            if want is None or got is None:
                continue
            if want[1] is None:
                self.model[(resource, key)] = (want[0], got[1])
                continue
            checked("update-increments-version")
            if want[1] != got[1]:
                raise ContractViolation(
                    "update-increments-version",
                    f"{where}: schedule {key} has _version {got[1]}, the model says {want[1]} "
                    f"after {self.steps[-1] if self.steps else 'reset'}")


def test_schedules_follow_the_model(suite: Suite, fresh: Provisioned,
                                    request: pytest.FixtureRequest) -> None:
    steps: list[str] = []
    runs = suite.plan.stateful_runs  # in-process, default 100: 12 runs, ~500 steps
    run_state_machine_as_test(
        lambda: ExpiringTargets(suite, fresh, steps),  # type: ignore[arg-type]  # a factory
        settings=settings(max_examples=runs, stateful_step_count=suite.plan.stateful_steps),
    )
    # straight onto the item: the record_property fixture warns under JUnit's xunit2 family,
    # and the report's own JUnit writer takes the item's properties either way
    request.node.user_properties += [("stateful_runs", runs), ("stateful_steps", len(steps))]
    verbs = Counter(re.match("[a-z]+", step.split(":")[1]).group() for step in steps)  # type: ignore[union-attr]
    print(f"stateful: {runs} runs, {len(steps)} steps {dict(sorted(verbs.items()))}")
