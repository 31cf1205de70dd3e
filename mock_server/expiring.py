"""Scheduled removals ("expiring targets"): the instruction semantics and listings.

One function per family of PATCH; each applies the instructions in order
inside the caller's transaction and returns the failed ones as
``(index, message)``. A failed instruction changes nothing; the others take
effect. Users are contexts of kind ``user``: the user endpoints and the
context endpoints read and write the same schedules.
"""

from __future__ import annotations

import itertools
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .errors import InstructionFailed
from .flags import flag_resource, variation_index
from .instructions import Kinds, KindSpec, action_of, check_instruction, version_refers_to_resource
from .representations import FLAG_SLOTS, SEGMENT_LISTS, schedule_item, schedule_items
from .segments import segment_resource, segment_slots
from .store import FlagRecord, Resource, Schedule, SegmentRecord, Tx

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
    total: int
    errors: list[tuple[int, str]] = field(default_factory=list)

    def rep(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "items": items,
            "totalInstructions": self.total,
            "successfulInstructions": self.total - len(self.errors),
            "failedInstructions": len(self.errors),
            "errors": [{"instructionIndex": i, "message": m} for i, m in self.errors],
        }


_PROCESS = secrets.token_bytes(5)
_counter = itertools.count(secrets.randbelow(1 << 24))


def new_schedule_id() -> str:
    """An ObjectId-like ``_id`` (seconds, process, counter): increasing, so inserts append."""
    count = next(_counter) & 0xFFFFFF
    return (int(time.time()).to_bytes(4, "big") + _PROCESS + count.to_bytes(3, "big")).hex()


Apply = Callable[[dict[str, Any], str, KindSpec], None]


def _run(instructions: Sequence[Any], kinds: Kinds, apply: Apply) -> PatchOutcome:
    outcome = PatchOutcome(total=len(instructions))
    for index, instruction in enumerate(instructions):
        try:
            kind, spec = check_instruction(instruction, kinds)
            apply(instruction, kind, spec)
        except InstructionFailed as exc:
            outcome.errors.append((index, exc.message))
    return outcome


# segments -----------------------------------------------------------------


def patch_segment_schedules(
    tx: Tx, now: int, segment: SegmentRecord, instructions: Sequence[Any], kinds: Kinds
) -> PatchOutcome:
    res = segment_resource(segment)

    def apply(instruction: dict[str, Any], kind: str, spec: KindSpec) -> None:
        action = action_of(kind)
        context_kind, context_key = _context(instruction, spec)
        target_type = instruction.get("targetType")
        if target_type not in SEGMENT_LISTS:
            raise InstructionFailed("targetType must be 'included' or 'excluded'")
        who = _who(context_kind, context_key)
        schedule = tx.find_schedule(res, context_kind, context_key, target_type)
        if action == "remove":
            if schedule is not None:
                tx.delete_schedule(schedule.id)
            return
        slots = segment_slots(target_type, context_kind)
        if not tx.has_target(res, slots, context_kind, context_key):
            raise InstructionFailed(
                f"{who} is not individually targeted in the {target_type} list of segment"
                f" {segment.key!r}"
            )
        if action == "add":
            if schedule is not None:
                raise InstructionFailed(
                    f"{who} already has a scheduled removal from the {target_type} list;"
                    " use an update instruction to change it"
                )
            tx.put_schedule(Schedule(
                new_schedule_id(), res, context_kind, context_key, target_type, "", 1,
                _future(instruction, kind, now),
            ))
            return
        if schedule is None:
            raise InstructionFailed(
                f"{who} has no scheduled removal from the {target_type} list to update"
            )
        _check_version(instruction, kind, spec, schedule, "segment", segment.version)
        schedule.expiration_date = _future(instruction, kind, now)
        schedule.version += 1
        tx.put_schedule(schedule)

    return _run(instructions, kinds, apply)


def segment_items(tx: Tx, segment: SegmentRecord, *, users_only: bool) -> list[dict[str, Any]]:
    return _resource_items(tx, segment_resource(segment), users_only)


# flags --------------------------------------------------------------------


def patch_flag_schedules(
    tx: Tx, now: int, flag: FlagRecord, env: str, instructions: Sequence[Any], kinds: Kinds
) -> PatchOutcome:
    def apply(instruction: dict[str, Any], kind: str, spec: KindSpec) -> None:
        context_kind, context_key = _context(instruction, spec)
        _apply_to_flag(tx, now, flag, env, instruction, kind, spec, context_kind, context_key)

    return _run(instructions, kinds, apply)


def flag_items(tx: Tx, flag: FlagRecord, env: str, *, users_only: bool) -> list[dict[str, Any]]:
    return _resource_items(tx, flag_resource(flag, env), users_only)


def _apply_to_flag(
    tx: Tx, now: int, flag: FlagRecord, env: str, instruction: dict[str, Any], kind: str,
    spec: KindSpec, context_kind: str, context_key: str,
) -> None:
    action = action_of(kind)
    variation_id = instruction.get("variationId")
    if not isinstance(variation_id, str):
        raise InstructionFailed(f"{kind} needs variationId")
    variation = variation_index(flag, variation_id)
    if variation is None:
        raise InstructionFailed(f"unknown variation {variation_id!r} on flag {flag.key!r}")
    res = flag_resource(flag, env)
    who = _who(context_kind, context_key)
    schedule = tx.find_schedule(res, context_kind, context_key, "")
    if action == "remove":
        if schedule is not None and schedule.variation_id == variation_id:
            tx.delete_schedule(schedule.id)
        return
    if not tx.has_target(res, FLAG_SLOTS, context_kind, context_key, variation):
        raise InstructionFailed(
            f"{who} is not individually targeted with variation {variation_id!r} on flag"
            f" {flag.key!r} in environment {env!r}"
        )
    if action == "add":
        if schedule is not None and schedule.variation_id != variation_id:
            raise InstructionFailed(
                f"{who} is already scheduled for removal on variation {schedule.variation_id!r};"
                " a flag schedules a context on at most one variation"
            )
        if schedule is not None:
            raise InstructionFailed(
                f"{who} already has a scheduled removal on this variation;"
                " use an update instruction to change it"
            )
        tx.put_schedule(Schedule(
            new_schedule_id(), res, context_kind, context_key, "", variation_id, 1,
            _future(instruction, kind, now),
        ))
        return
    if schedule is None or schedule.variation_id != variation_id:
        raise InstructionFailed(
            f"{who} has no scheduled removal on variation {variation_id!r} to update"
        )
    _check_version(instruction, kind, spec, schedule, "flag", flag.version)
    schedule.expiration_date = _future(instruction, kind, now)
    schedule.version += 1
    tx.put_schedule(schedule)


# users --------------------------------------------------------------------


def patch_user_schedules(
    tx: Tx, now: int, project: str, env: str, user_key: str,
    instructions: Sequence[Any], kinds: Kinds,
) -> PatchOutcome:
    flags: dict[str, FlagRecord | None] = {}

    def apply(instruction: dict[str, Any], kind: str, spec: KindSpec) -> None:
        flag_key = instruction.get("flagKey")
        if not isinstance(flag_key, str):
            raise InstructionFailed(f"{kind} needs flagKey")
        if flag_key not in flags:
            flags[flag_key] = tx.get_flag(project, flag_key)
        flag = flags[flag_key]
        if flag is None:
            raise InstructionFailed(f"unknown flag {flag_key!r} in project {project!r}")
        _apply_to_flag(tx, now, flag, env, instruction, kind, spec, "user", user_key)

    return _run(instructions, kinds, apply)


def user_items(tx: Tx, project: str, env: str, user_key: str) -> list[dict[str, Any]]:
    schedules = tx.context_flag_schedules(project, env, "user", user_key)
    return [schedule_item(s, user=True) for s in schedules]


# shared -------------------------------------------------------------------


def _context(instruction: dict[str, Any], spec: KindSpec) -> tuple[str, str]:
    fields = (*getattr(spec, "required", ()), *getattr(spec, "optional", ()))
    if "userKey" in fields or "userKey" in instruction:
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


def _future(instruction: dict[str, Any], kind: str, now: int) -> int:
    value = instruction.get("value")
    if value is None:
        raise InstructionFailed(f"{kind} needs value")
    if value <= now:
        raise InstructionFailed(
            f"the removal date {value} is not in the future (now is {now})"
        )
    return int(value)


def _check_version(
    instruction: dict[str, Any], kind: str, spec: KindSpec, schedule: Schedule,
    resource_kind: str, resource_version: int,
) -> None:
    version = instruction.get("version")
    if version_refers_to_resource(spec):
        if version is None:
            raise InstructionFailed(f"{kind} needs version (the {resource_kind}'s version)")
        if version != resource_version:
            raise InstructionFailed(
                f"version {version} does not match the {resource_kind}'s version {resource_version}"
            )
    elif version is not None and version != schedule.version:
        raise InstructionFailed(
            f"version {version} does not match the scheduled removal's _version {schedule.version}"
        )


def _resource_items(tx: Tx, res: Resource, users_only: bool) -> list[dict[str, Any]]:
    rows = tx.schedule_rows(res, "user" if users_only else None)
    return schedule_items(res, rows, user=users_only)


