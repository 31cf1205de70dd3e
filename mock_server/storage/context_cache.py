"""What one SQLite connection remembers of the contexts its write transactions have read.

An expiring-targets PATCH reads the schedules and the individual-target rows of the contexts
it names (two indexed ``IN`` queries: the larger part of its SQL), changes a few schedules
and writes them back in one batch. This cache keeps those rows per (resource, context kind,
context key), so that the next PATCH naming the same contexts reads none of them again.

It is only ever right, never stale, because :class:`~mock_server.storage.sqlite.SqliteStore`:

- consults it inside write transactions only (``BEGIN IMMEDIATE``: nobody else commits
  until this transaction ends);
- drops it whole when another connection has committed since the last write transaction
  (``PRAGMA data_version``), when a transaction rolls back, and on every write other than
  the schedule batch, which it applies here precisely (:meth:`ContextCache.apply`);
- drops it whole when it would hold more than ``max_entries`` contexts.

It also keeps a lower bound of the store's earliest expiration date (``next_due``), so that
a PATCH need not look for due schedules (lazy expiry) while none can be due.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from .records import Resource, Schedule, TargetRow

__all__ = ["ContextCache", "ScheduleFields"]

# (_id, targetType, variationId, _version, expirationDate): one schedule of a cached context
ScheduleFields = tuple[str, str, str, int, int]
_Key = tuple[Resource, str, str]  # resource, context kind, context key


class _Entry:
    __slots__ = ("schedules", "targets")

    def __init__(self) -> None:
        self.schedules: dict[str, ScheduleFields] = {}  # by _id
        self.targets: list[tuple[str, int]] = []  # (slot, variation)


class ContextCache:
    def __init__(self, max_entries: int = 100_000) -> None:
        self.max_entries = max_entries
        self.data_version: int | None = None
        #: no schedule in the store expires before this (Unix ms; None: unknown), so a write
        #: transaction that starts earlier has nothing to expire and need not ask
        self.next_due: int | None = None
        self._entries: dict[_Key, _Entry] = {}
        self._by_id: dict[str, _Key] = {}  # schedule _id -> its context

    def clear(self) -> None:
        self._entries.clear()
        self._by_id.clear()
        self.next_due = None

    def sync(self, data_version: int) -> None:
        """Drop everything if another connection has committed since the last call."""
        if data_version != self.data_version:
            self.clear()
            self.data_version = data_version

    def missing(self, res: Resource, kind: str, keys: Iterable[str]) -> list[str]:
        """The keys (without duplicates) whose rows are not cached."""
        entries = self._entries
        return [key for key in dict.fromkeys(keys) if (res, kind, key) not in entries]

    def fill(
        self, res: Resource, kind: str, keys: Sequence[str],
        schedules: Iterable[tuple[str, ScheduleFields]],
        targets: Iterable[tuple[str, str, int]],
    ) -> None:
        """Remember every row of these contexts: ``schedules`` as (context key, fields),
        ``targets`` as (context key, slot, variation); a key without rows has none."""
        if len(self._entries) + len(keys) > self.max_entries:
            self.clear()
        fresh = {key: _Entry() for key in keys}
        for key, fields in schedules:
            fresh[key].schedules[fields[0]] = fields
            self._by_id[fields[0]] = (res, kind, key)
        for key, slot, variation in targets:
            fresh[key].targets.append((slot, variation))
        for key, entry in fresh.items():
            self._entries[(res, kind, key)] = entry

    def schedules(self, res: Resource, kind: str, keys: Iterable[str]) -> list[Schedule]:
        """The cached schedules of these contexts, as new (mutable) records."""
        out = []
        for key in dict.fromkeys(keys):
            for s_id, target_type, variation_id, version, date in \
                    self._entries[(res, kind, key)].schedules.values():
                out.append(Schedule(s_id, res, kind, key, target_type, variation_id, version, date))
        return out

    def targets(self, res: Resource, kind: str, keys: Iterable[str]) -> list[TargetRow]:
        out = []
        for key in dict.fromkeys(keys):
            for slot, variation in self._entries[(res, kind, key)].targets:
                out.append(TargetRow(slot, kind, key, variation))
        return out

    def apply(
        self, deleted: Sequence[str], updated: Sequence[Schedule], inserted: Sequence[Schedule]
    ) -> None:
        """The schedule batch the transaction has just written (same order as the SQL)."""
        for s_id in deleted:
            key = self._by_id.pop(s_id, None)
            if key is not None:
                del self._entries[key].schedules[s_id]
        for s in updated:
            key = self._by_id.get(s.id)
            if key is not None:
                self._entries[key].schedules[s.id] = _fields(s)
        for s in inserted:
            key = (s.resource, s.context_kind, s.context_key)
            entry = self._entries.get(key)
            if entry is not None:  # an uncached context is read whole when first needed
                entry.schedules[s.id] = _fields(s)
                self._by_id[s.id] = key
        if self.next_due is not None:  # deletes only raise the earliest date: still a bound
            for s in (*updated, *inserted):
                self.next_due = min(self.next_due, s.expiration_date)


def _fields(s: Schedule) -> ScheduleFields:
    return (s.id, s.target_type, s.variation_id, s.version, s.expiration_date)
