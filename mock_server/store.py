"""The storage interface the domain works through, and its records.

A :class:`Store` hands out transactions. Everything the domain does for one
request happens inside one transaction: ``write()`` is exclusive (SQLite
``BEGIN IMMEDIATE``), ``read()`` sees one consistent snapshot.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

__all__ = [
    "NO_VARIATION",
    "FlagEnvRecord",
    "FlagRecord",
    "Resource",
    "Schedule",
    "SegmentRecord",
    "Store",
    "TargetRow",
    "Tx",
]

NO_VARIATION = -1  # the variation column of segment targets


class Resource(NamedTuple):
    """What targets and schedules belong to: a segment, or a flag in one environment.

    A named tuple rather than a frozen dataclass: it keys dictionaries on every
    instruction, and a tuple hashes in C."""

    kind: str  # "segment" or "flag"
    project: str
    env: str
    key: str


@dataclass
class SegmentRecord:
    project: str
    env: str
    key: str
    name: str
    description: str | None
    tags: list[str]
    version: int
    creation_date: int
    last_modified: int
    unbounded: bool = False
    unbounded_context_kind: str | None = None


@dataclass
class FlagRecord:
    project: str
    key: str
    name: str
    description: str
    kind: str  # "boolean" or "multivariate"
    variations: list[dict[str, Any]]  # each with a stable "_id"
    tags: list[str]
    temporary: bool
    version: int
    creation_date: int
    extras: dict[str, Any] = field(default_factory=dict)  # other FeatureFlagBody fields kept as sent


@dataclass
class FlagEnvRecord:
    env: str
    version: int
    last_modified: int
    salt: str
    sel: str
    on: bool = False


class TargetRow(NamedTuple):
    """One context in one individual-target list.

    ``slot`` is the representation field that holds it: ``included``,
    ``excluded``, ``includedContexts``, ``excludedContexts`` (segments) or
    ``targets``, ``contextTargets`` (flags, with the variation index). A named tuple: a
    PATCH reads one per named context, and a tuple is built in C.
    """

    slot: str
    context_kind: str
    context_key: str
    variation: int = NO_VARIATION


@dataclass(slots=True)
class Schedule:
    id: str
    resource: Resource
    context_kind: str
    context_key: str
    target_type: str  # "included"/"excluded" for segments, "" for flags
    variation_id: str  # the variation's _id for flags, "" for segments
    version: int
    expiration_date: int


class Tx(Protocol):
    # segments
    def get_segment(self, project: str, env: str, key: str) -> SegmentRecord | None: ...
    def insert_segment(self, record: SegmentRecord) -> None: ...
    def update_segment(self, record: SegmentRecord) -> None: ...
    def delete_segment(self, project: str, env: str, key: str) -> None: ...

    # flags
    def get_flag(self, project: str, key: str) -> FlagRecord | None: ...
    def insert_flag(self, record: FlagRecord) -> None: ...
    def update_flag(self, record: FlagRecord) -> None: ...
    def delete_flag(self, project: str, key: str) -> None: ...
    def flag_envs(self, project: str, key: str) -> dict[str, FlagEnvRecord]: ...
    def put_flag_env(self, project: str, key: str, record: FlagEnvRecord) -> None: ...

    # individual targets
    def targets(self, resource: Resource) -> list[TargetRow]: ...
    def has_target(
        self, resource: Resource, slots: Sequence[str], context_kind: str, context_key: str,
        variation: int = NO_VARIATION,
    ) -> bool: ...
    def target_variations(
        self, resource: Resource, slots: Sequence[str], context_kind: str, context_key: str
    ) -> list[int]: ...
    def add_target(self, resource: Resource, row: TargetRow) -> bool: ...
    def remove_targets(
        self, resource: Resource, slots: Sequence[str], context_kind: str, context_key: str,
        variation: int | None = None,
    ) -> int: ...
    def replace_targets(self, resource: Resource, slots: Sequence[str], rows: Iterable[TargetRow]) -> None: ...

    # schedules
    def find_schedule(
        self, resource: Resource, context_kind: str, context_key: str, target_type: str
    ) -> Schedule | None: ...
    def put_schedule(self, schedule: Schedule) -> None: ...
    def delete_schedule(self, schedule_id: str) -> None: ...
    def schedules_for(self, resource: Resource) -> list[Schedule]: ...
    def context_schedules(
        self, resource: Resource, context_kind: str, context_keys: Sequence[str]
    ) -> list[Schedule]:
        """The resource's schedules for these contexts of one kind (any target type)."""
        ...
    def context_targets(
        self, resource: Resource, context_kind: str, context_keys: Sequence[str]
    ) -> list[TargetRow]:
        """The resource's individual-target rows for these contexts of one kind."""
        ...
    def write_schedules(
        self, deleted: Sequence[str], updated: Sequence[Schedule], inserted: Sequence[Schedule]
    ) -> dict[str, str]:
        """Delete by ``_id``, then update date, version and variation by ``_id``, then insert;
        returns the items written (:func:`~mock_server.representations.schedule_item_json`)
        by ``_id``, for the PATCH's answer."""
        ...
    def schedule_listing(self, resource: Resource, context_kind: str | None = None, *,
                         descending: bool = False) -> bytes:
        """The resource's schedules (of one context kind, if given) as a JSON array of
        ExpiringTarget items (:func:`~mock_server.representations.schedule_item_json`), in
        ``items`` order: by context kind, context key, target type (``descending``: the
        reverse)."""
        ...
    def context_flag_listing(
        self, project: str, env: str, context_kind: str, context_key: str, *,
        descending: bool = False,
    ) -> bytes:
        """The context's schedules on every flag of the project, by flag key (``descending``:
        the reverse), as a JSON array of ExpiringTarget items."""
        ...
    def due_schedules(self, now_ms: int) -> list[Schedule]: ...
    def has_due(self, now_ms: int) -> bool: ...
    def context_known(self, project: str, env: str, context_kind: str, context_key: str) -> bool:
        """Whether any flag or segment of the project/environment targets the context."""
        ...


class Store(Protocol):
    def read(self) -> AbstractContextManager[Tx]: ...
    def write(self) -> AbstractContextManager[Tx]: ...
    def close(self) -> None: ...
