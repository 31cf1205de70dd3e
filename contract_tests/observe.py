"""Reads the server's state through its own GET operations, keyed for the checks."""

from __future__ import annotations

from typing import Any

from generated.client import Client
from generated.operations import Operation

from .checks import ContractViolation, Schedules, checked, require_status
from .families import Family, ScheduleKey, schedule_key
from .provisioning import Provisioned

__all__ = [
    "call", "patch_items", "read_schedules", "read_targeted", "read_user_schedules",
    "segment_version",
]


def call(client: Client, operation: Operation, **params: Any) -> Any:
    """Call an operation by its metadata (one code path for every operation)."""
    return getattr(client, operation.python_name)(**params)


def _items(response: Any, what: str) -> list[dict[str, Any]]:
    require_status("successful-take-effect", response, 200, what)
    items = response.json().get("items")
    if not isinstance(items, list):
        raise ContractViolation("successful-take-effect", f"{what}: no items array")
    return items


def _schedules(items: list[dict[str, Any]], what: str) -> Schedules:
    found: dict[ScheduleKey, tuple[Any, Any]] = {}  # as the answer has them (tier 1 checks)
    variations: dict[tuple[str, str], str] = {}
    checked("views-agree")
    if any("variationId" in item for item in items):
        checked("one-variation-per-flag")
    for item in items:
        key = schedule_key(item)
        if key in found:
            raise ContractViolation("views-agree", f"{what}: {key} listed twice")
        if "variationId" in item:  # a flag's: one variation per context
            other = variations.setdefault(key[:2], key[2])
            if other != key[2]:
                raise ContractViolation("one-variation-per-flag", f"{what}: {key[:2]} is "
                                        f"scheduled on variations {other!r} and {key[2]!r}")
        found[key] = (item.get("expirationDate"), item.get("_version"))
    return found


def read_schedules(client: Client, family: Family, p: Provisioned) -> Schedules:
    """Every schedule of the resource the family writes to, from its context GET."""
    response = call(client, family.state_get, **family.state_params(p))
    return _schedules(_items(response, f"GET {family.state_get.operation_id}"),
                      family.state_get.operation_id)


def read_user_schedules(client: Client, family: Family, p: Provisioned,
                        user_key: str | None = None) -> Schedules:
    """The same resource's schedules through its user endpoint (kind `user` only); for the
    user endpoint, `user_key`'s schedules on the provisioned flag (default: `family.user_key`)."""
    operation = family.get
    params = family.path_params(p)
    if family.resource == "user" and user_key is not None:
        params["user_key"] = user_key
    response = call(client, operation, **params)
    items = _items(response, f"GET {operation.operation_id}")
    if family.resource == "user":
        items = [i for i in items if (i.get("_resourceId") or {}).get("key") == p.flag_key]
        items = [{**i, "userKey": params["user_key"]} for i in items]
    return _schedules(items, operation.operation_id)


def patch_items(body: Any, family: Family, p: Provisioned) -> list[tuple[ScheduleKey, Any, Any]]:
    """The schedules a PATCH answer lists, as (key, expirationDate, _version): for the user
    endpoint only those on the provisioned flag. Duplicates are kept (what `items` holds is
    open; each listed item must agree with the GET)."""
    items = [i for i in (body.get("items") or []) if isinstance(i, dict)]
    if family.resource == "user":
        user = family.user_key(p)
        items = [{**i, "userKey": user} for i in items
                 if (i.get("_resourceId") or {}).get("key") == p.flag_key]
    return [(schedule_key(i), i.get("expirationDate"), i.get("_version")) for i in items]


def read_targeted(client: Client, family: Family, p: Provisioned) -> set[ScheduleKey]:
    """Every individually targeted context of the resource, keyed like schedules."""
    if family.resource == "segment":
        response = client.get_segment(project_key=p.project, environment_key=p.environment,
                                      segment_key=p.segment_key)
        require_status("remove-keeps-target", response, 200, "GET getSegment")
        segment = response.json()
        keys = {("user", k, "included") for k in segment.get("included", [])}
        keys |= {("user", k, "excluded") for k in segment.get("excluded", [])}
        for target_type in ("included", "excluded"):
            for target in segment.get(f"{target_type}Contexts") or []:
                keys |= {(target.get("contextKind", "user"), k, target_type)
                         for k in target.get("values", [])}
        return keys
    flag_response = client.get_feature_flag(project_key=p.project, feature_flag_key=p.flag_key)
    require_status("remove-keeps-target", flag_response, 200, "GET getFeatureFlag")
    flag = flag_response.json()
    variations = [v.get("_id") for v in flag.get("variations", [])]
    config = flag.get("environments", {}).get(p.environment, {})
    keys = set()
    for field in ("targets", "contextTargets"):
        for target in config.get(field) or []:
            index = target.get("variation")
            variation = variations[index] if isinstance(index, int) and index < len(
                variations) else ""
            keys |= {(target.get("contextKind") or "user", k, variation)
                     for k in target.get("values", [])}
    return keys


def segment_version(client: Client, p: Provisioned) -> int:
    response = client.get_segment(project_key=p.project, environment_key=p.environment,
                                  segment_key=p.segment_key)
    require_status("version-mismatch-fails", response, 200, "GET getSegment")
    return int(response.json()["version"])
