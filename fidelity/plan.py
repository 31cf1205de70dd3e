"""The seeded plan: the same requests, in the same order, for every side of a comparison.

For each of the five semantic-patch operations (`contract_tests.families.FAMILIES`) the plan
walks through the points the documents leave open -- add on a scheduled target, update and
remove of an unscheduled one, a past date, a request with one failing instruction, a stale
version, the media-type value's case, a read-only write, error answers, an unknown user, the
order of items -- with a read after each, so that every answer the mock's policy decides is
seen. Each scenario has slots (targeted contexts) of its own, so a difference in one does not
spread to the next. A step is symbolic (slot numbers, "the current version"): each side fills
it in from its own resources and its own answers, so the requests mean the same on both sides
though keys and versions differ. The seed picks the slots and the dates.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from contract_tests.families import FAMILIES, Family
from generated.operations import SEMANTIC_PATCH_MEDIA_TYPE

__all__ = ["SLOTS", "Instruction", "Step", "build_plan", "requests_needed"]

SLOTS = 6  # targeted contexts each family's scenarios use (every family's resources have more)
SETUP_REQUESTS = 4  # `Provisioning.create`: POST and PATCH of a segment, of a flag
CLEANUP_REQUESTS = 2
DAY_MS = 86_400_000
Who = int | Literal["untargeted"]  # a slot, or a context that nothing targets
Action = Literal["patch", "read", "read-contexts", "read-resource"]


@dataclass(frozen=True)
class Instruction:
    verb: Literal["add", "update", "remove"]
    who: Who
    date: int | None = None  # expiry date (the plan's, the same on every side)
    version: Literal["none", "current", "stale"] = "none"


@dataclass(frozen=True)
class Step:
    label: str  # unique in the plan, the same on every side
    family: str  # the semantic-patch operation whose resources it uses
    action: Action
    point: str  # the open point it exercises (a `Policy` field), or what it is there for
    instructions: tuple[Instruction, ...] = ()
    user: Who | None = None  # the per-user endpoint: whose schedules (the path's user)
    content_type: str = SEMANTIC_PATCH_MEDIA_TYPE
    token: Literal["writer", "reader"] = "writer"
    missing: bool = False  # address a resource that does not exist
    malformed: bool = False  # send `instructions` that are not an array


def media_type_in_another_case() -> str:
    """The semantic-patch media type with its parameter's value in another case."""
    essence, _, parameter = SEMANTIC_PATCH_MEDIA_TYPE.partition(";")
    name, _, value = parameter.strip().partition("=")
    return f"{essence}; {name}={value.title()}"


@dataclass
class _Scenario:
    """Steps of one scenario of one family, labelled `family · scenario · n`."""

    family_id: str
    family: Family
    name: str
    steps: list[Step]
    count: int = field(default=0)

    def _add(self, action: Action, point: str, *instructions: Instruction,
             user: Who | None = None, **options: Any) -> None:
        self.count += 1
        per_user = self.family.resource == "user"
        if per_user and user is None and instructions:
            user = instructions[0].who
        self.steps.append(Step(f"{self.family_id} · {self.name} · {self.count}", self.family_id,
                               action, point, instructions, user if per_user else None,
                               **options))

    def patch(self, point: str, *instructions: Instruction, **options: Any) -> None:
        self._add("patch", point, *instructions, **options)

    def read(self, point: str, user: Who) -> None:
        self._add("read", point, user=user)

    def read_contexts(self, point: str) -> None:
        self._add("read-contexts", point)

    def read_resource(self, point: str) -> None:
        self._add("read-resource", point)


def _family_steps(family_id: str, family: Family, slots: list[int], base_ms: int,
                  rng: random.Random, with_reader: bool) -> list[Step]:
    steps: list[Step] = []

    def scenario(name: str) -> _Scenario:
        return _Scenario(family_id, family, name, steps)

    def day() -> int:
        return base_ms + rng.randint(2, 300) * DAY_MS

    s0, s1, s2, s3, s4, s5 = slots
    segment_version = family.update.version_of == "segment"
    # seed 000 needs the segment's version; the others' is optional
    current: Literal["current", "none"] = "current" if segment_version else "none"

    again = scenario("add on a scheduled target")
    again.patch("setup", Instruction("add", s0, day()))
    again.patch("add_on_scheduled", Instruction("add", s0, day()))
    again.read("add_on_scheduled", s0)
    unscheduled = scenario("update of an unscheduled target")
    if segment_version:
        unscheduled.read_resource("the segment's version")
    unscheduled.patch("update_unscheduled", Instruction("update", s1, day(), current))
    unscheduled.read("update_unscheduled", s1)
    removal = scenario("remove of an unscheduled target")
    removal.patch("remove_unscheduled", Instruction("remove", s2))
    removal.read("remove_unscheduled", s2)
    past = scenario("a past date")
    past.patch("past_dates", Instruction("add", s3, base_ms - 3_600_000))
    past.read("past_dates", s3)
    past.read_resource("past_dates")
    failing = scenario("one failing instruction")
    failing.patch("partial_failure", Instruction("add", s4, day()),
                  Instruction("add", "untargeted", day()))
    failing.read("partial_failure", s4)
    stale = scenario("a stale version")
    stale.patch("setup", Instruction("add", s5, day()))
    stale.read("first_version", s5)
    if segment_version:
        stale.read_resource("the segment's version")
    stale.patch("version_mismatch", Instruction("update", s5, day(), "stale"))
    stale.read("version_mismatch", s5)
    case = scenario("the media type's value in another case")
    case.patch("media_type_value", Instruction("remove", s0),
               content_type=media_type_in_another_case())
    case.read("media_type_value", s0)
    if with_reader:
        scenario("a read-only write").patch("write_denied", Instruction("add", s2, day()),
                                            token="reader")
    errors = scenario("error answers")
    errors.patch("error_codes", Instruction("add", s2, day()), missing=True)
    errors.patch("error_codes", Instruction("add", s2, day()), malformed=True)
    if family.resource == "user":
        unknown = scenario("an unknown user")
        unknown.read("unknown_user", "untargeted")
        unknown.patch("unknown_user", Instruction("add", s2, day()), user="untargeted")
    order = scenario("the order of items")
    order.read_contexts("items_order")
    if family.resource != "user" and family.get.operation_id != family.state_get.operation_id:
        order.read("items_order", s0)
    order.read_resource("resource_version")
    return steps


def build_plan(seed: int, with_reader: bool, base_ms: int | None = None) -> list[Step]:
    """Every family's scenarios, in `FAMILIES` order; which scenario gets which of the first
    `SLOTS` slots, and the dates, are the seed's. `with_reader`: a read-only token exists."""
    rng = random.Random(seed)
    base = base_ms if base_ms is not None else int(time.time() // 60 * 60_000)
    steps = []
    for family_id, family in FAMILIES.items():
        slots = rng.sample(range(SLOTS), SLOTS)
        steps += _family_steps(family_id, family, slots, base, rng, with_reader)
    return steps


def requests_needed(plan: list[Step]) -> int:
    """What the plan sends to one side: the setup (a segment and a flag with their targets per
    family), its steps, the cleanup (two deletes per family)."""
    return len(FAMILIES) * (SETUP_REQUESTS + CLEANUP_REQUESTS) + len(plan)
