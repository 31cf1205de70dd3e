"""The write connection's context cache (mock_server/storage/context_cache.py, SQLite's) is
never stale, and the PostgreSQL store, which has none, passes the same tests.

Each test makes the cache hold a context, changes that context behind its back or undoes a
change, and checks that the next PATCH sees the database, not the cache.
"""

from __future__ import annotations

from typing import Any

import pytest

from generated.operations import OPERATIONS
from mock_server.clock import SettableClock
from mock_server.config import Config
from mock_server.service import MockService, plain
from mock_server.storage import Resource, Schedule, Tx
from mock_server.storage.context_cache import ContextCache

PROJECT, ENV = "default", "test"
T0 = 1_700_000_000_000
HOUR = 3_600_000
RES = Resource("segment", PROJECT, ENV, "seg")
KINDS = {op.python_name: op.instructions for op in OPERATIONS.values()}
OP = "patch_expiring_targets_for_segment"


def _instruction(kind: str, key: str, value: int | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"kind": kind, "contextKind": "user", "contextKey": key,
                           "targetType": "included"}
    if value is not None:
        out["value"] = value
    return out


def _patch(service: MockService, *instructions: dict[str, Any]) -> dict[str, Any]:
    return plain(service.patch_segment_schedules(
        PROJECT, ENV, "seg", {"instructions": list(instructions)}, KINDS[OP], users_only=False))


@pytest.fixture
def file_service(store: Any, config: Config) -> Any:
    service = MockService(config, store, SettableClock(T0))
    service.post_segment(PROJECT, ENV, {"key": "seg", "name": "seg"})
    service.patch_segment(PROJECT, ENV, "seg", {"instructions": [
        {"kind": "addIncludedUsers", "values": ["u1", "u2"]}]}, KINDS["patch_segment"])
    return service


def test_a_commit_by_another_connection_empties_the_cache(store_url, open_stores,
                                                          file_service) -> None:
    first = _patch(file_service, _instruction("addExpiringTarget", "u1", T0 + HOUR))
    assert first["failedInstructions"] == 0
    schedule_id = first["items"][0]["_id"]
    other = open_stores(store_url)  # another process, as far as the database knows
    other.write(lambda tx: tx.write_schedules([schedule_id], [], []))
    answer = _patch(file_service, _instruction("updateExpiringTarget", "u1", T0 + 2 * HOUR))
    assert answer["failedInstructions"] == 1
    assert "no scheduled removal" in answer["errors"][0]["message"]


def test_a_rolled_back_batch_leaves_the_cache_as_the_database(file_service) -> None:
    _patch(file_service, _instruction("addExpiringTarget", "u1", T0 + HOUR))
    store = file_service.store
    (cached,) = store.write(lambda tx: tx.context_schedules(RES, "user", ["u1"]))

    def abandon(tx: Tx) -> None:
        tx.write_schedules([cached.id], [], [])
        raise RuntimeError("abandon the transaction")

    with pytest.raises(RuntimeError):
        store.write(abandon)
    (again,) = store.write(lambda tx: tx.context_schedules(RES, "user", ["u1"]))
    assert again.id == cached.id and again.expiration_date == T0 + HOUR


def test_the_cache_follows_a_patch_that_adds_updates_and_removes(store_url, open_stores,
                                                                file_service) -> None:
    _patch(file_service, _instruction("addExpiringTarget", "u1", T0 + HOUR))
    _patch(file_service,
           _instruction("updateExpiringTarget", "u1", T0 + 3 * HOUR),
           _instruction("addExpiringTarget", "u2", T0 + 2 * HOUR),
           _instruction("removeExpiringTarget", "u1"),
           _instruction("addExpiringTarget", "u1", T0 + 4 * HOUR))
    def seen(tx: Tx) -> list[tuple[str, int, int]]:
        return sorted((s.context_key, s.version, s.expiration_date)
                      for s in tx.context_schedules(RES, "user", ["u1", "u2"]))

    cached = file_service.store.write(seen)
    stored = open_stores(store_url).read(seen)
    assert cached == stored == [("u1", 1, T0 + 4 * HOUR), ("u2", 1, T0 + 2 * HOUR)]


def test_any_other_write_empties_the_cache(file_service) -> None:
    _patch(file_service, _instruction("addExpiringTarget", "u1", T0 + HOUR))
    file_service.patch_segment(PROJECT, ENV, "seg", {"instructions": [
        {"kind": "removeIncludedUsers", "values": ["u1"]}]}, KINDS["patch_segment"])
    answer = _patch(file_service, _instruction("addExpiringTarget", "u1", T0 + HOUR))
    assert answer["failedInstructions"] == 1  # no longer individually targeted
    assert "not individually targeted" in answer["errors"][0]["message"]


def test_the_cache_is_bounded() -> None:
    cache = ContextCache(max_entries=3)
    cache.fill(RES, "user", ["a", "b"], [], [])
    cache.fill(RES, "user", ["c", "d"], [], [])  # would hold 4: starts again
    assert cache.missing(RES, "user", ["a", "b", "c", "d"]) == ["a", "b"]


def test_apply_inserts_only_into_cached_contexts() -> None:
    cache = ContextCache()
    cache.fill(RES, "user", ["a"], [], [])
    cache.apply([], [], [Schedule("id-a", RES, "user", "a", "included", "", 1, T0),
                         Schedule("id-b", RES, "user", "b", "included", "", 1, T0)])
    assert [s.id for s in cache.schedules(RES, "user", ["a"])] == ["id-a"]
    assert cache.missing(RES, "user", ["b"]) == ["b"]  # read whole from the store when needed


def test_a_date_moved_earlier_still_expires_on_time(file_service) -> None:
    """The earliest-date bound follows the PATCHes' own writes (``next_due``)."""
    _patch(file_service, _instruction("addExpiringTarget", "u1", T0 + 2 * HOUR))
    _patch(file_service, _instruction("updateExpiringTarget", "u1", T0 + HOUR))
    file_service.clock.set(T0 + HOUR + 1)
    answer = _patch(file_service, _instruction("addExpiringTarget", "u2", T0 + 3 * HOUR))
    assert answer["failedInstructions"] == 0
    segment = file_service.get_segment(PROJECT, ENV, "seg")
    assert segment["included"] == ["u2"]  # u1 left when its (moved) date came


def test_a_schedule_written_by_another_connection_expires_on_time(store_url, open_stores,
                                                                  file_service) -> None:
    _patch(file_service, _instruction("addExpiringTarget", "u1", T0 + 2 * HOUR))
    open_stores(store_url).write(lambda tx: tx.write_schedules([], [], [
        Schedule("0" * 24, RES, "user", "u2", "included", "", 1, T0 + HOUR)]))
    file_service.clock.set(T0 + HOUR + 1)
    _patch(file_service, _instruction("updateExpiringTarget", "u1", T0 + 3 * HOUR))
    assert file_service.get_segment(PROJECT, ENV, "seg")["included"] == ["u1"]
