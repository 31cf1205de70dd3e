"""Hypothesis strategies for semantic patches whose every instruction has a documented fate.

An instruction is only generated when the tier-2 rules decide its outcome: an add for a targeted,
unscheduled context; an update or remove of a scheduled one (right or stale version); and
instructions that must fail (untargeted context, wrong list or variation, missing `value` or
`version` where the kind needs it, unknown kind, flag or variation). Each slot is touched at most
once per request, so no outcome depends on policy the documents leave open (tier 3).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from hypothesis import strategies as st

from .checks import Expectation, Schedules
from .families import Family, ScheduleKey
from .provisioning import Provisioned, Slot

__all__ = ["Plan", "future_dates", "plans"]

DAY_MS = 86_400_000


@dataclass(frozen=True)
class Version:
    """A `version` the request must carry, known only once the state has been read (so that
    what Hypothesis draws never depends on the server): the current one plus `stale_by`."""

    key: ScheduleKey
    of_segment: bool
    stale_by: int = 0


@dataclass
class Plan:
    instructions: list[dict[str, Any]] = field(default_factory=list)
    expectations: list[Expectation] = field(default_factory=list)
    failure_rules: dict[int, str] = field(default_factory=dict)  # index -> rule it exercises
    updated: dict[int, ScheduleKey] = field(default_factory=dict)  # successful updates

    def add(self, instruction: dict[str, Any], expectation: Expectation, rule: str) -> None:
        index = len(self.instructions)
        self.instructions.append(instruction)
        self.expectations.append(replace(expectation, index=index))
        if not expectation.must_succeed:
            self.failure_rules[index] = rule
        elif expectation.version_bump_from is not None and expectation.key is not None:
            self.updated[index] = expectation.key

    def resolve(self, before: Schedules, segment_version: int) -> Plan:
        """The plan with every `Version` replaced by a number read from `before`."""
        def number(version: Version) -> int:
            current = segment_version if version.of_segment else before[version.key][1]
            return current + version.stale_by

        instructions = [
            {k: number(v) if isinstance(v, Version) else v for k, v in instruction.items()}
            for instruction in self.instructions
        ]
        expectations = [
            replace(e, version_bump_from=before[self.updated[e.index]][1])
            if e.index in self.updated else e
            for e in self.expectations
        ]
        return Plan(instructions, expectations, self.failure_rules, self.updated)


def future_dates(now_ms: int) -> st.SearchStrategy[int]:
    """Expiry dates comfortably in the future (past dates are tier-3 policy)."""
    return st.integers(DAY_MS, 365 * DAY_MS).map(lambda offset: now_ms + offset)


def _fields(family: Family, p: Provisioned, slot: Slot, kind_name: str) -> dict[str, Any]:
    kind = getattr(family, kind_name)
    return {"kind": kind.name, **family.address(slot, p, kind)}


@st.composite
def _slot_instruction(
    draw: st.DrawFn, family: Family, p: Provisioned, slot: Slot, scheduled: frozenset[ScheduleKey],
    now_ms: int,
) -> tuple[dict[str, Any], Expectation, str]:
    key = family.key_of(slot)
    date = draw(future_dates(now_ms))
    if key not in scheduled:
        choices = ["add"] + (["add-without-value"] if "value" in family.add.required else [])
    else:
        choices = ["update", "update-stale", "remove"]
        if "version" not in family.update.required:
            choices.append("update-unversioned")
        else:
            choices.append("update-without-version")
    action = draw(st.sampled_from(choices))
    of_segment = family.update.version_of == "segment"
    if action == "add":
        return ({**_fields(family, p, slot, "add"), "value": date},
                Expectation(0, True, "add for a targeted context", key, date), "")
    if action == "add-without-value":
        return (_fields(family, p, slot, "add"),
                Expectation(0, False, "add without value", reason="missing-field"),
                "instruction-counts")
    if action == "remove":
        return (_fields(family, p, slot, "remove"),
                Expectation(0, True, "remove of a scheduled context", key, None), "")
    instruction = {**_fields(family, p, slot, "update"), "value": date}
    # version_bump_from=0 marks a successful update; `Plan.resolve` fills in the real number.
    if action == "update":
        instruction["version"] = Version(key, of_segment)
        return (instruction, Expectation(0, True, "update with the current version", key, date,
                                         0), "")
    if action == "update-unversioned":
        return (instruction, Expectation(0, True, "update without version", key, date, 0), "")
    if action == "update-without-version":
        return (instruction, Expectation(0, False, "update without the version it needs",
                                         reason="missing-field"),
                "instruction-counts")
    instruction["version"] = Version(key, of_segment, draw(st.integers(1, 1000)))
    return (instruction, Expectation(0, False, "update with a stale version",
                                     reason="version-mismatch"),
            "version-mismatch-fails")


def _extras(family: Family, p: Provisioned, now_ms: int) -> list[st.SearchStrategy[Any]]:
    """Instructions that must fail whatever the state, and change nothing."""
    slots = family.slots(p)
    date = future_dates(now_ms)
    options: list[st.SearchStrategy[Any]] = []
    key_fields = [f for f in ("userKey", "contextKey") if f in family.add.required]
    if key_fields:  # the user endpoint names its user in the path instead
        options.append(st.builds(
            lambda slot, value: (
                {**_fields(family, p, slot, "add"), "value": value,
                 **dict.fromkeys(key_fields, p.untargeted_key)},
                Expectation(0, False, "add for a context that is not targeted",
                            reason="not-targeted"),
                "individual-target-required",
            ),
            st.sampled_from(slots), date,
        ))
    if family.resource == "segment":
        flip = {"included": "excluded", "excluded": "included"}
        options.append(st.builds(
            lambda slot, value: (
                {**_fields(family, p, slot, "add"), "value": value,
                 "targetType": flip[slot.target_type or "included"]},
                Expectation(0, False, "add in the list that does not hold the context",
                            reason="not-targeted"),
                "individual-target-required",
            ),
            st.sampled_from(slots), date,
        ))
    else:
        options.append(st.builds(
            lambda slot, value: (
                {**_fields(family, p, slot, "add"), "value": value,
                 "variationId": next(v for v in p.variation_ids if v != slot.variation_id)},
                Expectation(0, False, "add on a variation that does not target the context",
                            reason="not-targeted"),
                "one-variation-per-flag",
            ),
            st.sampled_from(slots), date,
        ))
        options.append(st.builds(
            lambda slot, value, n: (
                {**_fields(family, p, slot, "add"), "value": value,
                 "variationId": f"no-such-variation-{n}"},
                Expectation(0, False, "add on an unknown variation",
                            reason="unknown-variation"),
                "individual-target-required",
            ),
            st.sampled_from(slots), date, st.integers(0, 99),
        ))
    if family.free_form:
        options.append(st.builds(
            lambda slot, value, kind: (
                {**_fields(family, p, slot, "add"), "value": value, "kind": kind},
                Expectation(0, False, "unknown instruction kind"),
                "instruction-counts",
            ),
            st.sampled_from(slots), date, st.sampled_from(["frobnicate", "addExpiringTargets", ""]),
        ))
    if family.resource == "user":
        options.append(st.builds(
            lambda slot, value: (
                {**_fields(family, p, slot, "add"), "value": value,
                 "flagKey": f"{p.flag_key}-missing"},
                Expectation(0, False, "add on a flag that does not exist",
                            reason="unknown-flag"),
                "individual-target-required",
            ),
            st.sampled_from(slots), date,
        ))
    return options


@st.composite
def plans(
    draw: st.DrawFn, family: Family, p: Provisioned, scheduled: frozenset[ScheduleKey],
    now_ms: int,
) -> Plan:
    """A request mixing instructions that must succeed with ones that must fail, for a
    resource whose scheduled contexts are `scheduled` (versions resolved later)."""
    slots = draw(st.lists(st.sampled_from(family.slots(p)), unique=True, max_size=6))
    entries = [draw(_slot_instruction(family, p, slot, scheduled, now_ms)) for slot in slots]
    entries += draw(st.lists(st.one_of(_extras(family, p, now_ms)), max_size=3))
    entries = draw(st.permutations(entries))
    if family.update.version_of == "segment":
        # The segment's version is only known before the request: keep one versioned update,
        # first, so nothing before it could have changed that version.
        versioned = [e for e in entries if e[1].version_bump_from is not None]
        entries = versioned[:1] + [e for e in entries if e[1].version_bump_from is None]
    if not entries:
        entries = [draw(_extras(family, p, now_ms)[0])]
    plan = Plan()
    for instruction, expectation, rule in entries:
        plan.add(instruction, expectation, rule)
    return plan
