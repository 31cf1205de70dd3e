"""Listings as JSON text: the store's own join when it has one (``Listings``), else built here
from the schedule records, the same bytes either way (tests/mock_server/test_mock_listing.py).

A listing goes out verbatim (``orjson.Fragment``), so whichever path made it, the answer
costs no Python object per schedule once it is text.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from .representations import schedule_item_json
from .storage.protocol import Listings, Tx
from .storage.records import Resource, Schedule

__all__ = ["context_flag_listing", "resource_listing"]

_ByKey = Callable[[Schedule], tuple[str, ...]]


def _resource_order(s: Schedule) -> tuple[str, ...]:
    return (s.context_kind, s.context_key, s.target_type, s.variation_id)


def _flag_order(s: Schedule) -> tuple[str, ...]:
    return (s.resource.key, s.target_type)


def resource_listing(tx: Tx, res: Resource, context_kind: str | None = None, *,
                     descending: bool = False) -> bytes:
    """The resource's schedules (of one context kind, if given), by context kind, context
    key, target type, variation (``descending``: the reverse)."""
    if isinstance(tx, Listings):
        return tx.schedule_listing(res, context_kind, descending=descending)
    return _joined(tx.schedules_for(res, context_kind), _resource_order, descending)


def context_flag_listing(tx: Tx, project: str, env: str, context_kind: str, context_key: str,
                         *, descending: bool = False) -> bytes:
    """The context's schedules on every flag of the project, by flag key."""
    if isinstance(tx, Listings):
        return tx.context_flag_listing(project, env, context_kind, context_key,
                                       descending=descending)
    return _joined(tx.flag_schedules_of(project, env, context_kind, context_key), _flag_order,
                   descending)


def _joined(schedules: Iterable[Schedule], order: _ByKey, descending: bool) -> bytes:
    """Python compares strings by code point, which is UTF-8 byte order: SQLite's BINARY
    collation and PostgreSQL's bytea order, so both paths list alike."""
    ordered = sorted(schedules, key=order, reverse=descending)
    return ("[" + ",".join(schedule_item_json(s) for s in ordered) + "]").encode()
