"""JSON representations of segments, flags and schedules, as the API returns them.

Every field that the reference schemas (UserSegment, FeatureFlag,
FeatureFlagConfig, ExpiringTarget, ExpiringUserTargetItem) require is
present, so clients generated from the reference spec deserialise them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

import orjson

from .config import Project
from .storage.records import (
    FlagEnvRecord,
    FlagRecord,
    Schedule,
    SegmentRecord,
    TargetRow,
)

__all__ = [
    "FLAG_SLOTS",
    "SEGMENT_LISTS",
    "as_user_items",
    "flag_env_rep",
    "flag_rep",
    "schedule_item",
    "schedule_item_json",
    "segment_rep",
]

SEGMENT_LISTS = ("included", "excluded")  # targetType values; "<list>Contexts" holds contexts
FLAG_SLOTS = ("targets", "contextTargets")

JSON = "application/json"


def _q(key: str) -> str:
    return quote(key, safe="")


def segment_rep(record: SegmentRecord, rows: Iterable[TargetRow]) -> dict[str, Any]:
    users: dict[str, list[str]] = {"included": [], "excluded": []}
    contexts: dict[str, dict[str, list[str]]] = {"includedContexts": {}, "excludedContexts": {}}
    for row in rows:
        if row.slot in users:
            users[row.slot].append(row.context_key)
        elif row.slot in contexts:
            contexts[row.slot].setdefault(row.context_kind, []).append(row.context_key)
    self_href = f"/api/v2/segments/{_q(record.project)}/{_q(record.env)}/{_q(record.key)}"
    rep: dict[str, Any] = {
        "name": record.name,
        "tags": list(record.tags),
        "creationDate": record.creation_date,
        "lastModifiedDate": record.last_modified,
        "key": record.key,
        "included": users["included"],
        "excluded": users["excluded"],
        "includedContexts": [
            {"contextKind": kind, "values": values}
            for kind, values in contexts["includedContexts"].items()
        ],
        "excludedContexts": [
            {"contextKind": kind, "values": values}
            for kind, values in contexts["excludedContexts"].items()
        ],
        "_links": {
            "self": {"href": self_href, "type": JSON},
            "parent": {"href": f"/api/v2/segments/{_q(record.project)}/{_q(record.env)}", "type": JSON},
        },
        "rules": [],
        "version": record.version,
        "deleted": False,
        "generation": 1,
        "unbounded": record.unbounded,
        "_flags": [],
    }
    if record.description is not None:
        rep["description"] = record.description
    if record.unbounded_context_kind is not None:
        rep["unboundedContextKind"] = record.unbounded_context_kind
    return rep


def flag_env_rep(
    flag: FlagRecord, env: FlagEnvRecord, env_name: str, rows: Iterable[TargetRow]
) -> dict[str, Any]:
    user_targets: dict[int, list[str]] = {}
    context_targets: dict[tuple[int, str], list[str]] = {}
    for row in rows:
        if row.slot == "targets":
            user_targets.setdefault(row.variation, []).append(row.context_key)
        elif row.slot == "contextTargets":
            context_targets.setdefault((row.variation, row.context_kind), []).append(row.context_key)
    defaults = flag.extras.get("defaults") or {}
    return {
        "on": env.on,
        "archived": False,
        "salt": env.salt,
        "sel": env.sel,
        "lastModified": env.last_modified,
        "version": env.version,
        "targets": [
            {"values": values, "variation": variation}
            for variation, values in sorted(user_targets.items())
        ],
        "contextTargets": [
            {"values": values, "variation": variation, "contextKind": kind}
            for (variation, kind), values in sorted(
                context_targets.items(), key=lambda item: item[0][0]
            )
        ],
        "rules": [],
        "fallthrough": {"variation": defaults.get("onVariation", 0)},
        "offVariation": defaults.get("offVariation", len(flag.variations) - 1),
        "prerequisites": [],
        "_site": {
            "href": f"/{_q(flag.project)}/{_q(env.env)}/features/{_q(flag.key)}",
            "type": "text/html",
        },
        "_environmentName": env_name,
        "trackEvents": False,
        "trackEventsFallthrough": False,
    }


def flag_rep(
    flag: FlagRecord,
    project: Project,
    envs: dict[str, tuple[FlagEnvRecord, list[TargetRow]]],
) -> dict[str, Any]:
    extras = flag.extras
    base = f"/api/v2/flags/{_q(flag.project)}"
    rep: dict[str, Any] = {
        "name": flag.name,
        "kind": flag.kind,
        "description": flag.description,
        "key": flag.key,
        "_version": flag.version,
        "creationDate": flag.creation_date,
        "includeInSnippet": bool(extras.get("includeInSnippet", False)),
        "clientSideAvailability": extras.get(
            "clientSideAvailability", {"usingEnvironmentId": False, "usingMobileKey": True}
        ),
        "variations": [dict(v) for v in flag.variations],
        "temporary": flag.temporary,
        "tags": list(flag.tags),
        "_links": {
            "self": {"href": f"{base}/{_q(flag.key)}", "type": JSON},
            "parent": {"href": base, "type": JSON},
        },
        "goalIds": [],
        "experiments": {"baselineIdx": 0, "items": []},
        "customProperties": extras.get("customProperties", {}),
        "archived": False,
        "deprecated": False,
        "defaults": extras.get("defaults"),
        "environments": {
            key: flag_env_rep(flag, env, project.environments[key].name, rows)
            for key, (env, rows) in envs.items()
        },
    }
    for name in ("maintainerId", "maintainerTeamKey"):
        if extras.get(name) is not None:
            rep[name] = extras[name]
    return rep


def schedule_item(schedule: Schedule, *, user: bool) -> dict[str, Any]:
    """An ExpiringTarget (``user=False``) or ExpiringUserTargetItem (``user=True``)."""
    res = schedule.resource
    resource_id = {
        "kind": res.kind,
        "projectKey": res.project,
        "environmentKey": res.env,
        "key": res.key,
    }
    item: dict[str, Any] = {
        "_id": schedule.id,
        "_version": schedule.version,
        "expirationDate": schedule.expiration_date,
    }
    if user:
        item["userKey"] = schedule.context_key
    else:
        item["contextKind"] = schedule.context_kind
        item["contextKey"] = schedule.context_key
    if res.kind == "segment":
        item["targetType"] = schedule.target_type
    else:
        resource_id["flagKey"] = res.key
        item["variationId"] = schedule.variation_id
    item["_resourceId"] = resource_id
    return item


def schedule_item_json(schedule: Schedule) -> str:
    """The schedule's ExpiringTarget item as compact JSON: what the SQLite store keeps beside
    each schedule, so that a listing is one concatenation instead of 10,000 dicts."""
    return orjson.dumps(schedule_item(schedule, user=False)).decode()


_USER_CONTEXT = b'"contextKind":"user","contextKey":'


def as_user_items(listing: bytes) -> bytes:
    """A JSON array of ``user`` contexts' ExpiringTarget items (from
    :func:`schedule_item_json`) as ExpiringUserTargetItems: ``contextKind`` and
    ``contextKey`` become ``userKey``, the only difference between the two shapes.

    Exact on the text: JSON escapes every quote inside a string, so the pattern, whose
    quotes are bare, matches only the two members, which :func:`schedule_item` writes side
    by side."""
    return listing.replace(_USER_CONTEXT, b'"userKey":')
