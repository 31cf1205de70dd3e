"""The storage seam: what every store does, and what a store may do faster.

A :class:`Store` runs a unit of work in one transaction and hands it a :class:`Tx` of plain
record operations. ``write(work)`` loses no update however many processes write (SQLite: an
exclusive ``BEGIN IMMEDIATE``; PostgreSQL: row locks, with the work run again after a
serialisation failure, so ``work`` must not act outside its transaction); ``read(work)``
sees one consistent snapshot. A write that cannot be serialised in time raises a 409
``conflict`` :class:`~mock_server.errors.DomainError`, a database that cannot be reached a
503: the domain only passes them on.

:class:`Listings` is the optional fast path: a store that keeps every schedule's item as JSON
(both do) joins a listing itself; without it, :mod:`mock_server.listings` builds the same
bytes from :meth:`Tx.schedules_for`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Protocol, TypeVar, runtime_checkable

from .records import FlagEnvRecord, FlagRecord, Resource, Schedule, SegmentRecord, TargetRow

__all__ = ["Listings", "Store", "StoreOpenError", "Tx"]

T = TypeVar("T")


class StoreOpenError(Exception):
    """The store cannot be opened (unknown URL, unreachable database, newer schema...); the
    message is one line naming the problem, without any password."""


class Tx(Protocol):
    # segments (deleting one deletes its targets and schedules)
    def get_segment(self, project: str, env: str, key: str) -> SegmentRecord | None: ...
    def insert_segment(self, record: SegmentRecord) -> None: ...
    def update_segment(self, record: SegmentRecord) -> None: ...
    def delete_segment(self, project: str, env: str, key: str) -> None: ...

    # flags (deleting one deletes its environments, targets and schedules)
    def get_flag(self, project: str, key: str) -> FlagRecord | None: ...
    def insert_flag(self, record: FlagRecord) -> None: ...
    def update_flag(self, record: FlagRecord) -> None: ...
    def delete_flag(self, project: str, key: str) -> None: ...
    def flag_envs(self, project: str, key: str) -> dict[str, FlagEnvRecord]: ...
    def put_flag_env(self, project: str, key: str, record: FlagEnvRecord) -> None: ...

    # individual targets
    def targets(self, resource: Resource) -> list[TargetRow]: ...
    def context_targets(
        self, resource: Resource, context_kind: str, context_keys: Sequence[str]
    ) -> list[TargetRow]:
        """The resource's individual-target rows for these contexts of one kind."""
        ...
    def add_target(self, resource: Resource, row: TargetRow) -> bool: ...
    def remove_targets(
        self, resource: Resource, slots: Sequence[str], context_kind: str, context_key: str,
        variation: int | None = None,
    ) -> int: ...
    def replace_targets(
        self, resource: Resource, slots: Sequence[str], rows: Iterable[TargetRow]
    ) -> None: ...

    # schedules
    def schedules_for(self, resource: Resource, context_kind: str | None = None) -> list[Schedule]:
        """The resource's schedules (of one context kind, if given), in no particular order."""
        ...
    def context_schedules(
        self, resource: Resource, context_kind: str, context_keys: Sequence[str]
    ) -> list[Schedule]:
        """The resource's schedules for these contexts of one kind (any target type)."""
        ...
    def flag_schedules_of(
        self, project: str, env: str, context_kind: str, context_key: str
    ) -> list[Schedule]:
        """The context's schedules on every flag of the project, in one environment."""
        ...
    def write_schedules(
        self, deleted: Sequence[str], updated: Sequence[Schedule], inserted: Sequence[Schedule]
    ) -> Mapping[str, str]:
        """Delete by ``_id``, then update date, version and variation by ``_id``, then insert.
        Returns the items it stored (:func:`~mock_server.representations.schedule_item_json`)
        by ``_id``, so that the PATCH's answer need not render them again; a store that keeps
        no items returns none."""
        ...
    def due_schedules(self, now_ms: int) -> list[Schedule]:
        """The schedules due at ``now_ms`` (date <= now), by date; in a write transaction a
        store may make concurrent writers wait until this one has applied them."""
        ...
    def has_due(self, now_ms: int) -> bool: ...
    def context_known(self, project: str, env: str, context_kind: str, context_key: str) -> bool:
        """Whether any flag or segment of the project/environment targets the context."""
        ...


@runtime_checkable
class Listings(Protocol):
    """Optional: listings joined by the store, as a JSON array of ExpiringTarget items in
    ``items`` order (``descending``: the reverse). Same bytes as the domain's default."""

    def schedule_listing(self, resource: Resource, context_kind: str | None = None, *,
                         descending: bool = False) -> bytes:
        """By context kind, context key, target type, variation."""
        ...
    def context_flag_listing(
        self, project: str, env: str, context_kind: str, context_key: str, *,
        descending: bool = False,
    ) -> bytes:
        """The context's schedules on every flag of the project, by flag key, target type."""
        ...


class Store(Protocol):
    def read(self, work: Callable[[Tx], T]) -> T: ...
    def write(self, work: Callable[[Tx], T]) -> T: ...
    def close(self) -> None: ...
