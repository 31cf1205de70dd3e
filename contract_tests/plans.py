"""Hypothesis strategies for semantic patches whose every instruction has a documented fate.

An instruction is only generated when the tier-2 rules decide its outcome: an add for a targeted,
unscheduled context; an update or remove of a scheduled one (right or stale version); and
instructions that must fail (a context not targeted there: a near-miss key, another kind, list
or variation; a missing `value` or `version` where the kind needs it; unknown kind, flag or
variation). Each slot is touched at most once per request, so no outcome depends on policy the
documents leave open (tier 3).

Within those fates the strategies span what the schemas allow (docs/contract-suite.md, "What the
strategies draw"): dates from an hour to decades ahead at millisecond precision, stale versions
above and below the current one, a request `comment` or none, unknown extra properties wherever
the schema lets them through, from none to every slot of the resource in one request.
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import unquote

from hypothesis import strategies as st

from generated.operations import RuleId

from .checks import Expectation, Schedules
from .families import FAMILIES, Family, ScheduleKey
from .provisioning import Provisioned, Slot

__all__ = [
    "DAY_MS", "Plan", "future_dates", "plans", "request_extras", "stale_offsets",
    "unknown_properties",
]

# an instruction, what must happen to it, and the rule it exercises if it must fail
Entry = tuple[dict[str, Any], Expectation, RuleId | None]

HOUR_MS = 3_600_000
DAY_MS = 86_400_000
YEAR_MS = 365 * DAY_MS
MAX_NEAR_MISSES = 3  # adds for near misses of targeted keys in one request
MAX_EXTRAS = 4  # other instructions beyond the slots' in one request
# A key no schema defines (LaunchDarkly's own never start so): an unknown property for sure.
UNKNOWN_PREFIX = "x-ct-"


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
    failure_rules: dict[int, RuleId] = field(default_factory=dict)  # index -> rule it exercises
    updated: dict[int, ScheduleKey] = field(default_factory=dict)  # successful updates
    body_extras: dict[str, Any] = field(default_factory=dict)  # `comment`, unknown properties

    def add(self, instruction: dict[str, Any], expectation: Expectation,
            rule: RuleId | None) -> None:
        """``rule``: the one a failing instruction exercises (None for one that succeeds)."""
        index = len(self.instructions)
        self.instructions.append(instruction)
        self.expectations.append(replace(expectation, index=index))
        if not expectation.must_succeed:
            assert rule is not None, f"{expectation.why}: a failing instruction exercises a rule"
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
        return Plan(instructions, expectations, self.failure_rules, self.updated,
                    self.body_extras)


@functools.cache
def future_dates(now_ms: int) -> st.SearchStrategy[int]:
    """Expiry dates from an hour to fifty years ahead, at millisecond precision. Never in the
    past or within minutes of now: past dates are tier-3 policy, and a run must not race the
    expiry of what it scheduled."""
    offsets = st.one_of(st.integers(HOUR_MS, DAY_MS), st.integers(DAY_MS, YEAR_MS),
                        st.integers(YEAR_MS, 50 * YEAR_MS))
    return offsets.map(lambda offset: now_ms + offset)


def stale_offsets(headroom: int = 0) -> st.SearchStrategy[int]:
    """How far a stale `version` is from the current one: just below or just above it (off by
    one), far below (zero and negative versions are integers too) or far above, up to near the
    top of int64. `headroom`: how far the version may move during the request before the
    instruction is applied (the segment's version, whose moves on schedule changes the
    documents leave open); offsets within it are never drawn."""
    return st.one_of(
        st.integers(-3, -1), st.integers(headroom + 1, headroom + 3),
        st.integers(-(2**40), -4), st.integers(headroom + 4, 2**40),
        st.integers(2**62, 2**62 + 2**40),
    )


# Unknown properties: a name no schema defines, and a value of every JSON type (nested ones
# included). Drawn from a catalogue: what matters to a server is that they are there and of
# which type, and a catalogue costs next to nothing per instruction.
_UNKNOWN_NAMES = [f"{UNKNOWN_PREFIX}{name}" for name in ("note", "ünï 🙂", "", "$ref", "kind ")]
_UNKNOWN_VALUES = [None, True, 0, -(2**63), 2**53 + 1, 1.5e300, "", "ünï\n🙂", [],
                   [1, "two", None], {}, {"nested": {"deeper": [False, {"x": 1}]}}]
_UNKNOWN_PROPERTIES = st.dictionaries(st.sampled_from(_UNKNOWN_NAMES),
                                      st.sampled_from(_UNKNOWN_VALUES), max_size=2)
_COMMENTS = st.one_of(st.none(), st.just(""), st.text(max_size=80))


def unknown_properties(allowed: bool) -> st.SearchStrategy[dict[str, Any]]:
    """Properties no schema defines, with any JSON value; none where the schema forbids them
    (`additionalProperties: false`)."""
    return _UNKNOWN_PROPERTIES if allowed else st.just({})


def request_extras(family: Family) -> st.SearchStrategy[dict[str, Any]]:
    """The body's properties besides `instructions`: the optional `comment` (absent, empty or
    any text) and unknown ones."""
    comment = _COMMENTS if family.body_has_comment else st.none()
    return st.builds(
        lambda c, unknown: {**unknown, **({} if c is None else {"comment": c})},
        comment, unknown_properties(family.open_body),
    )


def _fields(family: Family, p: Provisioned, slot: Slot, kind_name: str) -> dict[str, Any]:
    kind = getattr(family, kind_name)
    return {"kind": kind.name, **family.address(slot, p, kind)}


@st.composite
def _slot_instruction(
    draw: st.DrawFn, family: Family, p: Provisioned, slot: Slot, scheduled: frozenset[ScheduleKey],
    now_ms: int,
) -> Entry:
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
                Expectation(0, True, "add for a targeted context", key, date), None)
    if action == "add-without-value":
        return (_fields(family, p, slot, "add"),
                Expectation(0, False, "add without value", reason="missing-field"),
                "instruction-counts")
    if action == "remove":
        return (_fields(family, p, slot, "remove"),
                Expectation(0, True, "remove of a scheduled context", key, None), None)
    instruction = {**_fields(family, p, slot, "update"), "value": date}
    # version_bump_from=0 marks a successful update; `Plan.resolve` fills in the real number.
    if action == "update":
        instruction["version"] = Version(key, of_segment)
        return (instruction, Expectation(0, True, "update with the current version", key, date,
                                         0), None)
    if action == "update-unversioned":
        return (instruction, Expectation(0, True, "update without version", key, date, 0), None)
    if action == "update-without-version":
        return (instruction, Expectation(0, False, "update without the version it needs",
                                         reason="missing-field"),
                "instruction-counts")
    # The segment's version may move with each instruction before this one.
    headroom = len(family.slots(p)) + MAX_NEAR_MISSES + MAX_EXTRAS if of_segment else 0
    instruction["version"] = Version(key, of_segment, draw(stale_offsets(headroom)))
    return (instruction, Expectation(0, False, "update with a stale version",
                                     reason="version-mismatch"),
            "version-mismatch-fails")


# candidate addresses, why they fail, the rule, the documented reason (reasons.py)
Misaddressing = tuple[list[Slot], str, RuleId, str]  # slots, why, rule, reason

# Keys a server matching keys loosely takes for a targeted one (case-insensitive collations,
# trimming, Unicode normalisation, decoding twice, prefix matches).
KEY_NEAR_MISSES: tuple[tuple[str, Callable[[str], str]], ...] = (
    ("in another case", str.swapcase),
    ("with a trailing space", lambda key: f"{key} "),
    ("with a leading space", lambda key: f" {key}"),
    ("with its accents decomposed (NFD)", functools.partial(unicodedata.normalize, "NFD")),
    ("with %XX decoded", unquote),
    ("one character short", lambda key: key[:-1]),
    ("one character longer", lambda key: f"{key}x"),
)


def _kept(family: Family, p: Provisioned, changes: list[Misaddressing]) -> list[Misaddressing]:
    """The changes with only the addresses the resource does not target (by exact key, kind
    and list or variation: where an add must fail), and none left empty."""
    targeted = family.targeted(p)
    return [(kept, why, rule, reason) for candidates, why, rule, reason in changes
            if (kept := [c for c in candidates if family.key_of(c) not in targeted])]


def _near_misses(family: Family, p: Provisioned) -> list[Misaddressing]:
    """Every slot with its key changed by one of KEY_NEAR_MISSES (one entry per change, so
    each is drawn as often, whichever keys it changes)."""
    if not {"userKey", "contextKey"} & {*family.add.required, *family.add.optional}:
        return []  # the user endpoint names its user in the path
    return _kept(family, p, [
        ([replace(s, context_key=change(s.context_key)) for s in family.slots(p)],
         f"a targeted key {name}", "individual-target-required", "not-targeted")
        for name, change in KEY_NEAR_MISSES
    ])


def _unknown_variations(p: Provisioned) -> list[str]:
    """Variation ids no variation has: made up, and near misses of the real ones. Not another
    case: variation ids are UUIDs, which RFC 9562 reads case-insensitively, so a server may
    take the upper-case form for the id."""
    misses = ["no-such-variation"] + [
        variant for v in p.variation_ids for variant in (f"{v} ", v[:-1])]
    return [v for v in dict.fromkeys(misses) if v not in p.variation_ids]


def _misaddressings(family: Family, p: Provisioned) -> list[Misaddressing]:
    """Slots with another field of their address changed so that the resource does not
    target the context there: a key targeted nowhere, another kind, the other segment list,
    another or an unknown variation."""
    fields = {*family.add.required, *family.add.optional}
    slots = family.slots(p)
    kinds = sorted({s.context_kind for s in family.resource_slots(p)})
    flip = {"included": "excluded", "excluded": "included"}
    changes: list[Misaddressing] = []
    if fields & {"userKey", "contextKey"}:  # the user endpoint names its user in the path
        changes.append(([replace(s, context_key=p.untargeted_key) for s in slots],
                        "a context key targeted nowhere", "individual-target-required",
                        "not-targeted"))
    if "contextKind" in fields:
        changes.append(([replace(s, context_kind=k) for s in slots for k in kinds],
                        "the key under a kind not targeted there", "individual-target-required",
                        "not-targeted"))
    if "targetType" in fields:
        changes.append(([replace(s, target_type=flip[s.target_type or "included"])
                         for s in slots],
                        "the list that does not hold the context", "individual-target-required",
                        "not-targeted"))
    if "variationId" in fields:
        changes.append(([replace(s, variation_id=v) for s in slots for v in p.variation_ids],
                        "a variation that does not target the context", "one-variation-per-flag",
                        "not-targeted"))
        changes.append(([replace(s, variation_id=v) for s in slots
                         for v in _unknown_variations(p)],
                        "an unknown variation", "individual-target-required",
                        "unknown-variation"))
    return _kept(family, p, changes)


def _failing_adds(family: Family, p: Provisioned, changes: list[Misaddressing],
                  now_ms: int) -> st.SearchStrategy[Entry]:
    """An add for one of the misaddressed slots: it must fail, and change nothing."""
    @st.composite
    def add(draw: st.DrawFn) -> Entry:
        candidates, why, rule, reason = draw(st.sampled_from(changes))
        target = draw(st.sampled_from(candidates))
        return ({**_fields(family, p, target, "add"), "value": draw(future_dates(now_ms))},
                Expectation(0, False, f"add for {why}", reason=reason), rule)

    return add()


def _unknown_kinds(family: Family) -> list[str]:
    """Kinds the operation does not know: made up, and near misses of its own."""
    own = [family.add.name, family.update.name, family.remove.name]
    misses = ["frobnicate", ""] + [v for k in own for v in (f"{k}s", k[0].upper() + k[1:])]
    return [k for k in misses if k not in own]


def _extras(family: Family, p: Provisioned, now_ms: int) -> list[st.SearchStrategy[Any]]:
    """Instructions that must fail whatever the state, and change nothing."""
    slots = family.slots(p)
    date = future_dates(now_ms)
    # never empty: every operation names a context key or a variation
    options = [_failing_adds(family, p, _misaddressings(family, p), now_ms)]
    if family.free_form:
        options.append(st.builds(
            lambda slot, value, kind: (
                {**_fields(family, p, slot, "add"), "value": value, "kind": kind},
                Expectation(0, False, "unknown instruction kind"),
                "instruction-counts",
            ),
            st.sampled_from(slots), date, st.sampled_from(_unknown_kinds(family)),
        ))
    if family.resource == "user":
        missing = [f"{p.flag_key}-missing", p.flag_key.upper(), f"{p.flag_key} "]
        options.append(st.builds(
            lambda slot, value, flag: (
                {**_fields(family, p, slot, "add"), "value": value, "flagKey": flag},
                Expectation(0, False, "add on a flag that does not exist", reason="unknown-flag"),
                "individual-target-required",
            ),
            st.sampled_from(slots), date, st.sampled_from(missing),
        ))
    return options


@functools.cache
def _failing(operation_id: str, p: Provisioned,
             now_ms: int) -> list[st.SearchStrategy[list[Entry]]]:
    """The lists of instructions that must fail which a plan adds: near misses of targeted
    keys (where the operation names a key), and the others. Built once per operation,
    resources and clock: building them costs more than drawing from them."""
    family = FAMILIES[operation_id]
    near_misses = _near_misses(family, p)
    return [
        *([st.lists(_failing_adds(family, p, near_misses, now_ms), max_size=MAX_NEAR_MISSES)]
          if near_misses else []),
        st.lists(st.one_of(_extras(family, p, now_ms)), max_size=MAX_EXTRAS),
    ]


@st.composite
def plans(
    draw: st.DrawFn, family: Family, p: Provisioned, scheduled: frozenset[ScheduleKey],
    now_ms: int,
) -> Plan:
    """A request mixing instructions that must succeed with ones that must fail, for a
    resource whose scheduled contexts are `scheduled` (versions resolved later): from none to
    every slot, with unknown properties where the schema allows them."""
    slots = draw(st.lists(st.sampled_from(family.slots(p)), unique=True))
    entries = [draw(_slot_instruction(family, p, slot, scheduled, now_ms)) for slot in slots]
    for failing in _failing(family.operation.operation_id, p, now_ms):
        entries += draw(failing)
    entries = draw(st.permutations(entries))
    if family.update.version_of == "segment":
        # The segment's version is only known before the request: keep one versioned update,
        # first, so nothing before it could have changed that version.
        versioned = [e for e in entries if e[1].version_bump_from is not None]
        entries = versioned[:1] + [e for e in entries if e[1].version_bump_from is None]
    plan = Plan(body_extras=draw(request_extras(family)))
    unknown = unknown_properties(family.open_instructions)
    for instruction, expectation, rule in entries:
        plan.add({**draw(unknown), **instruction}, expectation, rule)
    return plan
