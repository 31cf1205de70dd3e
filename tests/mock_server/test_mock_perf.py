"""Cost of the schedule store: indexed, so the size of the rest does not matter."""

from __future__ import annotations

import time
from collections.abc import Callable

from mock_server.clock import SettableClock
from mock_server.expiring import new_schedule_id
from mock_server.service import MockService
from mock_server.sqlite_store import SqliteStore
from mock_server.store import Resource, Schedule, SegmentRecord, TargetRow

P, E = "default", "test"
T0 = 1_700_000_000_000
DAY = 86_400_000


def _best(runs: int, action: Callable[[], object]) -> float:
    """The least CPU time of ``runs`` runs (CPU time: other processes' load does not count)."""
    best = float("inf")
    for _ in range(runs):
        start = time.process_time()
        action()
        best = min(best, time.process_time() - start)
    return best


def _bulk_segment(store: SqliteStore, key: str, targets: int, scheduled: int) -> None:
    """A segment with ``targets`` included users, the first ``scheduled`` of them scheduled."""
    res = Resource("segment", P, E, key)
    with store.write() as tx:
        tx.insert_segment(SegmentRecord(P, E, key, key, "", [], 1, T0, T0))
        tx.replace_targets(res, ("included",), (TargetRow("included", "user", f"u{i}")
                                                for i in range(targets)))
        for i in range(scheduled):
            tx.put_schedule(Schedule(new_schedule_id(), res, "user", f"u{i}", "included", "", 1,
                                     T0 + DAY + i))


def _thousand_adds(service: MockService, kinds, key: str, first: int = 0) -> Callable[[], object]:
    body = {"instructions": [
        {"kind": "addExpiringTarget", "contextKind": "user", "contextKey": f"u{i}",
         "targetType": "included", "value": T0 + DAY} for i in range(first, first + 1000)]}

    def run() -> object:
        result = service.patch_segment_schedules(
            P, E, key, body, kinds("patch_expiring_targets_for_segment"), users_only=False)
        assert result["failedInstructions"] == 0 and len(result["items"]) == 1000
        # undo, so that the next run schedules the same thousand again
        service.patch_segment_schedules(P, E, key, {"instructions": [
            {**i, "kind": "removeExpiringTarget"} for i in body["instructions"]]},
            kinds("patch_expiring_targets_for_segment"), users_only=False)
        return result

    return run


def _patch_cost(tmp_path, config, kinds, existing: int) -> float:
    store = SqliteStore(str(tmp_path / f"db-{existing}.sqlite3"))
    service = MockService(config, store, SettableClock(T0))
    _bulk_segment(store, "others", existing, existing)
    _bulk_segment(store, "mine", 1000, 0)
    try:
        return _best(3, _thousand_adds(service, kinds, "mine"))
    finally:
        store.close()


def test_a_thousand_instruction_patch_costs_the_same_with_100_or_100000_schedules(
    tmp_path, config, kinds
) -> None:
    few = _patch_cost(tmp_path, config, kinds, 100)
    many = _patch_cost(tmp_path, config, kinds, 100_000)
    assert many < 2 * few + 0.01, (few, many)


def _own_patch_cost(tmp_path, config, kinds, existing: int) -> float:
    """The same thousand adds on a segment that itself already has ``existing`` schedules."""
    store = SqliteStore(str(tmp_path / f"own-{existing}.sqlite3"))
    service = MockService(config, store, SettableClock(T0))
    _bulk_segment(store, "mine", existing + 1000, existing)
    try:
        return _best(3, _thousand_adds(service, kinds, "mine", first=existing))
    finally:
        store.close()


def test_a_thousand_instruction_patch_costs_the_same_whatever_the_resource_already_has(
    tmp_path, config, kinds
) -> None:
    """The answer lists the touched schedules only (tier-3 policy), not the resource's all."""
    few = _own_patch_cost(tmp_path, config, kinds, 100)
    many = _own_patch_cost(tmp_path, config, kinds, 100_000)
    assert many < 1.5 * few + 0.01, (few, many)


def test_listing_ten_thousand_schedules_is_fast(tmp_path, config) -> None:
    store = SqliteStore(str(tmp_path / "db.sqlite3"))
    service = MockService(config, store, SettableClock(T0))
    _bulk_segment(store, "big", 10_000, 10_000)
    try:
        items = service.segment_schedules(P, E, "big", users_only=False)["items"]
        assert len(items) == 10_000
        elapsed = _best(5, lambda: service.segment_schedules(P, E, "big", users_only=False))
        assert elapsed <= 0.020, f"{elapsed * 1000:.1f} ms"
    finally:
        store.close()
