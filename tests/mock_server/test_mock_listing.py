"""Listings come from the items the store keeps beside each schedule: they must equal what
the schedules say, in ``items`` order, for any context key, and survive an update, a
store file from before the item column, and the user shape's rewrite."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import orjson
from domain_helpers import T0, E, P
from hypothesis import given, settings
from hypothesis import strategies as st

from mock_server.representations import as_user_items, schedule_item
from mock_server.sqlite_store import SqliteStore
from mock_server.store import Resource, Schedule

SEGMENT = Resource("segment", P, E, "seg")
FLAG = Resource("flag", P, E, "flag")

# Any text SQLite can store: no lone surrogates. Quotes, backslashes and the very members the
# user shape rewrites are the interesting ones.
KEYS = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12) | st.sampled_from([
    '"', "\\", '\\"', '"contextKind":"user","contextKey":', '","contextKey":"', "é", "\U0001f600",
])


def _schedule(res: Resource, kind: str, key: str, n: int) -> Schedule:
    segment = res.kind == "segment"
    return Schedule(f"{n:024x}", res, kind, key, "included" if segment else "",
                    "" if segment else "var-1", 1 + n % 3, T0 + n)


def _expected(schedules: list[Schedule], *, user: bool) -> list[dict]:
    ordered = sorted(schedules, key=lambda s: (s.context_kind, s.context_key, s.target_type))
    return [schedule_item(s, user=user) for s in ordered]


def _put(store: SqliteStore, schedules: list[Schedule]) -> None:
    with store.write() as tx:
        for s in schedules:
            tx.put_schedule(s)


@settings(max_examples=60, deadline=None)
@given(contexts=st.lists(st.tuples(st.sampled_from(["user", "device"]), KEYS),
                         unique=True, max_size=8))
def test_a_listing_is_the_schedules_items_in_order(contexts: list[tuple[str, str]]) -> None:
    store = SqliteStore(":memory:")
    try:
        for res in (SEGMENT, FLAG):
            schedules = [_schedule(res, kind, key, n) for n, (kind, key) in enumerate(contexts)]
            _put(store, schedules)
            users = [s for s in schedules if s.context_kind == "user"]
            with store.read() as tx:
                everything = orjson.loads(tx.schedule_listing(res))
                users_listed = orjson.loads(as_user_items(tx.schedule_listing(res, "user")))
            assert everything == _expected(schedules, user=False)
            assert users_listed == _expected(users, user=True)
    finally:
        store.close()


def test_an_empty_listing_is_an_empty_array() -> None:
    store = SqliteStore(":memory:")
    with store.read() as tx:
        assert tx.schedule_listing(SEGMENT) == b"[]"
        assert tx.context_flag_listing(P, E, "user", "nobody") == b"[]"
    store.close()


def test_an_update_rewrites_the_stored_item() -> None:
    store = SqliteStore(":memory:")
    first = _schedule(SEGMENT, "user", "alice", 1)
    _put(store, [first])
    moved = Schedule(first.id, SEGMENT, "user", "alice", "included", "", 2, T0 + 99)
    with store.write() as tx:
        tx.write_schedules([], [moved], [])
    with store.read() as tx:
        assert orjson.loads(tx.schedule_listing(SEGMENT)) == [schedule_item(moved, user=False)]
    store.close()


def test_a_store_file_from_before_the_item_column_gets_its_items(tmp_path: Path) -> None:
    path = str(tmp_path / "old.sqlite3")
    schedules = [_schedule(SEGMENT, "user", key, n) for n, key in enumerate(["b", "a", 'q"'])]
    store = SqliteStore(path)
    _put(store, schedules)
    store.close()
    old = sqlite3.connect(path)
    old.execute("ALTER TABLE schedules DROP COLUMN item")  # the layout the first version wrote
    old.close()

    reopened = SqliteStore(path)
    with reopened.read() as tx:
        assert orjson.loads(tx.schedule_listing(SEGMENT)) == _expected(schedules, user=False)
    reopened.close()
    SqliteStore(path).close()  # opening it again changes nothing
