"""Segments: creation, reading, and changes to their individual targets."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .errors import InstructionFailed, conflict, invalid_request
from .instructions import Kinds, KindSpec, check_instruction
from .json_patch import PatchError, apply_patch
from .representations import segment_rep
from .storage.protocol import Tx
from .storage.records import Resource, SegmentRecord, TargetRow
from .targeting import has_target

__all__ = [
    "create_segment",
    "patch_segment_json",
    "patch_segment_semantic",
    "prune_schedules",
    "segment_resource",
    "segment_slots",
    "segment_view",
]

JSON_PATCHABLE = (
    "included", "excluded", "includedContexts", "excludedContexts", "name", "description", "tags",
)


def segment_resource(record: SegmentRecord) -> Resource:
    return Resource("segment", record.project, record.env, record.key)


def segment_slots(target_type: str, context_kind: str) -> tuple[str, ...]:
    """The slots where a context of this kind sits in the ``target_type`` list."""
    if context_kind == "user":
        return (target_type, f"{target_type}Contexts")
    return (f"{target_type}Contexts",)


def segment_view(tx: Tx, record: SegmentRecord) -> dict[str, Any]:
    return segment_rep(record, tx.targets(segment_resource(record)))


def create_segment(tx: Tx, now: int, project: str, env: str, body: dict[str, Any]) -> SegmentRecord:
    key = body["key"]
    if tx.get_segment(project, env, key) is not None:
        raise conflict(f"segment {key!r} already exists in {project}/{env}")
    record = SegmentRecord(
        project=project,
        env=env,
        key=key,
        name=body["name"],
        description=body.get("description") or "",
        tags=list(body.get("tags") or []),
        version=1,
        creation_date=now,
        last_modified=now,
        unbounded=bool(body.get("unbounded", False)),
        unbounded_context_kind=body.get("unboundedContextKind"),
    )
    tx.insert_segment(record)
    return record


def patch_segment_semantic(
    tx: Tx, now: int, record: SegmentRecord, instructions: Sequence[Any], kinds: Kinds
) -> bool:
    """Apply the add/remove instructions on the included/excluded lists (each kind's action,
    list and context kind come from the spec); any failure is a 400 for all."""
    res = segment_resource(record)
    changed = False
    for index, instruction in enumerate(instructions):
        try:
            kind, spec = check_instruction(instruction, kinds)
            if spec.action not in ("add", "remove") or spec.target_list is None:
                raise InstructionFailed(f"instruction kind {kind!r} is not supported by the mock server")
            for key in instruction["values"]:
                changed |= _change_target(tx, res, spec, instruction, key)
        except InstructionFailed as exc:
            raise invalid_request(f"instruction {index}: {exc.message}") from None
    if changed:
        _touch(tx, now, record)
    return changed


def _change_target(tx: Tx, res: Resource, spec: KindSpec, instruction: dict[str, Any],
                   key: str) -> bool:
    """One key of an instruction: a kind whose targets are all users (its spec's
    ``context_kind``) writes the list's user form (``included``), the others its contexts
    form (``includedContexts``)."""
    target_type = spec.target_list
    assert target_type is not None
    context_kind = spec.context_kind or instruction["contextKind"]
    slots = segment_slots(target_type, context_kind)
    if spec.action == "remove":
        return tx.remove_targets(res, slots, context_kind, key) > 0
    if has_target(tx, res, slots, context_kind, key):
        return False
    slot = target_type if spec.context_kind is not None else f"{target_type}Contexts"
    return tx.add_target(res, TargetRow(slot, context_kind, key))


def patch_segment_json(tx: Tx, now: int, record: SegmentRecord, operations: Sequence[Any]) -> bool:
    """Apply an RFC 6902 patch to the segment's representation."""
    res = segment_resource(record)
    old_rows = tx.targets(res)
    document = segment_rep(record, old_rows)
    try:
        patched = apply_patch(document, operations, _json_patchable)
    except PatchError as exc:
        raise invalid_request(str(exc)) from None
    if not isinstance(patched, dict):
        raise invalid_request("the patched segment is not an object")
    name, description, tags = _metadata(patched)
    rows = _rows_from(patched)
    rows_changed = _dedup(rows) != _dedup(_rows_from(document))
    meta_changed = (name, description, tags) != (record.name, record.description, record.tags)
    if rows_changed:
        tx.replace_targets(res, ("included", "excluded", "includedContexts", "excludedContexts"), rows)
    if meta_changed:
        record.name, record.description, record.tags = name, description, tags
    if rows_changed or meta_changed:
        _touch(tx, now, record)
    return rows_changed or meta_changed


def _json_patchable(parts: list[str]) -> str | None:
    if parts and parts[0] in JSON_PATCHABLE:
        return None
    return "is not patchable on the mock server (patchable: " + ", ".join(
        f"/{name}" for name in JSON_PATCHABLE
    ) + ")"


def _metadata(doc: dict[str, Any]) -> tuple[str, str | None, list[str]]:
    name = doc.get("name")
    if not isinstance(name, str) or not name:
        raise invalid_request("/name must be a non-empty string")
    description = doc.get("description")
    if description is not None and not isinstance(description, str):
        raise invalid_request("/description must be a string")
    tags = doc.get("tags", [])
    if not _strings(tags):
        raise invalid_request("/tags must be an array of strings")
    return name, description, list(tags)


def _rows_from(doc: dict[str, Any]) -> list[TargetRow]:
    rows = []
    for slot in ("included", "excluded"):
        keys = doc.get(slot, [])
        if not _strings(keys):
            raise invalid_request(f"/{slot} must be an array of strings")
        rows += [TargetRow(slot, "user", key) for key in keys]
    for slot in ("includedContexts", "excludedContexts"):
        entries = doc.get(slot, [])
        if not isinstance(entries, list):
            raise invalid_request(f"/{slot} must be an array")
        for position, entry in enumerate(entries):
            if (
                not isinstance(entry, dict)
                or not isinstance(entry.get("contextKind"), str)
                or not _strings(entry.get("values", []))
            ):
                raise invalid_request(
                    f"/{slot}/{position} must be an object with a string contextKind"
                    " and an array of string values"
                )
            rows += [TargetRow(slot, entry["contextKind"], key) for key in entry.get("values", [])]
    return rows


def prune_schedules(tx: Tx, res: Resource) -> None:
    """Drop schedules whose context no longer sits in the list they were made for."""
    targeted = {(row.slot, row.context_kind, row.context_key) for row in tx.targets(res)}
    tx.write_schedules([
        s.id for s in tx.schedules_for(res)
        if not any((slot, s.context_kind, s.context_key) in targeted
                   for slot in segment_slots(s.target_type, s.context_kind))], [], [])


def bump_segment_version(tx: Tx, now: int, record: SegmentRecord) -> None:
    """The segment changed: its version goes up by one."""
    record.version += 1
    record.last_modified = now
    tx.update_segment(record)


def _touch(tx: Tx, now: int, record: SegmentRecord) -> None:
    bump_segment_version(tx, now, record)
    prune_schedules(tx, segment_resource(record))


def _dedup(rows: Sequence[TargetRow]) -> list[TargetRow]:
    return list(dict.fromkeys(rows))


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


