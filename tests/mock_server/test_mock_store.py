"""The SQLite store: transactions, durability, serialised writers, busy -> 409."""

from __future__ import annotations

import sqlite3
import threading

import pytest

from mock_server.clock import SettableClock
from mock_server.errors import DomainError
from mock_server.service import MockService, plain
from mock_server.sqlite_store import SqliteStore
from mock_server.store import SegmentRecord

P, E = "default", "test"
T0 = 1_700_000_000_000
HOUR = 3_600_000


def _record(key: str) -> SegmentRecord:
    return SegmentRecord(P, E, key, key, None, [], 1, T0, T0)


def test_a_failing_transaction_leaves_nothing(tmp_path) -> None:
    store = SqliteStore(str(tmp_path / "db.sqlite3"))
    with pytest.raises(RuntimeError), store.write() as tx:
        tx.insert_segment(_record("a"))
        raise RuntimeError("boom")
    with store.read() as tx:
        assert tx.get_segment(P, E, "a") is None
    store.close()


def test_a_restart_keeps_segments_flags_and_schedules(tmp_path, config, kinds) -> None:
    path = str(tmp_path / "db.sqlite3")
    clock = SettableClock(T0)
    first = MockService(config, SqliteStore(path), clock)
    first.post_segment(P, E, {"key": "s", "name": "S"})
    first.patch_segment(P, E, "s", {"instructions": [{"kind": "addIncludedUsers", "values": ["a"]}]},
                        kinds("patch_segment"))
    items = plain(first.patch_segment_schedules(P, E, "s", {"instructions": [
        {"kind": "addExpireUserTargetDate", "userKey": "a", "targetType": "included",
         "value": T0 + HOUR}]}, kinds("patch_expiring_user_targets_for_segment"), users_only=True))["items"]
    first.store.close()
    second = MockService(config, SqliteStore(path), clock)
    assert plain(second.segment_schedules(P, E, "s", users_only=True))["items"] == items
    assert second.get_segment(P, E, "s")["included"] == ["a"]
    second.store.close()


def test_a_writer_that_cannot_get_the_lock_in_time_gets_409(tmp_path) -> None:
    path = str(tmp_path / "db.sqlite3")
    store = SqliteStore(path, busy_timeout_ms=50)
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(DomainError) as caught, store.write() as tx:
            tx.insert_segment(_record("a"))
        assert caught.value.status == 409 and caught.value.code == "conflict"
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    with store.write() as tx:  # free again
        tx.insert_segment(_record("a"))
    store.close()


def test_concurrent_writers_lose_no_update(tmp_path, config, kinds) -> None:
    path = str(tmp_path / "db.sqlite3")
    clock = SettableClock(T0)
    service = MockService(config, SqliteStore(path), clock)
    service.post_segment(P, E, {"key": "s", "name": "S"})
    service.patch_segment(P, E, "s", {"instructions": [
        {"kind": "addIncludedUsers", "values": ["shared"] + [f"u{i}" for i in range(40)]}]},
        kinds("patch_segment"))
    service.patch_segment_schedules(P, E, "s", {"instructions": [
        {"kind": "addExpiringTarget", "contextKind": "user", "contextKey": "shared",
         "targetType": "included", "value": T0 + HOUR}]},
        kinds("patch_expiring_targets_for_segment"), users_only=False)
    errors: list[Exception] = []

    def writer(n: int) -> None:
        try:
            mine = MockService(config, SqliteStore(path), clock)  # own connections
            for i in range(10):
                mine.patch_segment_schedules(P, E, "s", {"instructions": [
                    {"kind": "updateExpiringTarget", "contextKind": "user", "contextKey": "shared",
                     "targetType": "included", "value": T0 + 2 * HOUR + i},
                    {"kind": "addExpiringTarget", "contextKind": "user",
                     "contextKey": f"u{n * 10 + i}", "targetType": "included", "value": T0 + HOUR},
                ]}, kinds("patch_expiring_targets_for_segment"), users_only=False)
            mine.store.close()
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    items = {i["contextKey"]: i for i in plain(service.segment_schedules(P, E, "s", users_only=False))["items"]}
    assert len(items) == 41
    assert items["shared"]["_version"] == 1 + 40
    service.store.close()
