"""``--db``: which store each value opens, and every value the server cannot use stops it
before it listens, with one line naming the problem (and never the password)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mock_server.process import ROOT, free_port
from mock_server.storage import StoreOpenError, describe, open_store, postgres_schema
from mock_server.storage.postgres import PostgresStore
from mock_server.storage.sqlite import SqliteStore


def test_each_url_opens_its_store(tmp_path: Path, pg_url: str) -> None:
    cases = {":memory:": SqliteStore, str(tmp_path / "plain.sqlite3"): SqliteStore,
             f"sqlite://{tmp_path}/url.sqlite3": SqliteStore, pg_url: PostgresStore}
    for url, kind in cases.items():
        store = open_store(url)
        try:
            assert type(store) is kind, url
        finally:
            store.close()
    assert (tmp_path / "plain.sqlite3").exists() and (tmp_path / "url.sqlite3").exists()


def test_the_password_never_shows() -> None:
    assert describe("postgresql://me:s3cret@db:5432/x") == "postgresql://me:***@db:5432/x"
    assert describe("/a/path") == "/a/path"


def _serve(db: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mock_server", "--port", str(free_port()), "--db", db],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
        stdin=subprocess.DEVNULL)


def _newer_schema(pg_url: str) -> str:
    open_store(pg_url).close()
    import psycopg

    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("UPDATE mock_server_schema SET version = 99")
    return pg_url


@pytest.mark.parametrize(("make_db", "expected"), [
    (lambda cluster, url: "mysql://me@127.0.0.1/x", "unknown database URL scheme 'mysql'"),
    (lambda cluster, url: "sqlite://", "names no file"),
    (lambda cluster, url: f"postgresql://mock:x@127.0.0.1:{free_port()}/postgres",
     "Connection refused"),
    (lambda cluster, url: cluster.url(password="wrong-password"),
     'password authentication failed for user "mock"'),
    (lambda cluster, url: cluster.url(database="no_such_db"), 'database "no_such_db" does not exist'),
    (lambda cluster, url: _newer_schema(url),
     f"schema version 99, newer than this mock server's {postgres_schema.LATEST}"),
], ids=["scheme", "no-file", "unreachable", "credentials", "database", "newer-schema"])
def test_a_database_it_cannot_use_stops_it_with_one_line(make_db, expected, pg_cluster, pg_url,
                                                         tmp_path: Path) -> None:
    db = make_db(pg_cluster, pg_url)
    done = _serve(db, tmp_path)
    assert done.returncode == 2, done
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], lines
    assert pg_cluster.password not in done.stderr and "wrong-password" not in done.stderr


def test_a_store_that_cannot_open_raises_one_line(tmp_path: Path) -> None:
    with pytest.raises(StoreOpenError) as caught:
        open_store(str(tmp_path / "no-such-dir" / "db.sqlite3"))
    assert "\n" not in str(caught.value) and "no-such-dir" in str(caught.value)
