"""The SQLite store moves its write-ahead log into the database file from a thread of its own
(mock_server/storage/checkpointer.py), not inside the commit of a request."""

from __future__ import annotations

import shutil
import sqlite3
import time
from pathlib import Path

from mock_server.storage.checkpointer import BACKSTOP_PAGES
from mock_server.storage.records import SegmentRecord
from mock_server.storage.sqlite import SqliteStore

P, E, T0 = "default", "test", 1_700_000_000_000


def _in_database_file(db: Path, key: str, tmp_path: Path) -> bool:
    """Whether the database file alone (without its -wal) holds segment ``key``: only what a
    checkpoint has copied there."""
    copy = tmp_path / "copy.sqlite3"
    shutil.copyfile(db, copy)
    conn = sqlite3.connect(copy)
    try:
        row = conn.execute("SELECT count(*) FROM segments WHERE key = ?", (key,)).fetchone()
        return bool(row[0])
    except sqlite3.OperationalError:  # no checkpoint yet: the file has no tables
        return False
    finally:
        conn.close()


def test_a_write_reaches_the_database_file_without_an_inline_checkpoint(tmp_path: Path) -> None:
    db = tmp_path / "store.sqlite3"
    store = SqliteStore(str(db))
    try:
        # a request connection checkpoints only as a backstop, far beyond these few pages
        assert store.read(lambda tx: tx._c.execute("PRAGMA wal_autocheckpoint").fetchone()[0]) \
            == BACKSTOP_PAGES
        store.write(lambda tx: tx.insert_segment(
            SegmentRecord(P, E, "checkpointed", "c", None, [], 1, T0, T0)))
        deadline = time.monotonic() + 10
        while not _in_database_file(db, "checkpointed", tmp_path):
            assert time.monotonic() < deadline, "the log was not checkpointed within 10 s"
            time.sleep(0.02)
    finally:
        store.close()


def test_closing_the_store_stops_its_checkpoint_thread(tmp_path: Path) -> None:
    store = SqliteStore(str(tmp_path / "store.sqlite3"))
    checkpointer = store._checkpointer
    assert checkpointer is not None and checkpointer._thread.is_alive()
    store.close()
    assert not checkpointer._thread.is_alive()


def test_a_memory_store_has_no_checkpoint_thread() -> None:
    store = SqliteStore(":memory:")
    try:
        assert store._checkpointer is None
    finally:
        store.close()
