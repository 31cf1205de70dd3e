"""Feature flags: creation, reading, and changes to their individual targeting."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from .config import Project
from .errors import InstructionFailed, conflict, invalid_request, not_found
from .instructions import Kinds, check_instruction
from .json_patch import PatchError, apply_patch
from .representations import FLAG_SLOTS, flag_rep
from .storage.protocol import Tx
from .storage.records import FlagEnvRecord, FlagRecord, Resource, TargetRow
from .targeting import target_variations

__all__ = [
    "create_flag",
    "flag_env_records",
    "flag_resource",
    "flag_view",
    "patch_flag_json",
    "patch_flag_semantic",
    "prune_schedules",
    "variation_index",
]

_EXTRAS = ("clientSideAvailability", "includeInSnippet", "customProperties", "maintainerId",
           "maintainerTeamKey")


def flag_resource(record: FlagRecord, env: str) -> Resource:
    return Resource("flag", record.project, env, record.key)


def variation_index(record: FlagRecord, variation_id: str) -> int | None:
    for index, variation in enumerate(record.variations):
        if variation.get("_id") == variation_id:
            return index
    return None


def _hash(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:32]


def _default_env(record: FlagRecord, env: str, now: int, on: bool = False) -> FlagEnvRecord:
    return FlagEnvRecord(
        env=env,
        version=1,
        last_modified=now,
        salt=_hash("salt", record.project, record.key, env),
        sel=_hash("sel", record.project, record.key, env),
        on=on,
    )


def flag_env_records(tx: Tx, project: Project, record: FlagRecord) -> dict[str, FlagEnvRecord]:
    """One record per environment of the project (defaults for environments added later)."""
    stored = tx.flag_envs(record.project, record.key)
    return {
        env: stored.get(env) or _default_env(record, env, record.creation_date)
        for env in project.environments
    }


def flag_view(tx: Tx, project: Project, record: FlagRecord, only_env: str | None = None) -> dict[str, Any]:
    envs = flag_env_records(tx, project, record)
    if only_env is not None:
        envs = {only_env: envs[only_env]}
    return flag_rep(
        record,
        project,
        {env: (rec, tx.targets(flag_resource(record, env))) for env, rec in envs.items()},
    )


def create_flag(tx: Tx, now: int, project: Project, body: dict[str, Any]) -> FlagRecord:
    key = body["key"]
    if tx.get_flag(project.key, key) is not None:
        raise conflict(f"flag {key!r} already exists in project {project.key!r}")
    variations = _variations(body.get("variations"))
    defaults = body.get("defaults") or {"onVariation": 0, "offVariation": len(variations) - 1}
    for name in ("onVariation", "offVariation"):
        index = defaults.get(name)
        if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < len(variations):
            raise invalid_request(f"defaults.{name} must be the index of a variation")
    values = [v["value"] for v in variations]
    extras = {name: body[name] for name in _EXTRAS if body.get(name) is not None}
    extras["defaults"] = {"onVariation": defaults["onVariation"], "offVariation": defaults["offVariation"]}
    record = FlagRecord(
        project=project.key,
        key=key,
        name=body["name"],
        description=body.get("description") or "",
        kind="boolean" if all(isinstance(v, bool) for v in values) else "multivariate",
        variations=variations,
        tags=list(body.get("tags") or []),
        temporary=bool(body.get("temporary", True)),
        version=1,
        creation_date=now,
        extras=extras,
    )
    tx.insert_flag(record)
    for env in project.environments:
        tx.put_flag_env(project.key, key, _default_env(record, env, now, bool(body.get("isFlagOn"))))
    return record


def _variations(raw: Any) -> list[dict[str, Any]]:
    if not raw:
        raw = [{"value": True}, {"value": False}]
    variations, seen = [], []
    for position, variation in enumerate(raw):
        if not isinstance(variation, dict) or "value" not in variation:
            raise invalid_request(f"variations[{position}] needs a value")
        identity = json.dumps(variation["value"], sort_keys=True)
        if identity in seen:
            raise invalid_request("variation values must be unique")
        seen.append(identity)
        entry = {"_id": str(uuid.uuid4()), "value": variation["value"]}
        for name in ("name", "description"):
            if variation.get(name) is not None:
                entry[name] = variation[name]
        variations.append(entry)
    return variations


def patch_flag_semantic(
    tx: Tx, now: int, project: Project, record: FlagRecord, env: str,
    instructions: Sequence[Any], kinds: Kinds,
) -> bool:
    """Apply the add/remove targets instructions in one environment (each kind's action and
    context kind come from the spec); any failure is a 400 for all."""
    if env not in project.environments:
        raise not_found(f"unknown environment {env!r} in project {project.key!r}")
    res = flag_resource(record, env)
    changed = False
    for index, instruction in enumerate(instructions):
        try:
            kind, spec = check_instruction(instruction, kinds)
            if spec.action not in ("add", "remove"):
                raise InstructionFailed(f"instruction kind {kind!r} is not supported by the mock server")
            variation = variation_index(record, instruction["variationId"])
            if variation is None:
                raise InstructionFailed(f"unknown variation {instruction['variationId']!r}")
            context_kind = spec.context_kind or instruction.get("contextKind") or "user"
            for key in instruction["values"]:
                if spec.action == "remove":
                    changed |= tx.remove_targets(res, FLAG_SLOTS, context_kind, key, variation) > 0
                else:
                    changed |= _add_target(tx, res, context_kind, key, variation)
        except InstructionFailed as exc:
            raise invalid_request(f"instruction {index}: {exc.message}") from None
    if changed:
        _touch(tx, now, project, record, [env])
    return changed


def _add_target(tx: Tx, res: Resource, context_kind: str, key: str, variation: int) -> bool:
    existing = target_variations(tx, res, FLAG_SLOTS, context_kind, key)
    others = [v for v in existing if v != variation]
    if others:
        raise InstructionFailed(
            f"{context_kind} {key!r} is already targeted with variation {others[0]}"
            f" in environment {res.env!r}"
        )
    if variation in existing:
        return False
    slot = "targets" if context_kind == "user" else "contextTargets"
    return tx.add_target(res, TargetRow(slot, context_kind, key, variation))


def patch_flag_json(
    tx: Tx, now: int, project: Project, record: FlagRecord, operations: Sequence[Any]
) -> bool:
    """Apply an RFC 6902 patch to the flag's representation."""
    document = flag_view(tx, project, record)

    def patchable(parts: list[str]) -> str | None:
        if parts and parts[0] in ("name", "description"):
            return None
        if len(parts) >= 3 and parts[0] == "environments" and parts[2] in FLAG_SLOTS:
            if parts[1] not in project.environments:
                return f"names an unknown environment {parts[1]!r}"
            return None
        return ("is not patchable on the mock server (patchable: /name, /description,"
                " /environments/{env}/targets, /environments/{env}/contextTargets)")

    try:
        patched = apply_patch(document, operations, patchable)
    except PatchError as exc:
        raise invalid_request(str(exc)) from None
    if not isinstance(patched, dict) or not isinstance(patched.get("environments"), dict):
        raise invalid_request("the patched flag is not an object with environments")
    name, description = patched.get("name"), patched.get("description", "")
    if not isinstance(name, str) or not name:
        raise invalid_request("/name must be a non-empty string")
    if not isinstance(description, str):
        raise invalid_request("/description must be a string")
    changed_envs = []
    for env in project.environments:
        new_rows = _rows_from(patched["environments"].get(env), env, len(record.variations))
        old_rows = _rows_from(document["environments"][env], env, len(record.variations))
        if _dedup(new_rows) != _dedup(old_rows):
            tx.replace_targets(flag_resource(record, env), FLAG_SLOTS, new_rows)
            changed_envs.append(env)
    meta_changed = (name, description) != (record.name, record.description)
    record.name, record.description = name, description
    if changed_envs or meta_changed:
        _touch(tx, now, project, record, changed_envs)
    return bool(changed_envs or meta_changed)


def _rows_from(config: Any, env: str, n_variations: int) -> list[TargetRow]:
    if not isinstance(config, dict):
        raise invalid_request(f"/environments/{env} must be an object")
    rows: list[TargetRow] = []
    for slot in FLAG_SLOTS:
        entries = config.get(slot, [])
        if not isinstance(entries, list):
            raise invalid_request(f"/environments/{env}/{slot} must be an array")
        for position, entry in enumerate(entries):
            where = f"/environments/{env}/{slot}/{position}"
            if not isinstance(entry, dict):
                raise invalid_request(f"{where} must be an object")
            variation, values = entry.get("variation"), entry.get("values")
            if not isinstance(variation, int) or isinstance(variation, bool) or not 0 <= variation < n_variations:
                raise invalid_request(f"{where}/variation must be the index of a variation")
            if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
                raise invalid_request(f"{where}/values must be an array of strings")
            kind = entry.get("contextKind", "user")
            if not isinstance(kind, str) or (slot == "targets" and kind != "user"):
                raise invalid_request(f"{where}/contextKind must be a string ('user' in targets)")
            rows += [TargetRow(slot, kind, key, variation) for key in values]
    seen: dict[tuple[str, str], int] = {}
    for row in rows:
        first = seen.setdefault((row.context_kind, row.context_key), row.variation)
        if first != row.variation:
            raise invalid_request(
                f"{row.context_kind} {row.context_key!r} is targeted with more than one variation"
                f" in environment {env!r}"
            )
    return rows


def prune_schedules(tx: Tx, record: FlagRecord, res: Resource) -> None:
    """Drop schedules whose context is no longer targeted with their variation."""
    targeted = {(row.context_kind, row.context_key, row.variation) for row in tx.targets(res)
                if row.slot in FLAG_SLOTS}
    tx.write_schedules([
        s.id for s in tx.schedules_for(res)
        if (s.context_kind, s.context_key, variation_index(record, s.variation_id)) not in targeted
    ], [], [])


def bump_flag_versions(
    tx: Tx, now: int, project: Project, record: FlagRecord, envs: Iterable[str]
) -> None:
    """The flag changed in ``envs``: its ``_version`` and each one's ``version`` go up by one."""
    record.version += 1
    tx.update_flag(record)
    records = flag_env_records(tx, project, record)
    for env in sorted(set(envs) & records.keys()):
        env_record = records[env]
        env_record.version += 1
        env_record.last_modified = now
        tx.put_flag_env(project.key, record.key, env_record)


def _touch(tx: Tx, now: int, project: Project, record: FlagRecord, envs: Sequence[str]) -> None:
    bump_flag_versions(tx, now, project, record, envs)
    for env in envs:
        prune_schedules(tx, record, flag_resource(record, env))


def _dedup(rows: Sequence[TargetRow]) -> list[TargetRow]:
    return list(dict.fromkeys(rows))
