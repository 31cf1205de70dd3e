"""Moving a SQLite file's write-ahead log into the database, off the request path.

In WAL mode with ``synchronous = NORMAL`` a commit does not wait for the disk; a checkpoint
does (it syncs the log, copies its pages into the database file and syncs that). SQLite runs
one by default inside the commit that takes the log past 1,000 pages, so every few hundred
PATCHes one request, and every request queued behind it on the event loop, waits for two
fsyncs. Here a thread of its own, with its own connection, runs a ``PASSIVE`` checkpoint
(it never waits for, nor blocks, a reader or a writer) after writes, at most every
``interval_s``; the GIL is released while SQLite works, so requests go on meanwhile. The
request connections keep an automatic checkpoint only as a backstop
(:data:`BACKSTOP_PAGES`), so that the log stays bounded should this thread fall behind.

Durability is the same as before: what a commit wrote is in the log either way.
"""

from __future__ import annotations

import sqlite3
import threading

__all__ = ["BACKSTOP_PAGES", "WalCheckpointer"]

#: the request connections' ``wal_autocheckpoint``: 10x SQLite's default, ~40 MB of log
BACKSTOP_PAGES = 10_000


class WalCheckpointer:
    """A daemon thread that checkpoints ``path``'s log after :meth:`written` calls."""

    def __init__(self, path: str, *, interval_s: float = 0.05) -> None:
        self._path = path
        self._interval_s = interval_s
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sqlite-checkpoint", daemon=True)
        self._thread.start()

    def written(self) -> None:
        """A write transaction has committed: checkpoint soon."""
        self._wake.set()

    def close(self) -> None:
        """Stop the thread after a last checkpoint."""
        self._stop.set()
        self._wake.set()
        self._thread.join()

    def _run(self) -> None:
        try:
            conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error:
            return  # the store's own connection reports the problem; the backstop still runs
        try:
            while not self._stop.is_set():
                self._wake.wait()
                self._wake.clear()
                self._checkpoint(conn)
                self._stop.wait(self._interval_s)  # at most one checkpoint per interval
            self._checkpoint(conn)
        finally:
            conn.close()

    @staticmethod
    def _checkpoint(conn: sqlite3.Connection) -> None:
        try:
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.Error:
            pass  # a busy or closed database: the backstop checkpoint still bounds the log
