"""What only the PostgreSQL store does: schema versions and migrations, retried serialisation
failures (then 409), a database that goes away (503, nothing half-written, recovery)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from pg_cluster import PgCluster
from psycopg import errors as pg_errors

from mock_server.errors import DomainError
from mock_server.storage import (
    FlagRecord,
    Resource,
    Schedule,
    SegmentRecord,
    StoreOpenError,
    Tx,
    open_store,
    postgres_schema,
)
from mock_server.storage.postgres import ATTEMPTS

P, E = "default", "test"
T0 = 1_700_000_000_000


def _version(url: str) -> int:
    with psycopg.connect(url) as conn:
        return int(conn.execute("SELECT version FROM mock_server_schema").fetchone()[0])


def test_a_new_database_gets_the_newest_schema_and_reopening_changes_nothing(pg_url) -> None:
    open_store(pg_url).close()
    assert _version(pg_url) == postgres_schema.LATEST
    open_store(pg_url).close()
    assert _version(pg_url) == postgres_schema.LATEST


def test_the_steps_above_the_stored_version_run_once(pg_url, monkeypatch) -> None:
    store = open_store(pg_url)
    store.write(lambda tx: tx.insert_segment(SegmentRecord(P, E, "kept", "k", "", [], 1, T0, T0)))
    store.close()
    step = (postgres_schema.LATEST + 1, "CREATE TABLE added_by_step (x integer)")
    monkeypatch.setattr(postgres_schema, "MIGRATIONS", [*postgres_schema.MIGRATIONS, step])
    with psycopg.connect(pg_url, autocommit=True) as conn:
        assert postgres_schema.migrate(conn, postgres_schema.MIGRATIONS) == step[0] - 1
        assert postgres_schema.migrate(conn, postgres_schema.MIGRATIONS) == step[0]  # no-op
    assert _version(pg_url) == step[0]
    with pytest.raises(StoreOpenError, match="newer than this mock server's"):
        open_store(pg_url)  # the code's own list ends a step lower
    monkeypatch.undo()


def test_a_serialisation_failure_runs_the_work_again_then_answers_409(pg_url) -> None:
    store = open_store(pg_url)
    calls = 0

    def flaky(fail_times: int) -> Any:
        def work(tx: Tx) -> str:
            nonlocal calls
            calls += 1
            tx.insert_segment(SegmentRecord(P, E, f"s{calls}", "s", "", [], 1, T0, T0))
            if calls <= fail_times:
                raise pg_errors.SerializationFailure("could not serialize access")
            return "done"
        return work

    try:
        assert store.write(flaky(2)) == "done" and calls == 3
        names = store.read(lambda tx: [tx.get_segment(P, E, f"s{i}") is not None
                                       for i in (1, 2, 3)])
        assert names == [False, False, True]  # the failed attempts left nothing
        calls = 0
        with pytest.raises(DomainError) as caught:
            store.write(flaky(ATTEMPTS))
        assert caught.value.status == 409 and calls == ATTEMPTS
    finally:
        store.close()


def test_writers_locking_flags_in_opposite_orders_both_succeed(pg_url, open_stores) -> None:
    """A real deadlock (user PATCHes name flags in any order): PostgreSQL aborts one writer,
    which runs again and succeeds."""
    setup = open_stores(pg_url)
    for key in ("a", "b"):
        setup.write(lambda tx, key=key: tx.insert_flag(
            FlagRecord(P, key, key, "", "boolean", [], [], True, 1, T0)))
    both_locked_one = threading.Barrier(2, timeout=30)
    runs: list[str] = []
    errors: list[BaseException] = []

    def writer(first: str, second: str) -> None:
        def work(tx: Tx) -> None:
            runs.append(first)
            tx.get_flag(P, first)
            if runs.count(first) == 1:
                both_locked_one.wait()
            record = tx.get_flag(P, second)
            assert record is not None
            record.version += 1
            tx.update_flag(record)

        try:
            open_stores(pg_url).write(work)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=order) for order in (("a", "b"), ("b", "a"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == [] and len(runs) == 3  # one writer ran twice
    assert [setup.read(lambda tx, k=k: tx.get_flag(P, k)).version for k in ("a", "b")] == [2, 2]


@pytest.fixture
def own_cluster() -> Iterator[PgCluster]:
    """A server of its own, which the test may stop and start."""
    with PgCluster() as cluster:
        yield cluster


def test_a_database_that_goes_away_answers_503_and_comes_back(own_cluster, make_api) -> None:
    api = make_api(store=open_store(own_cluster.fresh_url()))
    segments = f"/api/v2/segments/{P}/{E}"
    assert api("POST", segments, json={"key": "s", "name": "s"}).status_code == 201
    own_cluster.pause()
    for method, path, body in (("GET", f"{segments}/s", None),
                               ("POST", segments, {"key": "t", "name": "t"})):
        answer = api(method, path, json=body)
        assert answer.status_code == 503, answer.text
        assert answer.json()["code"] == "service_unavailable"
        assert "database is unavailable" in answer.json()["message"]
    own_cluster.resume()
    assert api("GET", f"{segments}/s").status_code == 200
    assert api("GET", f"{segments}/t").status_code == 404  # the refused POST left nothing


def test_a_connection_lost_inside_a_write_leaves_nothing_and_the_next_one_works(pg_url) -> None:
    store = open_store(pg_url)

    def lose_the_connection_halfway(tx: Tx) -> None:
        tx.insert_segment(SegmentRecord(P, E, "half", "h", "", [], 1, T0, T0))
        with psycopg.connect(pg_url, autocommit=True) as other:
            other.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                          " WHERE application_name = 'mock_server' AND pid <> pg_backend_pid()")
        tx.insert_segment(SegmentRecord(P, E, "half-2", "h", "", [], 1, T0, T0))

    try:
        store.read(lambda tx: tx.has_due(T0))  # the connection exists before the write
        with pytest.raises(DomainError) as caught:
            store.write(lose_the_connection_halfway)
        assert caught.value.status == 503
        assert store.read(lambda tx: tx.get_segment(P, E, "half")) is None
    finally:
        store.close()



def test_a_listing_reads_in_index_order_once_statistics_favour_a_sort(own_cluster) -> None:
    """After autovacuum's ANALYZE sees one segment holding most schedules, PostgreSQL's default
    costs plan its listing as a scan plus a sort of bytea keys (twice as slow at 10,000); the
    mock's sessions cost random reads as cached ones, so the listing stays an index scan. The
    plans are the ones the store's own statements ran, from the server log (auto_explain),
    including the generic plan psycopg prepares after the fifth execution."""
    url = own_cluster.url()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("LOAD 'auto_explain'")  # so that ALTER SYSTEM knows its settings
        conn.execute("ALTER SYSTEM SET session_preload_libraries = 'auto_explain'")
        conn.execute("ALTER SYSTEM SET auto_explain.log_min_duration = 0")
        conn.execute("SELECT pg_reload_conf()")
    store = open_store(url)
    big, small = (Resource("segment", P, E, key) for key in ("big", "small"))
    try:
        def load(tx: Tx) -> None:
            for res, count in ((big, 3000), (small, 5)):
                tx.insert_segment(SegmentRecord(P, E, res.key, res.key, "", [], 1, T0, T0))
                tx.write_schedules([], [], [Schedule(f"{res.key}-{i}", res, "user", f"u{i}",
                                                     "included", "", 1, T0 + i)
                                            for i in range(count)])

        store.write(load)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("ANALYZE schedules")
        log = own_cluster.data.parent / "server.log"
        logged_before = log.stat().st_size
        for n in range(8):  # a change before each listing, so that none comes from the cache
            store.write(lambda tx, n=n: tx.write_schedules(
                [], [Schedule(f"big-{n}", big, "user", f"u{n}", "included", "", 2, T0)], []))
            assert store.read(lambda tx: tx.schedule_listing(big)).count(b"},{") == 2999
    finally:
        store.close()
    with log.open(encoding="utf-8", errors="replace") as text:
        text.seek(logged_before)
        plans = [plan for plan in text.read().split("LOG:  duration:")
                 if "SELECT item FROM schedules" in plan]
    assert len(plans) == 8
    for plan in plans:
        assert "Index Scan" in plan and "Sort" not in plan, plan
