"""Scheduled removals ("expiring targets"): the instruction semantics and listings.

One function per family of PATCH; each applies the instructions in order
inside the caller's transaction and returns the failed ones as
``(index, message)`` and the schedules that the successful add and update
instructions left (the PATCH's ``items``; tier-3 policy, docs/mock-server.md).
A failed instruction changes nothing; the others take effect. Users are
contexts of kind ``user``: the user endpoints and the context endpoints read
and write the same schedules.
"""

from __future__ import annotations

import itertools
import secrets
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from orjson import Fragment

from .errors import InstructionFailed, VersionMismatch, conflict
from .flags import flag_resource, variation_index
from .instructions import Kinds, KindSpec, check_instruction, version_refers_to_resource
from .listings import context_flag_listing, resource_listing
from .policy import Policy
from .representations import FLAG_SLOTS, SEGMENT_LISTS, as_user_items, schedule_item_json
from .segments import segment_resource, segment_slots
from .storage.protocol import Tx
from .storage.records import NO_VARIATION, FlagRecord, Resource, Schedule, SegmentRecord

__all__ = [
    "PatchOutcome",
    "flag_items",
    "new_schedule_id",
    "patch_flag_schedules",
    "patch_segment_schedules",
    "patch_user_schedules",
    "segment_items",
    "user_items",
]


@dataclass
class PatchOutcome:
    """What a PATCH did: the failed instructions, and ``schedules``: in instruction order,
    without duplicates, the schedule as it stands after the PATCH of every context that a
    successful add or update named (one a later instruction removed again is left out)."""

    total: int
    errors: list[tuple[int, str]] = field(default_factory=list)
    schedules: list[Schedule] = field(default_factory=list)
    written: Mapping[str, str] = field(default_factory=dict)  # items as stored, by _id
    changed: set[Resource] = field(default_factory=set)  # resources whose schedules changed

    def rep(self, policy: Policy, *, user: bool, listing: bytes | None = None) -> dict[str, Any]:
        """The answer; ``user``: items as the user endpoints list them (``userKey``). The
        items go out as the store wrote them (``Fragment``: orjson copies them verbatim);
        ``listing``: every schedule instead (``patch_items: all``)."""
        number: Callable[[int], int | float] = (
            float if policy.count_numbers == "decimal" else int)
        if policy.patch_items == "none":
            items: Any = []
        elif listing is not None:
            items = Fragment(listing)
        else:
            items = [Fragment(self._item(s, user)) for s in self.schedules]
        answer = {
            "items": items,
            "totalInstructions": number(self.total),
            "successfulInstructions": number(self.total - len(self.errors)),
            "failedInstructions": number(len(self.errors)),
            "errors": [{"instructionIndex": number(i), "message": m} for i, m in self.errors],
        }
        if not self.errors and policy.empty_errors == "omitted":
            del answer["errors"]
        return answer

    def _item(self, schedule: Schedule, user: bool) -> bytes:
        text = self.written.get(schedule.id) or schedule_item_json(schedule)
        return as_user_items(text.encode()) if user else text.encode()


_PROCESS = secrets.token_bytes(5)
_counter = itertools.count(secrets.randbelow(1 << 24))


def new_schedule_id() -> str:
    """An ObjectId-like ``_id`` (seconds, process, counter): increasing, so inserts append."""
    count = next(_counter) & 0xFFFFFF
    return (int(time.time()).to_bytes(4, "big") + _PROCESS + count.to_bytes(3, "big")).hex()


_Key = tuple[Resource, str, str, str]  # resource, context kind, context key, target type


class _Schedules:
    """The schedules and individual targets of the contexts a PATCH names, as the
    instructions see them: read in a few queries (all the named contexts of a resource at
    once, :meth:`load`), changed in memory, written back in one batch (:meth:`flush`).

    An expiring-targets PATCH never changes individual targets, so those are only read.
    """

    def __init__(self, tx: Tx) -> None:
        self.tx = tx
        self.current: dict[_Key, Schedule | None] = {}
        self.initial: dict[_Key, tuple[str, str, int, int]] = {}  # id, variation, version, date
        self.targets: set[tuple[Resource, str, str, str, int]] = set()
        self.loaded: set[tuple[Resource, str, str]] = set()

    def load(self, res: Resource, contexts: Iterable[tuple[str, str]]) -> None:
        by_kind: dict[str, list[str]] = {}
        for kind, key in contexts:
            if (res, kind, key) not in self.loaded:
                self.loaded.add((res, kind, key))
                by_kind.setdefault(kind, []).append(key)
        for kind, keys in by_kind.items():
            for s in self.tx.context_schedules(res, kind, keys):
                found = (res, kind, s.context_key, s.target_type)
                self.current[found] = s
                self.initial[found] = (s.id, s.variation_id, s.version, s.expiration_date)
            for row in self.tx.context_targets(res, kind, keys):
                self.targets.add((res, row.slot, kind, row.context_key, row.variation))

    def find(self, res: Resource, kind: str, key: str, target_type: str) -> Schedule | None:
        if (res, kind, key) not in self.loaded:
            self.load(res, ((kind, key),))
        return self.current.get((res, kind, key, target_type))

    def has_target(self, res: Resource, slots: Sequence[str], kind: str, key: str,
                   variation: int = NO_VARIATION) -> bool:
        if (res, kind, key) not in self.loaded:
            self.load(res, ((kind, key),))
        for slot in slots:
            if (res, slot, kind, key, variation) in self.targets:
                return True
        return False

    def put(self, s: Schedule) -> None:
        self.current[(s.resource, s.context_kind, s.context_key, s.target_type)] = s

    def delete(self, s: Schedule) -> None:
        self.current[(s.resource, s.context_kind, s.context_key, s.target_type)] = None

    def flush(self) -> tuple[Mapping[str, str], set[Resource]]:
        """Write the changes; the items as stored, and the resources whose schedules changed."""
        deleted: list[str] = []
        updated: list[Schedule] = []
        inserted: list[Schedule] = []
        changed: set[Resource] = set()
        for key, now in self.current.items():
            before = self.initial.get(key)
            if now is None:
                if before is not None:
                    deleted.append(before[0])
                    changed.add(key[0])
                continue
            if before is None:
                inserted.append(now)
            elif before[0] != now.id:
                deleted.append(before[0])
                inserted.append(now)
            elif before[1:] != (now.variation_id, now.version, now.expiration_date):
                updated.append(now)
            else:
                continue
            changed.add(key[0])
        return self.tx.write_schedules(deleted, updated, inserted), changed


def _named_contexts(instructions: Sequence[Any]) -> list[tuple[str, str]]:
    """The contexts the instructions name (for :meth:`_Schedules.load`; lenient: an
    instruction that names none well is simply not prefetched)."""
    contexts = []
    for instruction in instructions:
        if isinstance(instruction, dict):
            user_key = instruction.get("userKey")
            if isinstance(user_key, str):
                contexts.append(("user", user_key))
            kind, key = instruction.get("contextKind"), instruction.get("contextKey")
            if isinstance(kind, str) and isinstance(key, str):
                contexts.append((kind, key))
    return contexts


Apply = Callable[[dict[str, Any], str, KindSpec], _Key | None]


def _run(
    view: _Schedules, instructions: Sequence[Any], kinds: Kinds, apply: Apply, policy: Policy
) -> PatchOutcome:
    """Apply the instructions in order, write the changes back, and collect the outcome.

    ``apply`` returns the key of the schedule a successful add or update left (``None`` for a
    remove); those schedules, as they stand at the end, are the outcome's ``schedules``: read
    from memory, so the answer costs nothing per schedule the PATCH did not touch. Nothing is
    written before the end, so a request the policy refuses whole (``version_mismatch:
    conflict``, ``partial_failure: atomic``) leaves nothing behind."""
    outcome = PatchOutcome(total=len(instructions))
    touched: dict[_Key, None] = {}  # insertion-ordered set
    for index, instruction in enumerate(instructions):
        try:
            kind, spec = check_instruction(instruction, kinds)
            key = apply(instruction, kind, spec)
        except VersionMismatch as exc:
            if policy.version_mismatch == "conflict":
                raise conflict(f"instruction {index}: {exc.message}") from None
            outcome.errors.append((index, exc.message))
        except InstructionFailed as exc:
            outcome.errors.append((index, exc.message))
        else:
            if key is not None:
                touched[key] = None
    if outcome.errors and policy.partial_failure == "atomic":
        failed = ", ".join(str(i) for i, _ in outcome.errors)
        note = (f"not applied: instruction(s) {failed} failed, and a semantic patch is applied"
                " whole or not at all")
        listed = {i for i, _ in outcome.errors}
        outcome.errors = sorted([*outcome.errors, *((i, note) for i in range(outcome.total)
                                                    if i not in listed)])
        return outcome
    outcome.written, outcome.changed = view.flush()
    outcome.schedules = [s for s in map(view.current.get, touched) if s is not None]
    return outcome


# segments -----------------------------------------------------------------


def patch_segment_schedules(
    tx: Tx, now: int, segment: SegmentRecord, instructions: Sequence[Any], kinds: Kinds,
    policy: Policy,
) -> PatchOutcome:
    res = segment_resource(segment)
    view = _Schedules(tx)
    view.load(res, _named_contexts(instructions))

    def apply(instruction: dict[str, Any], kind: str, spec: KindSpec) -> _Key | None:
        action = spec.action
        context_kind, context_key = _context(instruction, spec)
        target_type = instruction.get("targetType")
        if target_type not in SEGMENT_LISTS:
            raise InstructionFailed("targetType must be 'included' or 'excluded'")
        key: _Key = (res, context_kind, context_key, target_type)
        where = f"{_who(context_kind, context_key)} in the {target_type} list"
        if action != "remove" and not view.has_target(
                res, segment_slots(target_type, context_kind), context_kind, context_key):
            raise InstructionFailed(
                f"{_who(context_kind, context_key)} is not individually targeted in the"
                f" {target_type} list of segment {segment.key!r}"
            )
        change = _Change(view, policy, now, instruction, kind, where)
        listed = change.apply(
            action, view.find(*key),
            lambda date: Schedule(new_schedule_id(), res, context_kind, context_key, target_type,
                                  "", policy.first_version, date),
            lambda schedule: _check_version(instruction, kind, spec, schedule, "segment",
                                            segment.version),
        )
        return key if listed else None

    return _run(view, instructions, kinds, apply, policy)


def segment_items(tx: Tx, segment: SegmentRecord, *, users_only: bool, policy: Policy) -> bytes:
    return _resource_items(tx, segment_resource(segment), users_only, policy)


# flags --------------------------------------------------------------------


def patch_flag_schedules(
    tx: Tx, now: int, flag: FlagRecord, env: str, instructions: Sequence[Any], kinds: Kinds,
    policy: Policy,
) -> PatchOutcome:
    view = _Schedules(tx)
    view.load(flag_resource(flag, env), _named_contexts(instructions))

    def apply(instruction: dict[str, Any], kind: str, spec: KindSpec) -> _Key | None:
        context_kind, context_key = _context(instruction, spec)
        change = _Change(view, policy, now, instruction, kind, _who(context_kind, context_key))
        return _apply_to_flag(change, flag, env, spec, context_kind, context_key)

    return _run(view, instructions, kinds, apply, policy)


def flag_items(tx: Tx, flag: FlagRecord, env: str, *, users_only: bool, policy: Policy) -> bytes:
    return _resource_items(tx, flag_resource(flag, env), users_only, policy)


def _apply_to_flag(
    change: _Change, flag: FlagRecord, env: str, spec: KindSpec, context_kind: str,
    context_key: str,
) -> _Key | None:
    """One flag instruction; the key of the schedule it left (``None`` for a remove)."""
    view, instruction, kind = change.view, change.instruction, change.kind
    action = spec.action
    variation_id = instruction.get("variationId")
    if not isinstance(variation_id, str):
        raise InstructionFailed(f"{kind} needs variationId")
    variation = variation_index(flag, variation_id)
    if variation is None:
        raise InstructionFailed(f"unknown variation {variation_id!r} on flag {flag.key!r}")
    res = flag_resource(flag, env)
    key: _Key = (res, context_kind, context_key, "")
    schedule = view.find(*key)
    if action != "remove":
        if not view.has_target(res, FLAG_SLOTS, context_kind, context_key, variation):
            raise InstructionFailed(
                f"{_who(context_kind, context_key)} is not individually targeted with variation"
                f" {variation_id!r} on flag {flag.key!r} in environment {env!r}"
            )
        if schedule is not None and schedule.variation_id != variation_id:
            raise InstructionFailed(
                f"{_who(context_kind, context_key)} is already scheduled for removal on"
                f" variation {schedule.variation_id!r}; a flag schedules a context on at most"
                " one variation"
            )
    elif schedule is not None and schedule.variation_id != variation_id:
        schedule = None  # a schedule on another variation is not this one
    listed = change.apply(
        action, schedule,
        lambda date: Schedule(new_schedule_id(), res, context_kind, context_key, "",
                              variation_id, change.policy.first_version, date),
        lambda found: _check_version(instruction, kind, spec, found, "flag", flag.version),
    )
    return key if listed else None


# users --------------------------------------------------------------------


def patch_user_schedules(
    tx: Tx, now: int, project: str, env: str, user_key: str,
    instructions: Sequence[Any], kinds: Kinds, policy: Policy,
) -> PatchOutcome:
    flags: dict[str, FlagRecord | None] = {}
    view = _Schedules(tx)

    def apply(instruction: dict[str, Any], kind: str, spec: KindSpec) -> _Key | None:
        flag_key = instruction.get("flagKey")
        if not isinstance(flag_key, str):
            raise InstructionFailed(f"{kind} needs flagKey")
        if flag_key not in flags:
            flags[flag_key] = tx.get_flag(project, flag_key)
        flag = flags[flag_key]
        if flag is None:
            raise InstructionFailed(f"unknown flag {flag_key!r} in project {project!r}")
        change = _Change(view, policy, now, instruction, kind, _who("user", user_key))
        return _apply_to_flag(change, flag, env, spec, "user", user_key)

    return _run(view, instructions, kinds, apply, policy)


def user_items(tx: Tx, project: str, env: str, user_key: str, policy: Policy) -> bytes:
    return as_user_items(context_flag_listing(
        tx, project, env, "user", user_key, descending=policy.items_order == "descending"))


# shared -------------------------------------------------------------------


@dataclass
class _Change:
    """One add, update or remove on one schedule slot, as the policy answers the cases the
    documents leave open (add on a scheduled target, update or remove of an unscheduled one,
    past dates)."""

    view: _Schedules
    policy: Policy
    now: int
    instruction: dict[str, Any]
    kind: str
    where: str  # who, for messages

    def apply(self, action: str, schedule: Schedule | None,
              create: Callable[[int], Schedule],
              check_version: Callable[[Schedule | None], None]) -> bool:
        """Apply the action; whether its schedule belongs in the PATCH's ``items``."""
        if action == "remove":
            if schedule is not None:
                self.view.delete(schedule)
            elif self.policy.remove_unscheduled == "fail":
                raise InstructionFailed(f"{self.where} has no scheduled removal to remove")
            return False
        if schedule is None:
            if action == "update":
                if self.policy.update_unscheduled == "fail":
                    raise InstructionFailed(
                        f"{self.where} has no scheduled removal to update")
                check_version(None)
            self.view.put(create(self._date()))
            return True
        if action == "add":
            if self.policy.add_on_scheduled == "fail":
                raise InstructionFailed(
                    f"{self.where} already has a scheduled removal; use an update instruction"
                    " to change it")
        else:
            check_version(schedule)
        schedule.expiration_date = self._date()
        schedule.version += 1
        return True

    def _date(self) -> int:
        value = self.instruction.get("value")
        if value is None:
            raise InstructionFailed(f"{self.kind} needs value")
        if value <= self.now and self.policy.past_dates == "refuse":
            raise InstructionFailed(
                f"the removal date {value} is not in the future (now is {self.now})")
        return int(value)


def _context(instruction: dict[str, Any], spec: KindSpec) -> tuple[str, str]:
    if "userKey" in instruction or "userKey" in spec.required or "userKey" in spec.optional:
        key = instruction.get("userKey")
        if not isinstance(key, str):
            raise InstructionFailed("the instruction needs userKey")
        return "user", key
    kind, key = instruction.get("contextKind"), instruction.get("contextKey")
    if not isinstance(kind, str) or not isinstance(key, str):
        raise InstructionFailed("the instruction needs contextKind and contextKey")
    return kind, key


def _who(context_kind: str, context_key: str) -> str:
    return f"{context_kind} {context_key!r}"


def _check_version(
    instruction: dict[str, Any], kind: str, spec: KindSpec, schedule: Schedule | None,
    resource_kind: str, resource_version: int,
) -> None:
    version = instruction.get("version")
    if version_refers_to_resource(spec):
        if version is None:
            raise InstructionFailed(f"{kind} needs version (the {resource_kind}'s version)")
        if version != resource_version:
            raise VersionMismatch(
                f"version {version} does not match the {resource_kind}'s version {resource_version}"
            )
    elif version is not None and schedule is not None and version != schedule.version:
        raise VersionMismatch(
            f"version {version} does not match the scheduled removal's _version {schedule.version}"
        )


def _resource_items(tx: Tx, res: Resource, users_only: bool, policy: Policy) -> bytes:
    """The listing's ``items`` as JSON text (the store keeps every item rendered)."""
    descending = policy.items_order == "descending"
    if users_only:
        return as_user_items(resource_listing(tx, res, "user", descending=descending))
    return resource_listing(tx, res, descending=descending)


