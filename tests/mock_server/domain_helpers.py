"""Helpers of the domain tests (tests/mock_server): PATCH calls per operation family and
instruction builders, over a :class:`~mock_server.service.MockService` without HTTP; results
as plain JSON data."""

from __future__ import annotations

from typing import Any

from mock_server.service import plain

T0 = 1_700_000_000_000
HOUR = 3_600_000
P, E = "default", "test"


def seg_user_patch(service: Any, kinds: Any, instructions: list[dict], key: str = "seg") -> dict:
    return plain(service.patch_segment_schedules(
        P, E, key, {"instructions": instructions},
        kinds("patch_expiring_user_targets_for_segment"), users_only=True,
    ))


def seg_ctx_patch(service: Any, kinds: Any, instructions: list[dict], key: str = "seg") -> dict:
    return plain(service.patch_segment_schedules(
        P, E, key, {"instructions": instructions},
        kinds("patch_expiring_targets_for_segment"), users_only=False,
    ))


def flag_ctx_patch(service: Any, kinds: Any, instructions: list[dict], key: str = "flag") -> dict:
    return plain(service.patch_flag_schedules(
        P, E, key, {"instructions": instructions}, kinds("patch_expiring_targets"),
        users_only=False,
    ))


def flag_user_patch(service: Any, kinds: Any, instructions: list[dict], key: str = "flag") -> dict:
    return plain(service.patch_flag_schedules(
        P, E, key, {"instructions": instructions}, kinds("patch_expiring_user_targets"),
        users_only=True,
    ))


def user_patch(service: Any, kinds: Any, user: str, instructions: list[dict]) -> dict:
    return plain(service.patch_user_schedules(
        P, E, user, {"instructions": instructions}, kinds("patch_expiring_flags_for_user")
    ))


def add_user(user: str, value: int = T0 + HOUR, target_type: str = "included") -> dict:
    return {"kind": "addExpireUserTargetDate", "userKey": user, "targetType": target_type,
            "value": value}


def add_ctx(key: str, value: int = T0 + HOUR, kind: str = "user", target_type: str = "included") -> dict:
    return {"kind": "addExpiringTarget", "contextKind": kind, "contextKey": key,
            "targetType": target_type, "value": value}


def check_counts(result: dict, total: int, failed_indices: list[int]) -> None:
    assert result["totalInstructions"] == total
    assert result["failedInstructions"] == len(result["errors"]) == len(failed_indices)
    assert result["successfulInstructions"] + result["failedInstructions"] == total
    assert [e["instructionIndex"] for e in result["errors"]] == failed_indices
    assert all(e["message"] for e in result["errors"])
