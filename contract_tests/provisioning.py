"""The suite's own segment and flag: created through the setup operations, deleted at the end.

Against a live deployment the suite writes only to what it created here. Keys carry a per-run
prefix so two runs never collide, and `Provisioning.delete_all` runs from a fixture finaliser and
from `atexit`, so resources go away also when tests fail or the run is interrupted (Ctrl-C and
SIGTERM: interrupts.py).

A key is remembered *before* the request that creates it is sent, so that a create whose answer
was lost (or that a Ctrl-C cut short) is still deleted; deleting what does not exist is a 404,
which counts as deleted. Creates have keys of the suite's own, so they can be retried safely
after an infrastructure failure: a GET first proves whether the lost one was applied.
"""

from __future__ import annotations

import atexit
import json
import secrets
import time
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from generated.client import Client

from .interrupts import INTERRUPTS
from .network import InfrastructureError
from .settings import ConfigurationError

__all__ = ["CREATES", "Provisioned", "Provisioning", "Slot", "create_surviving", "new_run_id"]

SEGMENT_CONTEXT_KIND = "org"
# A kind spelt with every character a context kind may hold besides letters and digits.
OTHER_CONTEXT_KIND = "ct.device_v2-x"
LONG_KEY_LENGTH = 256
SETUP_ATTEMPTS = 3  # sends of one setup request after infrastructure failures
CLEANUP_DEADLINE_S = 120.0  # delete_all stops trying after this (what is left is reported)
#: the operations that create a resource, and the kind under which it is tracked and deleted
CREATES: Mapping[str, str] = {"postSegment": "segment", "postFeatureFlag": "flag"}


@dataclass(frozen=True)
class Slot:
    """One individually targeted context: where a removal may be scheduled."""

    context_kind: str
    context_key: str
    target_type: str | None = None  # segments: "included" | "excluded"
    variation_id: str | None = None  # flags
    user_list: bool = False  # segments: in the `included`/`excluded` user list, not `…Contexts`


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


def new_run_id() -> str:
    """A run's key prefix, ``ct-<time>-<random>``: unique per run, and recognisable as the
    suite's (a killed run's leftovers can be found by it)."""
    return f"ct-{int(time.time())}-{secrets.token_hex(3)}"


def create_surviving(post: Callable[[], Any], get: Callable[[], Any]) -> Any:
    """POST a resource whose key is the caller's own; if its answer was lost, a GET of that
    key proves whether it was applied: 200 -> it was (the GET's answer stands in for the
    POST's), 404 -> send again."""
    for attempt in range(1, SETUP_ATTEMPTS + 1):
        try:
            return post()
        except InfrastructureError:
            if attempt == SETUP_ATTEMPTS:
                raise
        found = get()  # idempotent: retried by the transport itself
        if found.status_code == 200:
            return _Created(found.content)
    raise AssertionError("unreachable")


@dataclass
class Provisioning:
    """Creates uniquely named segments and flags and remembers them until deleted."""

    client: Client
    project: str
    environment: str
    run_id: str = field(default_factory=new_run_id)
    _segments: list[str] = field(default_factory=list)
    _flags: list[str] = field(default_factory=list)
    _counter: int = 0

    def __post_init__(self) -> None:
        atexit.register(self.delete_all)

    def reserve(self, kind: str) -> str:
        """A fresh key for a segment or flag that a test is about to create (tier 1's posts),
        remembered from now on, so it is deleted at the end whatever happens to the request."""
        self._counter += 1
        key = f"{self.run_id}-{self._counter}-new-{kind}"
        self.track(kind, key)
        return key

    def outstanding(self) -> int:
        """How many resources are still to delete: the requests the cleanup needs."""
        return len(self._segments) + len(self._flags)

    def track(self, kind: str, key: str) -> None:
        """Remember a segment or flag to delete at the end."""
        keys = self._segments if kind == "segment" else self._flags
        if key not in keys:
            keys.append(key)

    def delete(self, kind: str, key: str) -> bool:
        """Delete one remembered segment or flag now; False if that failed (then it stays
        remembered, for delete_all)."""
        keys = self._segments if kind == "segment" else self._flags
        with INTERRUPTS.cleaning():
            if kind == "segment":
                deleted = self._deleted(self.client.delete_segment,
                                        environment_key=self.environment, segment_key=key)
            else:
                deleted = self._deleted(self.client.delete_feature_flag, feature_flag_key=key)
        if deleted and key in keys:
            keys.remove(key)
        return deleted

    def create(self) -> Provisioned:
        """A fresh segment and flag, each with individual targets in several lists, under
        three context kinds, with keys of every shape `_edge_keys` makes."""
        self._counter += 1
        prefix = f"{self.run_id}-{self._counter}"
        segment_key, flag_key = f"{prefix}-segment", f"{prefix}-flag"
        users_in = _edge_keys(prefix, "u", in_path=False)
        users_out = [f"{prefix}-uo0", f"{prefix}-uo-Ωμέγα ß"]
        keys = {
            "users_in": users_in,
            "users_out": users_out,
            "user_contexts_in": [f"{prefix}-cu0", f"{prefix}-cu-İstanbul"],
            # keys of users again, under other kinds in the same lists: one key, two contexts
            "orgs_in": [f"{prefix}-o0", users_in[0], f"{prefix}-o-Case"],
            "orgs_out": [users_out[0], f"{prefix}-oo-a/b%2Fc"],
            "others_in": [f"{prefix}-d0", users_in[1]],
        }
        segment_slots = (
            *(Slot("user", k, target_type="included", user_list=True)
              for k in keys["users_in"]),
            *(Slot("user", k, target_type="excluded", user_list=True)
              for k in keys["users_out"]),
            *(Slot("user", k, target_type="included") for k in keys["user_contexts_in"]),
            *(Slot(SEGMENT_CONTEXT_KIND, k, target_type="included") for k in keys["orgs_in"]),
            *(Slot(SEGMENT_CONTEXT_KIND, k, target_type="excluded") for k in keys["orgs_out"]),
            *(Slot(OTHER_CONTEXT_KIND, k, target_type="included") for k in keys["others_in"]),
        )
        self._create_segment(segment_key, segment_slots)
        variation_ids = self._create_flag(flag_key)
        # Flag users go into the user endpoint's path (no '/': see _edge_keys). The first is
        # the path user of every test that needs one: the punctuated key, so that its `%20`,
        # `+` and space must survive the path's encoding. Contexts of other kinds share the
        # keys of the first two users, on the other variation.
        flag_users = _edge_keys(prefix, "fu", in_path=True)
        flag_users.insert(0, flag_users.pop(2))
        flag_contexts = [(SEGMENT_CONTEXT_KIND, f"{prefix}-fo0"),
                         (SEGMENT_CONTEXT_KIND, flag_users[0]),
                         (SEGMENT_CONTEXT_KIND, f"{prefix}-fo-a/b"),
                         (OTHER_CONTEXT_KIND, flag_users[1])]
        flag_slots = (
            *(Slot("user", k, variation_id=variation_ids[i % 2])
              for i, k in enumerate(flag_users)),
            *(Slot(kind, k, variation_id=variation_ids[i % 2])
              for i, (kind, k) in enumerate(flag_contexts)),
        )
        self._target(flag_key, "flag", flag_targeting(self.environment, flag_slots))
        return Provisioned(
            project=self.project, environment=self.environment, segment_key=segment_key,
            flag_key=flag_key, variation_ids=variation_ids, segment_slots=segment_slots,
            flag_slots=flag_slots, untargeted_key=f"{prefix}-nobody",
        )

    def throwaway_segment(self) -> str:
        """An untargeted segment to delete (the deletes of tier 1 need something to delete)."""
        self._counter += 1
        key = f"{self.run_id}-{self._counter}-doomed-segment"
        self.track("segment", key)
        _require(self._post_segment(key), f"creating segment {key}")
        return key

    def throwaway_flag(self) -> str:
        """An untargeted flag to delete."""
        self._counter += 1
        key = f"{self.run_id}-{self._counter}-doomed-flag"
        self.track("flag", key)
        _require(self._post_flag({"key": key, "name": key}), f"creating flag {key}")
        return key

    # creates and setup patches that survive a flaky network ----------------------------------

    def _post_segment(self, key: str) -> Any:
        return create_surviving(
            lambda: self.client.post_segment(project_key=self.project,
                                             environment_key=self.environment,
                                             body={"key": key, "name": key}),
            lambda: self.client.get_segment(project_key=self.project,
                                            environment_key=self.environment, segment_key=key),
        )

    def _post_flag(self, body: dict[str, Any]) -> Any:
        return create_surviving(
            lambda: self.client.post_feature_flag(project_key=self.project, body=body),
            lambda: self.client.get_feature_flag(project_key=self.project,
                                                 feature_flag_key=body["key"]),
        )

    def _patch_adding(self, patch: Callable[[], Any]) -> Any:
        """A setup PATCH that only adds targets to a resource the run has just created: adding
        what is there already leaves the targeting as it is (a set union), so re-sending it
        after a lost answer is idempotent in effect, if not in the resource's version."""
        for attempt in range(1, SETUP_ATTEMPTS + 1):
            try:
                return patch()
            except InfrastructureError:
                if attempt == SETUP_ATTEMPTS:
                    raise
        raise AssertionError("unreachable")

    def _create_segment(self, key: str, slots: tuple[Slot, ...]) -> None:
        self.track("segment", key)
        response = self._post_segment(key)
        if response.status_code == 404:
            raise ProvisioningError(
                f"project {self.project!r} or environment {self.environment!r} does not exist "
                "(404 creating a segment): check LD_PROJECT_KEY and LD_ENVIRONMENT_KEY"
            )
        if response.status_code == 403:
            raise ProvisioningError("the token cannot create segments (403): it needs write access")
        _require(response, f"creating segment {key}")
        self._target(key, "segment", segment_targeting(slots))

    def _create_flag(self, key: str) -> tuple[str, ...]:
        self.track("flag", key)
        response = self._post_flag({"key": key, "name": key, "temporary": True})
        if response.status_code == 403:
            raise ProvisioningError("the token cannot create flags (403): it needs write access")
        flag = _require(response, f"creating flag {key}")
        return tuple(variation["_id"] for variation in flag["variations"])

    def _target(self, key: str, kind: str, body: dict[str, Any]) -> None:
        """Send a setup PATCH that targets contexts individually on the segment or flag."""
        def patch() -> Any:
            if kind == "segment":
                return self.client.patch_segment(
                    project_key=self.project, environment_key=self.environment,
                    segment_key=key, body=body)
            return self.client.patch_feature_flag(project_key=self.project,
                                                  feature_flag_key=key, body=body)

        _require(self._patch_adding(patch), f"targeting {kind} {key}")

    def retarget(self, p: Provisioned, resource: str) -> None:
        """Target every provisioned context of the segment (`resource` "segment") or flag
        again. A set union: it changes nothing while the targeting is whole; after a server
        dropped targets, it makes the next example (and Hypothesis' replay of a failing one)
        start from the same state."""
        if resource == "segment":
            self._target(p.segment_key, "segment", segment_targeting(p.segment_slots))
        else:
            self._target(p.flag_key, "flag", flag_targeting(p.environment, p.flag_slots))

    def delete_all(self) -> list[str]:
        """Delete everything this run created; returns what could not be deleted. A key is
        forgotten only once deleted, so a cleanup cut short is finished by the next call
        (the fixture finaliser, then `atexit`)."""
        leftovers = []
        deadline = time.monotonic() + CLEANUP_DEADLINE_S
        with INTERRUPTS.cleaning():
            for kind, keys in (("flag", self._flags), ("segment", self._segments)):
                for key in list(reversed(keys)):
                    if time.monotonic() < deadline and self.delete(kind, key):
                        continue
                    leftovers.append(f"{kind} {key}")
        return leftovers

    def _deleted(self, delete: Any, **keys: str) -> bool:  # DELETE: retried by the transport
        try:
            response = delete(project_key=self.project, **keys)
        except (httpx.HTTPError, InfrastructureError):
            return False
        return response.status_code in (204, 404)


# The setup instruction that targets a segment slot: (list, through the user list) -> kind.
SEGMENT_ADDS = {
    ("included", True): "addIncludedUsers", ("excluded", True): "addExcludedUsers",
    ("included", False): "addIncludedTargets", ("excluded", False): "addExcludedTargets",
}


def segment_targeting(slots: tuple[Slot, ...]) -> dict[str, Any]:
    """The semantic-patch body that targets `slots` on a segment, one instruction per list
    and context kind."""
    grouped: dict[tuple[str, str, bool], list[str]] = {}
    for slot in slots:
        where = (slot.target_type or "included", slot.context_kind, slot.user_list)
        grouped.setdefault(where, []).append(slot.context_key)
    instructions = [
        {"kind": SEGMENT_ADDS[(target_type, user_list)], "values": keys,
         **({} if user_list else {"contextKind": kind})}
        for (target_type, kind, user_list), keys in grouped.items()
    ]
    return {"instructions": instructions}


def flag_targeting(environment: str, slots: tuple[Slot, ...]) -> dict[str, Any]:
    """The semantic-patch body that targets `slots` on a flag in `environment`."""
    instructions = [
        {"kind": "addTargets", "variationId": slot.variation_id,
         "contextKind": slot.context_kind, "values": [slot.context_key]}
        for slot in slots
    ]
    return {"environmentKey": environment, "instructions": instructions}


def _edge_keys(prefix: str, tag: str, *, in_path: bool) -> list[str]:
    """Context keys of the shapes real implementations get wrong: plain (first: tests that
    need one slot take it), non-ASCII beyond the BMP, punctuation with a literal `%20`, two
    that differ only by case, a precomposed accent, and one of LONG_KEY_LENGTH characters.
    Keys that go into a URL path (`in_path`) leave out `/`: an encoded slash in a path
    segment is refused or decoded by many HTTP stacks before the API sees it."""
    stem = f"{prefix}-{tag}"
    return [
        f"{stem}0",
        f"{stem}-ünï-çødé-日本語-🙂",
        f"{stem}-a.b@c+d%20e f" + ("" if in_path else "/g"),
        f"{stem}-Case",
        f"{stem}-case",
        unicodedata.normalize("NFC", f"{stem}-café"),
        f"{stem}-long-".ljust(LONG_KEY_LENGTH, "x"),
    ]


class _Created:
    """Stands in for a create's lost response: the resource as a GET showed it."""

    status_code = 201
    ok = True

    def __init__(self, content: bytes) -> None:
        self.content = content

    def json(self) -> Any:
        return json.loads(self.content)
