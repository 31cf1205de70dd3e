"""Lazy expiry: schedules whose date has come are applied before any request.

The context leaves the individual targeting it was scheduled on (the
segment's or flag's version goes up by one) and the schedule disappears.
"""

from __future__ import annotations

from collections.abc import Mapping

from .config import Project
from .flags import bump_flag_versions, variation_index
from .representations import FLAG_SLOTS
from .segments import bump_segment_version, segment_slots
from .storage.protocol import Tx
from .storage.records import FlagRecord

__all__ = ["expire_due"]


def expire_due(tx: Tx, now: int, projects: Mapping[str, Project]) -> int:
    """Apply every schedule due at ``now``; returns how many were applied."""
    due = tx.due_schedules(now)
    if not due:
        return 0
    segments: set[tuple[str, str, str]] = set()
    flags: dict[tuple[str, str], FlagRecord | None] = {}
    flag_envs: dict[tuple[str, str], set[str]] = {}
    for schedule in due:
        res = schedule.resource
        if res.kind == "segment":
            slots = segment_slots(schedule.target_type, schedule.context_kind)
            if tx.remove_targets(res, slots, schedule.context_kind, schedule.context_key):
                segments.add((res.project, res.env, res.key))
        else:
            flag_id = (res.project, res.key)
            if flag_id not in flags:
                flags[flag_id] = tx.get_flag(*flag_id)
            flag = flags[flag_id]
            variation = None if flag is None else variation_index(flag, schedule.variation_id)
            if variation is not None and tx.remove_targets(
                res, FLAG_SLOTS, schedule.context_kind, schedule.context_key, variation
            ):
                flag_envs.setdefault(flag_id, set()).add(res.env)
    tx.write_schedules([schedule.id for schedule in due], [], [])
    for project_key, env, key in sorted(segments):
        record = tx.get_segment(project_key, env, key)
        if record is not None:
            bump_segment_version(tx, now, record)
    for flag_id, envs in sorted(flag_envs.items()):
        flag = flags[flag_id]
        project = projects.get(flag_id[0])
        if flag is not None and project is not None:
            bump_flag_versions(tx, now, project, flag, envs)
    return len(due)
