"""The mock server's operations over plain data: one transaction per request.

Every method resolves the project and environment against the
configuration (404 naming what is unknown), applies due schedules first
(:func:`~mock_server.expiry.expire_due`), and returns JSON-ready dicts. No
HTTP here: :mod:`mock_server.backend` adapts these methods to the generated
``Backend`` protocol.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import orjson

from . import expiring, flags, segments
from .clock import Clock
from .config import Config, Project
from .errors import invalid_request, not_found
from .expiry import expire_due
from .instructions import Kinds
from .policy import Policy
from .storage.protocol import Store, Tx
from .storage.records import FlagRecord, SegmentRecord

__all__ = ["MockService", "plain"]

T = TypeVar("T")
Work = Callable[[Tx, int], T]  # a request's work in its transaction, given "now"

JSON_PATCH = "json-patch"
SEMANTIC_PATCH = "semantic-patch"


class _Due:
    """A read found schedules due: expire them in a write, then read again."""


_DUE = _Due()


class _DryRun(Exception):
    def __init__(self, result: dict[str, Any]) -> None:
        super().__init__("dry run")
        self.result = result


class MockService:
    def __init__(self, config: Config, store: Store, clock: Clock) -> None:
        self.config = config
        self.store = store
        self.clock = clock

    # transactions ----------------------------------------------------------
    # A unit of work may run more than once (a store retries a serialisation failure), so it
    # acts only through its transaction.

    def _write(self, work: Work[T]) -> T:
        now = self.clock.now_ms()

        def run(tx: Tx) -> T:
            expire_due(tx, now, self.config.projects)
            return work(tx, now)

        return self.store.write(run)

    def _read(self, work: Work[T]) -> T:
        now = self.clock.now_ms()

        def run(tx: Tx) -> T | _Due:
            return _DUE if tx.has_due(now) else work(tx, now)

        result = self.store.read(run)
        if not isinstance(result, _Due):
            return result
        self.store.write(lambda tx: expire_due(tx, now, self.config.projects))
        return self.store.read(lambda tx: work(tx, now))

    # scope -----------------------------------------------------------------

    def _project(self, project_key: str) -> Project:
        project = self.config.projects.get(project_key)
        if project is None:
            raise not_found(f"unknown project {project_key!r}")
        return project

    def _env(self, project_key: str, env_key: str) -> Project:
        project = self._project(project_key)
        if env_key not in project.environments:
            raise not_found(f"unknown environment {env_key!r} in project {project_key!r}")
        return project

    def _check_count(self, count: int, what: str = "instructions") -> None:
        limit = self.config.limits.max_instructions
        if count > limit:
            raise invalid_request(f"too many {what}: {count} (the limit is {limit} per request)")

    @staticmethod
    def _segment(tx: Tx, project: str, env: str, key: str) -> SegmentRecord:
        record = tx.get_segment(project, env, key)
        if record is None:
            raise not_found(f"unknown segment {key!r} in project {project!r}, environment {env!r}")
        return record

    @staticmethod
    def _flag(tx: Tx, project: str, key: str) -> FlagRecord:
        record = tx.get_flag(project, key)
        if record is None:
            raise not_found(f"unknown flag {key!r} in project {project!r}")
        return record

    def _instructions(self, body: Any) -> list[Any]:
        instructions = body.get("instructions") if isinstance(body, dict) else None
        if not isinstance(instructions, list):
            raise invalid_request("the body needs an instructions array")
        self._check_count(len(instructions))
        return instructions

    # segments --------------------------------------------------------------

    def post_segment(self, project: str, env: str, body: dict[str, Any]) -> dict[str, Any]:
        self._env(project, env)

        def work(tx: Tx, now: int) -> dict[str, Any]:
            return segments.segment_view(tx, segments.create_segment(tx, now, project, env, body))

        return self._write(work)

    def get_segment(self, project: str, env: str, key: str) -> dict[str, Any]:
        self._env(project, env)
        return self._read(lambda tx, _: segments.segment_view(
            tx, self._segment(tx, project, env, key)))

    def patch_segment(
        self, project: str, env: str, key: str, body: Any, kinds: Kinds, *, dry_run: bool = False
    ) -> dict[str, Any]:
        self._env(project, env)
        form, payload = self._patch_form(body)

        def change(tx: Tx, now: int) -> dict[str, Any]:
            record = self._segment(tx, project, env, key)
            if form == SEMANTIC_PATCH:
                segments.patch_segment_semantic(tx, now, record, payload, kinds)
            else:
                segments.patch_segment_json(tx, now, record, payload)
            return segments.segment_view(tx, record)

        return self._maybe_dry(change, dry_run)

    def delete_segment(self, project: str, env: str, key: str) -> None:
        self._env(project, env)

        def work(tx: Tx, _: int) -> None:
            self._segment(tx, project, env, key)
            tx.delete_segment(project, env, key)

        self._write(work)

    # flags -----------------------------------------------------------------

    def post_flag(self, project_key: str, body: dict[str, Any]) -> dict[str, Any]:
        project = self._project(project_key)
        return self._write(lambda tx, now: flags.flag_view(
            tx, project, flags.create_flag(tx, now, project, body)))

    def get_flag(self, project_key: str, key: str, env: str | None = None) -> dict[str, Any]:
        project = self._project(project_key) if env is None else self._env(project_key, env)
        return self._read(lambda tx, _: flags.flag_view(
            tx, project, self._flag(tx, project_key, key), env))

    def patch_flag(
        self, project_key: str, key: str, body: Any, kinds: Kinds, *, dry_run: bool = False
    ) -> dict[str, Any]:
        project = self._project(project_key)
        form, payload = self._patch_form(body)
        env = body.get("environmentKey") if isinstance(body, dict) else None
        if form == SEMANTIC_PATCH and not isinstance(env, str):
            raise invalid_request("a semantic patch on a flag needs environmentKey")
        env_key = env if isinstance(env, str) else ""

        def change(tx: Tx, now: int) -> dict[str, Any]:
            record = self._flag(tx, project_key, key)
            if form == SEMANTIC_PATCH:
                flags.patch_flag_semantic(tx, now, project, record, env_key, payload, kinds)
            else:
                flags.patch_flag_json(tx, now, project, record, payload)
            return flags.flag_view(tx, project, record)

        return self._maybe_dry(change, dry_run)

    def delete_flag(self, project_key: str, key: str) -> None:
        self._project(project_key)

        def work(tx: Tx, _: int) -> None:
            self._flag(tx, project_key, key)
            tx.delete_flag(project_key, key)

        self._write(work)

    def _patch_form(self, body: Any) -> tuple[str, list[Any]]:
        """JSON patch (a bare array or ``{patch}``) or semantic patch (``{instructions}``)."""
        if isinstance(body, list):
            operations = body
        elif isinstance(body, dict) and isinstance(body.get("patch"), list):
            operations = body["patch"]
        elif isinstance(body, dict) and "instructions" in body:
            return SEMANTIC_PATCH, self._instructions(body)
        else:
            raise invalid_request(
                "the body must be a JSON patch (an array, or {patch, comment}) or a semantic"
                " patch ({instructions})"
            )
        self._check_count(len(operations), "patch operations")
        return JSON_PATCH, operations

    def _maybe_dry(self, change: Work[dict[str, Any]], dry_run: bool) -> dict[str, Any]:
        def work(tx: Tx, now: int) -> dict[str, Any]:
            result = change(tx, now)
            if dry_run:
                raise _DryRun(result)  # the store rolls the transaction back
            return result

        try:
            return self._write(work)
        except _DryRun as done:
            return done.result

    # expiring targets ------------------------------------------------------

    @property
    def policy(self) -> Policy:
        return self.config.policy

    def segment_schedules(self, project: str, env: str, key: str, *, users_only: bool) -> dict[str, Any]:
        self._env(project, env)
        return self._read(lambda tx, _: _listing(expiring.segment_items(
            tx, self._segment(tx, project, env, key), users_only=users_only, policy=self.policy)))

    def patch_segment_schedules(
        self, project: str, env: str, key: str, body: Any, kinds: Kinds, *, users_only: bool
    ) -> dict[str, Any]:
        self._env(project, env)
        instructions = self._instructions(body)

        def work(tx: Tx, now: int) -> dict[str, Any]:
            record = self._segment(tx, project, env, key)
            outcome = expiring.patch_segment_schedules(tx, now, record, instructions, kinds,
                                                       self.policy)
            self._bump_versions(tx, now, outcome)
            return self._answer(outcome, users_only, lambda: expiring.segment_items(
                tx, record, users_only=users_only, policy=self.policy))

        return self._write(work)

    def flag_schedules(self, project: str, env: str, key: str, *, users_only: bool) -> dict[str, Any]:
        self._env(project, env)
        return self._read(lambda tx, _: _listing(expiring.flag_items(
            tx, self._flag(tx, project, key), env, users_only=users_only, policy=self.policy)))

    def patch_flag_schedules(
        self, project: str, env: str, key: str, body: Any, kinds: Kinds, *, users_only: bool
    ) -> dict[str, Any]:
        self._env(project, env)
        instructions = self._instructions(body)

        def work(tx: Tx, now: int) -> dict[str, Any]:
            record = self._flag(tx, project, key)
            outcome = expiring.patch_flag_schedules(tx, now, record, env, instructions, kinds,
                                                    self.policy)
            self._bump_versions(tx, now, outcome)
            return self._answer(outcome, users_only, lambda: expiring.flag_items(
                tx, self._flag(tx, project, key), env, users_only=users_only,
                policy=self.policy))

        return self._write(work)

    def user_schedules(self, project: str, env: str, user_key: str) -> dict[str, Any]:
        self._env(project, env)

        def work(tx: Tx, _: int) -> dict[str, Any]:
            self._known_user(tx, project, env, user_key)
            return _listing(expiring.user_items(tx, project, env, user_key, self.policy))

        return self._read(work)

    def patch_user_schedules(
        self, project: str, env: str, user_key: str, body: Any, kinds: Kinds
    ) -> dict[str, Any]:
        self._env(project, env)
        instructions = self._instructions(body)

        def work(tx: Tx, now: int) -> dict[str, Any]:
            self._known_user(tx, project, env, user_key)
            outcome = expiring.patch_user_schedules(tx, now, project, env, user_key, instructions,
                                                    kinds, self.policy)
            self._bump_versions(tx, now, outcome)
            return self._answer(outcome, True, lambda: expiring.user_items(
                tx, project, env, user_key, self.policy))

        return self._write(work)

    def _answer(self, outcome: expiring.PatchOutcome, users_only: bool,
                listing: Callable[[], bytes]) -> dict[str, Any]:
        """The PATCH answer; its ``items`` as the policy says (``all``: the listing)."""
        every = listing() if self.policy.patch_items == "all" else None
        return outcome.rep(self.policy, user=users_only, listing=every)

    def _bump_versions(self, tx: Tx, now: int, outcome: expiring.PatchOutcome) -> None:
        """``resource_version: incremented``: a PATCH that changed a resource's schedules
        moves that segment's or flag's version up by one (the reference leaves it alone)."""
        if self.policy.resource_version != "incremented":
            return
        flag_envs: dict[tuple[str, str], set[str]] = {}
        for res in sorted(outcome.changed):
            if res.kind == "segment":
                segments.bump_segment_version(tx, now, self._segment(tx, res.project, res.env,
                                                                    res.key))
            else:
                flag_envs.setdefault((res.project, res.key), set()).add(res.env)
        for (project, key), envs in sorted(flag_envs.items()):
            flags.bump_flag_versions(tx, now, self._project(project), self._flag(tx, project, key),
                                     envs)

    def _known_user(self, tx: Tx, project: str, env: str, user_key: str) -> None:
        """``unknown_user: not_found``: a user key nothing targets is a 404 (else it simply
        has no schedules)."""
        if self.policy.unknown_user == "not_found" and not tx.context_known(
                project, env, "user", user_key):
            raise not_found(
                f"unknown user {user_key!r} in project {project!r}, environment {env!r}"
                " (no flag or segment targets it and it has no scheduled removal)"
            )


def _listing(items: bytes) -> dict[str, Any]:
    """A GET's answer: ``items`` arrive as JSON text from the store and go out verbatim
    (orjson writes a ``Fragment`` as is; :func:`plain` turns it into Python data)."""
    return {"items": orjson.Fragment(items)}


def plain(result: Any) -> Any:
    """A result as plain JSON data (for validation and for callers that read ``items``)."""
    return orjson.loads(orjson.dumps(result))
