"""The suite's own segment and flag: created through the setup operations, deleted at the end.

Against a live deployment the suite writes only to what it created here. Keys carry a per-run
prefix so two runs never collide, and `Provisioning.delete_all` runs from a fixture finaliser and
from `atexit`, so resources go away also when tests fail or the run is interrupted.
"""

from __future__ import annotations

import atexit
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from generated.client import Client

from .settings import ConfigurationError

__all__ = ["Provisioned", "Provisioning", "Slot", "probe"]

SEGMENT_CONTEXT_KIND = "org"


@dataclass(frozen=True)
class Slot:
    """One individually targeted context: where a removal may be scheduled."""

    context_kind: str
    context_key: str
    target_type: str | None = None  # segments: "included" | "excluded"
    variation_id: str | None = None  # flags


@dataclass(frozen=True)
class Provisioned:
    project: str
    environment: str
    segment_key: str
    flag_key: str
    variation_ids: tuple[str, ...]
    segment_slots: tuple[Slot, ...]
    flag_slots: tuple[Slot, ...]
    untargeted_key: str  # targeted nowhere

    def user_slots(self, slots: tuple[Slot, ...]) -> tuple[Slot, ...]:
        return tuple(s for s in slots if s.context_kind == "user")


class ProvisioningError(ConfigurationError):
    """A setup operation failed; the target cannot be tested as configured."""


def _require(response: Any, what: str) -> Any:
    if not response.ok:
        excerpt = response.content[:200].decode("utf-8", "replace")
        raise ProvisioningError(f"{what} failed: HTTP {response.status_code}: {excerpt}")
    return response.json()


def probe(client: Client, project: str, environment: str, base_url: str) -> None:
    """Fail fast, with one message, on an unreachable URL, a rejected token or unknown keys."""
    try:
        response = client.get_segment(
            project_key=project, environment_key=environment,
            segment_key=f"contract-probe-{secrets.token_hex(4)}",
        )
    except httpx.TransportError as exc:
        raise ConfigurationError(f"cannot reach {base_url}: {exc}") from None
    if response.status_code == 401:
        raise ConfigurationError(f"{base_url} rejected the token (401): check LD_API_TOKEN")
    if response.status_code == 403:
        raise ConfigurationError(
            f"the token has no access to project {project!r} (403): check LD_PROJECT_KEY"
        )
    if response.status_code != 404:
        raise ConfigurationError(
            f"{base_url} does not look like the LaunchDarkly API: GET of an unknown segment "
            f"answered {response.status_code}, not 404"
        )


@dataclass
class Provisioning:
    """Creates uniquely named segments and flags and remembers them until deleted."""

    client: Client
    project: str
    environment: str
    run_id: str = field(default_factory=lambda: f"ct-{int(time.time())}-{secrets.token_hex(3)}")
    _segments: list[str] = field(default_factory=list)
    _flags: list[str] = field(default_factory=list)
    _counter: int = 0

    def __post_init__(self) -> None:
        atexit.register(self.delete_all)

    def create(self) -> Provisioned:
        """A fresh segment and flag, each with individual targets in several lists."""
        self._counter += 1
        prefix = f"{self.run_id}-{self._counter}"
        segment_key, flag_key = f"{prefix}-segment", f"{prefix}-flag"
        keys = {
            "users_in": [f"{prefix}-u{i}" for i in range(4)],
            "users_out": [f"{prefix}-u{i}" for i in range(4, 6)],
            "user_contexts_in": [f"{prefix}-cu{i}" for i in range(2)],
            "orgs_in": [f"{prefix}-o{i}" for i in range(3)],
            "orgs_out": [f"{prefix}-o{i}" for i in range(3, 5)],
        }
        self._create_segment(segment_key, keys)
        variation_ids = self._create_flag(flag_key, prefix)
        segment_slots = (
            *(Slot("user", k, target_type="included") for k in keys["users_in"]),
            *(Slot("user", k, target_type="excluded") for k in keys["users_out"]),
            *(Slot("user", k, target_type="included") for k in keys["user_contexts_in"]),
            *(Slot(SEGMENT_CONTEXT_KIND, k, target_type="included") for k in keys["orgs_in"]),
            *(Slot(SEGMENT_CONTEXT_KIND, k, target_type="excluded") for k in keys["orgs_out"]),
        )
        flag_slots = (
            *(Slot("user", f"{prefix}-fu{i}", variation_id=variation_ids[i % 2]) for i in range(6)),
            *(Slot(SEGMENT_CONTEXT_KIND, f"{prefix}-fo{i}", variation_id=variation_ids[i % 2])
              for i in range(4)),
        )
        self._target_flag(flag_key, flag_slots)
        return Provisioned(
            project=self.project, environment=self.environment, segment_key=segment_key,
            flag_key=flag_key, variation_ids=variation_ids, segment_slots=segment_slots,
            flag_slots=flag_slots, untargeted_key=f"{prefix}-nobody",
        )

    def throwaway_segment(self) -> str:
        """An untargeted segment to delete (the deletes of tier 1 need something to delete)."""
        self._counter += 1
        key = f"{self.run_id}-{self._counter}-doomed-segment"
        response = self.client.post_segment(project_key=self.project,
                                            environment_key=self.environment,
                                            body={"key": key, "name": key})
        _require(response, f"creating segment {key}")
        self._segments.append(key)
        return key

    def throwaway_flag(self) -> str:
        """An untargeted flag to delete."""
        self._counter += 1
        key = f"{self.run_id}-{self._counter}-doomed-flag"
        _require(self.client.post_feature_flag(project_key=self.project,
                                               body={"key": key, "name": key}),
                 f"creating flag {key}")
        self._flags.append(key)
        return key

    def _create_segment(self, key: str, keys: dict[str, list[str]]) -> None:
        where = {"project_key": self.project, "environment_key": self.environment}
        response = self.client.post_segment(**where, body={"key": key, "name": key})
        if response.status_code == 404:
            raise ProvisioningError(
                f"project {self.project!r} or environment {self.environment!r} does not exist "
                "(404 creating a segment): check LD_PROJECT_KEY and LD_ENVIRONMENT_KEY"
            )
        if response.status_code == 403:
            raise ProvisioningError("the token cannot create segments (403): it needs write access")
        _require(response, f"creating segment {key}")
        self._segments.append(key)
        instructions = [
            {"kind": "addIncludedUsers", "values": keys["users_in"]},
            {"kind": "addExcludedUsers", "values": keys["users_out"]},
            {"kind": "addIncludedTargets", "contextKind": "user", "values": keys["user_contexts_in"]},
            {"kind": "addIncludedTargets", "contextKind": SEGMENT_CONTEXT_KIND,
             "values": keys["orgs_in"]},
            {"kind": "addExcludedTargets", "contextKind": SEGMENT_CONTEXT_KIND,
             "values": keys["orgs_out"]},
        ]
        _require(
            self.client.patch_segment(**where, segment_key=key, body={"instructions": instructions}),
            f"targeting segment {key}",
        )

    def _create_flag(self, key: str, prefix: str) -> tuple[str, ...]:
        response = self.client.post_feature_flag(
            project_key=self.project, body={"key": key, "name": key, "temporary": True}
        )
        if response.status_code == 403:
            raise ProvisioningError("the token cannot create flags (403): it needs write access")
        flag = _require(response, f"creating flag {key}")
        self._flags.append(key)
        return tuple(variation["_id"] for variation in flag["variations"])

    def _target_flag(self, key: str, slots: tuple[Slot, ...]) -> None:
        instructions = [
            {"kind": "addTargets", "variationId": slot.variation_id,
             "contextKind": slot.context_kind, "values": [slot.context_key]}
            for slot in slots
        ]
        _require(
            self.client.patch_feature_flag(
                project_key=self.project, feature_flag_key=key,
                body={"environmentKey": self.environment, "instructions": instructions},
            ),
            f"targeting flag {key}",
        )

    def delete_all(self) -> list[str]:
        """Delete everything this run created; returns what could not be deleted."""
        leftovers = []
        while self._flags:
            key = self._flags.pop()
            if not self._deleted(self.client.delete_feature_flag, feature_flag_key=key):
                leftovers.append(f"flag {key}")
        while self._segments:
            key = self._segments.pop()
            if not self._deleted(self.client.delete_segment, environment_key=self.environment,
                                 segment_key=key):
                leftovers.append(f"segment {key}")
        return leftovers

    def _deleted(self, delete: Any, **keys: str) -> bool:
        try:
            response = delete(project_key=self.project, **keys)
        except httpx.HTTPError:
            return False
        return response.status_code in (204, 404)
