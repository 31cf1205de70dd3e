"""Listings come from the items the stores keep beside each schedule (their fast path) or, for
a store without one, from the schedule records (mock_server/listings.py): both must equal what
the schedules say, in ``items`` order, for any context key, on both stores, and survive an
update, a SQLite file from before the item column, and the user shape's rewrite; a listing a
replica remembers (PostgreSQL's listing cache) is never one that another replica has changed."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import orjson
from domain_helpers import T0, E, P
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mock_server.listings import context_flag_listing, resource_listing
from mock_server.representations import as_user_items, schedule_item
from mock_server.storage import Listings, Resource, Schedule, Store, Tx, open_store
from mock_server.storage.sqlite import SqliteStore

SEGMENT = Resource("segment", P, E, "seg")
FLAG = Resource("flag", P, E, "flag")

# Any text a store can keep: no lone surrogates (the generated runtime refuses them). NUL,
# quotes, backslashes and the very members the user shape rewrites are the interesting ones.
KEYS = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12) | st.sampled_from([
    '"', "\\", '\\"', '"contextKind":"user","contextKey":', '","contextKey":"', "é", "\U0001f600",
    "\x00", "a\x00", "\x01",
])


class _Plain:
    """A transaction without the stores' fast path: only the plain record operations show."""

    def __init__(self, tx: Tx) -> None:
        self._tx = tx

    def __getattr__(self, name: str) -> Any:
        if name in ("schedule_listing", "context_flag_listing"):
            raise AttributeError(name)
        return getattr(self._tx, name)


def _schedule(res: Resource, kind: str, key: str, n: int) -> Schedule:
    segment = res.kind == "segment"
    return Schedule(f"{res.kind[0]}{res.key}{n:020x}", res, kind, key,
                    "included" if segment else "", "" if segment else "var-1", 1 + n % 3, T0 + n)


def _expected(schedules: list[Schedule], *, user: bool) -> list[dict]:
    ordered = sorted(schedules, key=lambda s: (s.context_kind, s.context_key, s.target_type))
    return [schedule_item(s, user=user) for s in ordered]


def _put(store: Store, schedules: list[Schedule]) -> None:
    store.write(lambda tx: tx.write_schedules([], [], schedules))


def _both_ways(store: Store, listing: Any) -> list[Any]:
    """A listing through the store's fast path and through the domain's default: the same."""
    fast = store.read(listing)
    assert isinstance(store.read(lambda tx: tx), Listings)
    assert store.read(lambda tx: listing(_Plain(tx))) == fast
    return orjson.loads(fast)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # a store per example
@given(contexts=st.lists(st.tuples(st.sampled_from(["user", "device"]), KEYS),
                         unique=True, max_size=8))
def test_a_listing_is_the_schedules_items_in_order(new_store_url, open_stores,
                                                   contexts: list[tuple[str, str]]) -> None:
    store = open_stores(new_store_url())  # a new, empty store per example
    for res in (SEGMENT, FLAG):
        schedules = [_schedule(res, kind, key, n) for n, (kind, key) in enumerate(contexts)]
        _put(store, schedules)
        users = [s for s in schedules if s.context_kind == "user"]
        assert _both_ways(store, lambda tx, res=res: resource_listing(tx, res)) == _expected(
            schedules, user=False)
        assert _both_ways(store, lambda tx, res=res: as_user_items(
            resource_listing(tx, res, "user"))) == _expected(users, user=True)
        assert _both_ways(store, lambda tx, res=res: resource_listing(
            tx, res, descending=True)) == _expected(schedules, user=False)[::-1]


def test_the_flag_listing_of_a_context_is_by_flag_key(store) -> None:
    flags = [Resource("flag", P, E, key) for key in ("b", "a\x00", "a", "c")]
    store.write(lambda tx: [tx.insert_flag(_flag(res.key)) for res in flags])
    _put(store, [_schedule(res, "user", "alice", n) for n, res in enumerate(flags)])
    listed = _both_ways(store, lambda tx: context_flag_listing(tx, P, E, "user", "alice"))
    assert [item["_resourceId"]["key"] for item in listed] == ["a", "a\x00", "b", "c"]


def _flag(key: str) -> Any:
    from mock_server.storage import FlagRecord

    return FlagRecord(P, key, key, "", "boolean", [], [], True, 1, T0)


def test_an_empty_listing_is_an_empty_array(store) -> None:
    assert _both_ways(store, lambda tx: resource_listing(tx, SEGMENT)) == []
    assert _both_ways(store, lambda tx: context_flag_listing(tx, P, E, "user", "nobody")) == []


def test_an_update_rewrites_the_stored_item(store) -> None:
    first = _schedule(SEGMENT, "user", "alice", 1)
    _put(store, [first])
    moved = Schedule(first.id, SEGMENT, "user", "alice", "included", "", 2, T0 + 99)
    store.write(lambda tx: tx.write_schedules([], [moved], []))
    assert _both_ways(store, lambda tx: resource_listing(tx, SEGMENT)) == [
        schedule_item(moved, user=False)]


_CHANGES = st.lists(st.tuples(
    st.sampled_from(["insert", "update", "delete", "drop"]),
    st.sampled_from([SEGMENT, FLAG]),
    st.integers(0, 1),  # the replica that writes
    st.lists(st.integers(0, 5), min_size=1, max_size=3, unique=True),  # which schedules
), max_size=8)


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # stores per example
@given(changes=_CHANGES)
def test_each_replica_lists_what_the_last_write_of_either_left(new_store_url, changes) -> None:
    """Two replicas over one store, both listing (and so remembering) every resource after
    every write: each lists exactly what the model of the writes says."""
    url = new_store_url()
    replicas = [open_store(url), open_store(url)]
    try:
        _apply_and_list(replicas, changes)
    finally:
        for replica in replicas:
            replica.close()


def _apply_and_list(replicas: list[Store], changes: list[Any]) -> None:
    model: dict[str, Schedule] = {}
    for step, (change, res, writer, picks) in enumerate(changes):
        mine = [s for s in model.values() if s.resource == res]
        if change == "insert":
            fresh = [_schedule(res, "user", f"k{step}-{n}", step * 10 + n) for n in picks]
            replicas[writer].write(lambda tx, fresh=fresh: tx.write_schedules([], [], fresh))
            model.update((s.id, s) for s in fresh)
        elif change == "update" and mine:
            moved = [Schedule(s.id, res, s.context_kind, s.context_key, s.target_type,
                              s.variation_id, s.version + 1, s.expiration_date + 1)
                     for s in (mine[n % len(mine)] for n in sorted(set(picks)))]
            moved = list({s.id: s for s in moved}.values())
            replicas[writer].write(lambda tx, moved=moved: tx.write_schedules([], moved, []))
            model.update((s.id, s) for s in moved)
        elif change == "delete" and mine:
            gone = sorted({mine[n % len(mine)].id for n in picks})
            replicas[writer].write(lambda tx, gone=gone: tx.write_schedules(gone, [], []))
            for key in gone:
                del model[key]
        elif change == "drop":
            replicas[writer].write(lambda tx, res=res: tx.delete_segment(P, E, res.key)
                                   if res.kind == "segment" else tx.delete_flag(P, res.key))
            model = {k: s for k, s in model.items() if s.resource != res}
        for replica in replicas:
            for listed in (SEGMENT, FLAG):
                expected = _expected([s for s in model.values() if s.resource == listed],
                                     user=False)
                assert orjson.loads(replica.read(
                    lambda tx, listed=listed: resource_listing(tx, listed))) == expected


def test_a_sqlite_file_from_before_the_item_column_gets_its_items(tmp_path: Path) -> None:
    path = str(tmp_path / "old.sqlite3")
    schedules = [_schedule(SEGMENT, "user", key, n) for n, key in enumerate(["b", "a", 'q"'])]
    store = SqliteStore(path)
    _put(store, schedules)
    store.close()
    old = sqlite3.connect(path)
    old.execute("ALTER TABLE schedules DROP COLUMN item")  # the layout the first version wrote
    old.close()

    reopened = SqliteStore(path)
    assert orjson.loads(reopened.read(lambda tx: resource_listing(tx, SEGMENT))) == _expected(
        schedules, user=False)
    reopened.close()
    SqliteStore(path).close()  # opening it again changes nothing
