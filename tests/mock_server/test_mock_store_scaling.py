"""The store's work per request does not depend on how many schedules it holds elsewhere.

Checked without a clock, on each store. SQLite: every SQL statement that a 1,000-instruction
PATCH and a listing run is recorded (``set_trace_callback``); each must reach the schedules
and targets through an index (``EXPLAIN QUERY PLAN``: SEARCH, never SCAN), and the PATCH must
run the same statements whether the store holds 100 or 20,000 other schedules. PostgreSQL:
every statement is run once more under ``EXPLAIN ANALYZE`` first (in a savepoint, rolled
back), before any ANALYZE of the tables and with prepared statements' generic plans: no
sequential scan of schedules or targets, and the rows each statement visits there are the
same however many schedules the store or the resource holds. How long they take is measured
by ``make bench-serve`` (bench/bench_serve.py, bench/bench_serve_pg.py), not asserted here.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mock_server.clock import SettableClock
from mock_server.config import Config
from mock_server.expiring import new_schedule_id
from mock_server.service import MockService, plain
from mock_server.storage import Resource, Schedule, SegmentRecord, Store, TargetRow, Tx, open_store
from mock_server.storage.postgres import PostgresTx
from mock_server.storage.sqlite import SqliteStore

PROJECT, ENV = "default", "test"
T0 = 1_700_000_000_000
DAY = 86_400_000
_TABLES = ("schedules", "targets")


def _bulk_segment(store: Store, key: str, targets: int, scheduled: int,
                  prefix: str = "u") -> None:
    """A segment with ``targets`` included users, the first ``scheduled`` of them scheduled."""
    res = Resource("segment", PROJECT, ENV, key)

    def load(tx: Tx) -> None:
        tx.insert_segment(SegmentRecord(PROJECT, ENV, key, key, "", [], 1, T0, T0))
        tx.replace_targets(res, ("included",), (TargetRow("included", "user", f"{prefix}{i}")
                                                for i in range(targets)))
        tx.write_schedules([], [], [Schedule(new_schedule_id(), res, "user", f"{prefix}{i}",
                                             "included", "", 1, T0 + DAY + i)
                                    for i in range(scheduled)])

    store.write(load)


@contextmanager
def _statements(store: SqliteStore) -> Iterator[list[str]]:
    """Every statement the store's connection runs inside the block, values expanded."""
    conn = store._conn()
    seen: list[str] = []
    conn.set_trace_callback(seen.append)
    try:
        yield seen
    finally:
        conn.set_trace_callback(None)


def _plans(store: SqliteStore, statements: list[str]) -> list[tuple[str, str]]:
    """(statement, plan step) for every step of every query, update or delete."""
    conn = store._conn()
    steps = []
    for sql in dict.fromkeys(statements):
        if re.match(r"\s*(SELECT|UPDATE|DELETE)", sql, re.IGNORECASE):
            steps += [(sql, row[3]) for row in conn.execute("EXPLAIN QUERY PLAN " + sql)]
    return steps


def _full_scans(store: SqliteStore, statements: list[str]) -> list[str]:
    """The statements whose plan reads a whole schedules or targets table."""
    return [f"{sql[:120]} -> {step}" for sql, step in _plans(store, statements)
            if any(re.search(rf"\bSCAN {table}\b", step) for table in _TABLES)]


def _resource_wide(store: SqliteStore, statements: list[str]) -> list[str]:
    """The statements that read every schedule or target of a resource: an index search
    bounded by neither a context nor an _id, and not on the date index (lazy expiry's
    "anything due?" and "earliest date" read one end of it)."""
    return [f"{sql[:120]} -> {step}" for sql, step in _plans(store, statements)
            if any(f"SEARCH {table} " in step for table in _TABLES)
            and not re.search(r"context_key=|\bid=|schedules_by_date", step)]


def _shape(statements: list[str]) -> list[str]:
    """A statement without its values: the same shape for the same work."""
    return [re.sub(r"'[^']*'|\b\d+\b", "?", sql) for sql in statements]


def _thousand_adds(service: MockService, kinds: Any, key: str, first: int) -> dict[str, Any]:
    body = {"instructions": [
        {"kind": "addExpiringTarget", "contextKind": "user", "contextKey": f"u{i}",
         "targetType": "included", "value": T0 + DAY} for i in range(first, first + 1000)]}
    return plain(service.patch_segment_schedules(
        PROJECT, ENV, key, body, kinds("patch_expiring_targets_for_segment"), users_only=False))


def _patch_statements(tmp_path: Path, config: Config, kinds: Any, elsewhere: int,
                      in_resource: int) -> tuple[SqliteStore, list[str]]:
    store = SqliteStore(str(tmp_path / f"db-{elsewhere}-{in_resource}.sqlite3"))
    service = MockService(config, store, SettableClock(T0))
    _bulk_segment(store, "others", elsewhere, elsewhere)
    _bulk_segment(store, "mine", in_resource + 1000, in_resource)
    with _statements(store) as seen:
        result = _thousand_adds(service, kinds, "mine", first=in_resource)
    assert result["failedInstructions"] == 0 and len(result["items"]) == 1000
    return store, seen


def test_a_thousand_instruction_patch_runs_the_same_indexed_statements_however_big_the_store(
    tmp_path: Path, config: Config, kinds: Any
) -> None:
    few_store, few = _patch_statements(tmp_path, config, kinds, 100, 100)
    many_store, many = _patch_statements(tmp_path, config, kinds, 20_000, 100)
    own_store, own = _patch_statements(tmp_path, config, kinds, 100, 20_000)
    try:
        assert _shape(few) == _shape(many) == _shape(own)
        # a few statements (executemany runs one per row), not a query per instruction
        assert len(set(_shape(few))) < 12, sorted(set(_shape(few)))
        for store, seen in ((few_store, few), (many_store, many), (own_store, own)):
            assert _full_scans(store, seen) == []
            assert _resource_wide(store, seen) == []
    finally:
        for store in (few_store, many_store, own_store):
            store.close()


def test_listing_reads_one_resource_through_an_index(tmp_path: Path, config: Config) -> None:
    store = SqliteStore(str(tmp_path / "db.sqlite3"))
    service = MockService(config, store, SettableClock(T0))
    _bulk_segment(store, "big", 10_000, 10_000)
    _bulk_segment(store, "other", 5_000, 5_000)
    try:
        with _statements(store) as seen:
            items = plain(service.segment_schedules(PROJECT, ENV, "big", users_only=False))["items"]
        assert len(items) == 10_000
        assert {item["_resourceId"]["key"] for item in items} == {"big"}
        assert _full_scans(store, seen) == []
        assert len(_resource_wide(store, seen)) == 1  # the listing itself
    finally:
        store.close()


def test_the_checkers_see_scans(tmp_path: Path) -> None:
    """The checks above can fail: an unindexed and a resource-wide query are reported."""
    store = SqliteStore(str(tmp_path / "db.sqlite3"))
    try:
        with _statements(store) as seen:
            store._conn().execute("SELECT id FROM schedules WHERE version = 3").fetchall()
        assert len(_full_scans(store, seen)) == 1
        with _statements(store) as seen:
            store.read(lambda tx: tx.schedule_listing(Resource("segment", PROJECT, ENV, "x")))
        assert _full_scans(store, seen) == [] and len(_resource_wide(store, seen)) == 1
    finally:
        store.close()
    assert sqlite3.sqlite_version_info >= (3, 8, 0)  # EXPLAIN QUERY PLAN's SCAN/SEARCH wording


# -- PostgreSQL ---------------------------------------------------------------------------------


@contextmanager
def _explained(monkeypatch: Any) -> Iterator[list[tuple[str, Any]]]:
    """(statement, EXPLAIN ANALYZE plan) of every statement PostgreSQL transactions run inside
    the block, each explained in the state it runs in (a savepoint, rolled back), with the
    generic plan a prepared statement gets."""
    seen: list[tuple[str, Any]] = []
    run = PostgresTx._exec

    def explain_first(tx: PostgresTx, sql: str, args: Any) -> Any:
        if not tx.begun:
            run(tx, "SET LOCAL plan_cache_mode = force_generic_plan", ())
        cur = tx._cur
        cur.execute("SAVEPOINT explained")
        (plan,) = cur.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, args).fetchone()
        cur.execute("ROLLBACK TO SAVEPOINT explained")
        seen.append((sql, plan))
        return run(tx, sql, args)

    monkeypatch.setattr(PostgresTx, "_exec", explain_first)
    yield seen
    monkeypatch.undo()


def _nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("Plans", ()):
        yield from _nodes(child)


def _visits(plan: Any) -> tuple[list[str], int]:
    """The sequential scans of schedules or targets in a plan, and the rows its scans of them
    read (returned or filtered away, every loop)."""
    scans, visited = [], 0
    for node in _nodes(plan[0]["Plan"]):
        if node.get("Relation Name") not in _TABLES:
            continue
        if node["Node Type"] == "Seq Scan":
            scans.append(node["Relation Name"])
        visited += node["Actual Loops"] * (node["Actual Rows"] + node.get("Rows Removed by Filter", 0)
                                           + node.get("Rows Removed by Index Recheck", 0))
    return scans, visited


def _pg_patch(url: str, config: Config, kinds: Any, elsewhere: int, in_resource: int,
              monkeypatch: Any) -> list[tuple[str, Any]]:
    store = open_store(url)
    try:
        _bulk_segment(store, "others", elsewhere, elsewhere, prefix="o")
        _bulk_segment(store, "mine", in_resource + 1000, in_resource)
        service = MockService(config, store, SettableClock(T0))
        with _explained(monkeypatch) as seen:
            result = _thousand_adds(service, kinds, "mine", first=in_resource)
        assert result["failedInstructions"] == 0 and len(result["items"]) == 1000
        return seen
    finally:
        store.close()


def test_postgres_a_thousand_instruction_patch_visits_the_same_rows_however_big_the_store(
    pg_cluster: Any, config: Config, kinds: Any, monkeypatch: Any
) -> None:
    runs = [_pg_patch(pg_cluster.fresh_url(), config, kinds, elsewhere, in_resource, monkeypatch)
            for elsewhere, in_resource in ((100, 100), (20_000, 100), (100, 20_000))]
    shapes = [_shape([sql for sql, _ in run]) for run in runs]
    assert shapes[0] == shapes[1] == shapes[2]
    assert len(shapes[0]) < 12, shapes[0]  # a few statements, not one per instruction
    for run in runs:
        assert [scan for _, plan in run for scan in _visits(plan)[0]] == []
    visited = [[_visits(plan)[1] for _, plan in run] for run in runs]
    assert visited[0] == visited[1] == visited[2], list(zip(shapes[0], *visited, strict=True))


def test_postgres_listing_reads_one_resource_through_an_index(
    pg_url: str, config: Config, monkeypatch: Any
) -> None:
    store = open_store(pg_url)
    try:
        _bulk_segment(store, "big", 10_000, 10_000)
        _bulk_segment(store, "other", 5_000, 5_000, prefix="o")
        service = MockService(config, store, SettableClock(T0))
        with _explained(monkeypatch) as seen:
            items = plain(service.segment_schedules(PROJECT, ENV, "big", users_only=False))["items"]
        assert len(items) == 10_000
        assert [scan for _, plan in seen for scan in _visits(plan)[0]] == []
        listing = [plan for sql, plan in seen if "SELECT item" in sql]
        assert len(listing) == 1 and _visits(listing[0])[1] == 10_000
    finally:
        store.close()


def test_postgres_the_checkers_see_scans(pg_url: str, monkeypatch: Any) -> None:
    """The checks above can fail: a scan of a whole table is reported, with the rows it read."""
    store = open_store(pg_url)
    try:
        _bulk_segment(store, "x", 50, 50)
        with _explained(monkeypatch) as seen:
            store.read(lambda tx: tx._all("SELECT id FROM schedules WHERE version = 3", ()))
        assert _visits(seen[-1][1]) == (["schedules"], 50)
    finally:
        store.close()
