"""Both stores: transactions, durability, serialised writers, a writer that cannot get its
lock in time -> 409."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest

from mock_server.clock import SettableClock
from mock_server.errors import DomainError
from mock_server.service import MockService, plain
from mock_server.storage import Resource, Schedule, SegmentRecord, TargetRow, Tx, open_store

P, E = "default", "test"
T0 = 1_700_000_000_000
HOUR = 3_600_000


def _record(key: str) -> SegmentRecord:
    return SegmentRecord(P, E, key, key, None, [], 1, T0, T0)


def test_a_failing_transaction_leaves_nothing(store) -> None:
    def fail(tx: Tx) -> None:
        tx.insert_segment(_record("a"))
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        store.write(fail)
    assert store.read(lambda tx: tx.get_segment(P, E, "a")) is None


def test_a_restart_keeps_segments_flags_and_schedules(store_url, open_stores, config,
                                                      kinds) -> None:
    clock = SettableClock(T0)
    first = MockService(config, open_stores(store_url), clock)
    first.post_segment(P, E, {"key": "s", "name": "S"})
    first.patch_segment(P, E, "s", {"instructions": [{"kind": "addIncludedUsers", "values": ["a"]}]},
                        kinds("patch_segment"))
    items = plain(first.patch_segment_schedules(P, E, "s", {"instructions": [
        {"kind": "addExpireUserTargetDate", "userKey": "a", "targetType": "included",
         "value": T0 + HOUR}]}, kinds("patch_expiring_user_targets_for_segment"), users_only=True))["items"]
    first.store.close()
    second = MockService(config, open_stores(store_url), clock)
    assert plain(second.segment_schedules(P, E, "s", users_only=True))["items"] == items
    assert second.get_segment(P, E, "s")["included"] == ["a"]


@contextmanager
def _holding_the_segment(url: str) -> Iterator[None]:
    """Another connection holds what a write of segment "a" needs: SQLite's write lock, or
    PostgreSQL's lock on the segment's row."""
    if url.startswith("postgresql://"):
        with psycopg.connect(url) as blocker:
            blocker.execute("SELECT 1 FROM segments WHERE key = %s FOR UPDATE", (b"a",))
            yield
        return
    blocker = sqlite3.connect(url, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()


def test_a_writer_that_cannot_get_its_lock_in_time_gets_409(store_url, open_stores) -> None:
    open_stores(store_url).write(lambda tx: tx.insert_segment(_record("a")))
    store = open_store(store_url, busy_timeout_ms=50)

    def rename(tx: Tx) -> None:
        record = tx.get_segment(P, E, "a")
        assert record is not None
        record.name = "renamed"
        tx.update_segment(record)

    try:
        with _holding_the_segment(store_url):
            with pytest.raises(DomainError) as caught:
                store.write(rename)
            assert caught.value.status == 409 and caught.value.code == "conflict"
        store.write(rename)  # free again
        assert store.read(lambda tx: tx.get_segment(P, E, "a")).name == "renamed"
    finally:
        store.close()


def test_concurrent_writers_lose_no_update(store_url, open_stores, config, kinds) -> None:
    clock = SettableClock(T0)
    service = MockService(config, open_stores(store_url), clock)
    service.post_segment(P, E, {"key": "s", "name": "S"})
    service.patch_segment(P, E, "s", {"instructions": [
        {"kind": "addIncludedUsers", "values": ["shared"] + [f"u{i}" for i in range(40)]}]},
        kinds("patch_segment"))
    service.patch_segment_schedules(P, E, "s", {"instructions": [
        {"kind": "addExpiringTarget", "contextKind": "user", "contextKey": "shared",
         "targetType": "included", "value": T0 + HOUR}]},
        kinds("patch_expiring_targets_for_segment"), users_only=False)
    errors: list[Exception] = []
    stores = [open_stores(store_url) for _ in range(4)]  # own connections

    def writer(n: int) -> None:
        try:
            mine = MockService(config, stores[n], clock)
            for i in range(10):
                mine.patch_segment_schedules(P, E, "s", {"instructions": [
                    {"kind": "updateExpiringTarget", "contextKind": "user", "contextKey": "shared",
                     "targetType": "included", "value": T0 + 2 * HOUR + i},
                    {"kind": "addExpiringTarget", "contextKind": "user",
                     "contextKey": f"u{n * 10 + i}", "targetType": "included", "value": T0 + HOUR},
                ]}, kinds("patch_expiring_targets_for_segment"), users_only=False)
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    items = {i["contextKey"]: i for i in plain(service.segment_schedules(P, E, "s", users_only=False))["items"]}
    assert len(items) == 41
    assert items["shared"]["_version"] == 1 + 40


ODD_KEYS = ["k\x00é", "back\\slash", 'quo"te', "{brace}", "com,ma", "NULL", "", " sp ace"]


def test_the_domain_sees_no_store_specific_record(store) -> None:
    """Both stores hand back the same plain records (str, not bytes; bool, not 0/1), for any
    key, alone or in a list of keys."""
    records = [SegmentRecord(P, E, key, f"n{key}", "", ["t"], 1, T0, T0, True, "device")
               for key in ODD_KEYS]
    store.write(lambda tx: [tx.insert_segment(r) for r in records])
    got: Any = store.read(lambda tx: [tx.get_segment(P, E, key) for key in ODD_KEYS])
    assert got == records and all(type(r.unbounded) is bool for r in got)
    res = Resource("segment", P, E, ODD_KEYS[0])
    rows = [TargetRow("included", "user", key) for key in ODD_KEYS]
    schedules = [Schedule(f"id{n}", res, "user", key, "included", "", 1, T0) for n, key in
                 enumerate(ODD_KEYS)]

    def fill(tx: Tx) -> None:
        tx.replace_targets(res, ("included",), rows)
        tx.write_schedules([], [], schedules)

    store.write(fill)
    assert sorted(store.read(lambda tx: tx.context_targets(res, "user", ODD_KEYS))) == sorted(rows)
    found = store.read(lambda tx: tx.context_schedules(res, "user", ODD_KEYS))
    assert sorted(found, key=lambda s: s.id) == schedules
    store.write(lambda tx: tx.write_schedules([s.id for s in schedules], [], []))
    assert store.read(lambda tx: tx.schedules_for(res)) == []


def test_replicas_expiring_together_apply_each_schedule_once(store_url, open_stores, config,
                                                             kinds) -> None:
    """Four services on their own connections (replicas) read the segment right after 40
    schedules fell due: the targets leave once, and the segment's version goes up once."""
    clock = SettableClock(T0)
    service = MockService(config, open_stores(store_url), clock)
    users = [f"u{i}" for i in range(40)]
    service.post_segment(P, E, {"key": "s", "name": "S"})
    service.patch_segment(P, E, "s", {"instructions": [
        {"kind": "addIncludedUsers", "values": [*users, "stays"]}]}, kinds("patch_segment"))
    service.patch_segment_schedules(P, E, "s", {"instructions": [
        {"kind": "addExpiringTarget", "contextKind": "user", "contextKey": user,
         "targetType": "included", "value": T0 + HOUR} for user in users]},
        kinds("patch_expiring_targets_for_segment"), users_only=False)
    version = service.get_segment(P, E, "s")["version"]
    clock.set(T0 + 2 * HOUR)
    replicas = [MockService(config, open_stores(store_url), clock) for _ in range(4)]
    start = threading.Barrier(len(replicas), timeout=30)
    seen: list[Any] = []

    def read(replica: MockService) -> None:
        start.wait()
        seen.append(replica.get_segment(P, E, "s"))

    threads = [threading.Thread(target=read, args=(r,)) for r in replicas]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(seen) == 4
    assert all(s["included"] == ["stays"] and s["version"] == version + 1 for s in seen), seen
    assert plain(service.segment_schedules(P, E, "s", users_only=False))["items"] == []
