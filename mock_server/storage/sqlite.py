"""The SQLite :class:`~mock_server.storage.protocol.Store`: today's file or ``:memory:`` store.

A file database runs in WAL mode with one connection per thread; every write
transaction starts with ``BEGIN IMMEDIATE`` so concurrent writers queue
instead of losing updates, and a writer that waits longer than the busy
timeout gets a 409 ``conflict``. ``:memory:`` uses one connection guarded by
a lock (an in-memory database cannot be shared between connections).

What only SQLite does stays here: the write connection's context cache, kept fresh with
``PRAGMA data_version`` (context_cache.py), listings joined with ``group_concat``, the
busy timeout turned into 409, and a file's log checkpointed by a thread of its own
(checkpointer.py), not inside a request's commit.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from typing import Any, TypeVar

from ..errors import conflict
from ..representations import schedule_item_json
from .checkpointer import BACKSTOP_PAGES, WalCheckpointer
from .context_cache import ContextCache
from .protocol import StoreOpenError
from .records import FlagEnvRecord, FlagRecord, Resource, Schedule, SegmentRecord, TargetRow

__all__ = ["SqliteStore"]

T = TypeVar("T")

SCHEMA = """
CREATE TABLE IF NOT EXISTS segments (
    project TEXT NOT NULL, env TEXT NOT NULL, key TEXT NOT NULL,
    name TEXT NOT NULL, description TEXT, tags TEXT NOT NULL,
    version INTEGER NOT NULL, creation_date INTEGER NOT NULL, last_modified INTEGER NOT NULL,
    unbounded INTEGER NOT NULL DEFAULT 0, unbounded_context_kind TEXT,
    PRIMARY KEY (project, env, key)
);
CREATE TABLE IF NOT EXISTS flags (
    project TEXT NOT NULL, key TEXT NOT NULL,
    name TEXT NOT NULL, description TEXT NOT NULL, kind TEXT NOT NULL,
    variations TEXT NOT NULL, tags TEXT NOT NULL, temporary INTEGER NOT NULL,
    version INTEGER NOT NULL, creation_date INTEGER NOT NULL, extras TEXT NOT NULL,
    PRIMARY KEY (project, key)
);
CREATE TABLE IF NOT EXISTS flag_envs (
    project TEXT NOT NULL, flag_key TEXT NOT NULL, env TEXT NOT NULL,
    version INTEGER NOT NULL, last_modified INTEGER NOT NULL,
    salt TEXT NOT NULL, sel TEXT NOT NULL, is_on INTEGER NOT NULL,
    PRIMARY KEY (project, flag_key, env)
);
CREATE TABLE IF NOT EXISTS targets (
    id INTEGER PRIMARY KEY,
    owner TEXT NOT NULL, project TEXT NOT NULL, env TEXT NOT NULL, owner_key TEXT NOT NULL,
    slot TEXT NOT NULL, context_kind TEXT NOT NULL, context_key TEXT NOT NULL,
    variation INTEGER NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS targets_by_owner ON targets
    (owner, project, env, owner_key, context_kind, context_key, slot, variation);
CREATE INDEX IF NOT EXISTS targets_by_context ON targets (project, env, context_kind, context_key);
CREATE TABLE IF NOT EXISTS schedules (
    id TEXT PRIMARY KEY,
    project TEXT NOT NULL, env TEXT NOT NULL, resource_kind TEXT NOT NULL, resource_key TEXT NOT NULL,
    context_kind TEXT NOT NULL, context_key TEXT NOT NULL,
    target_type TEXT NOT NULL, variation_id TEXT NOT NULL,
    version INTEGER NOT NULL, expiration_date INTEGER NOT NULL,
    item TEXT NOT NULL  -- the ExpiringTarget item as JSON, written with the row: listings
);
CREATE UNIQUE INDEX IF NOT EXISTS schedules_by_target ON schedules
    (project, env, resource_kind, resource_key, context_kind, context_key, target_type);
CREATE INDEX IF NOT EXISTS schedules_by_date ON schedules (expiration_date);
"""

_SCHEDULE_COLUMNS = (
    "id, project, env, resource_kind, resource_key, context_kind, context_key,"
    " target_type, variation_id, version, expiration_date"
)
_S_SCHEDULE_COLUMNS = ", ".join("s." + c.strip() for c in _SCHEDULE_COLUMNS.split(","))
_INSERT_SCHEDULE = f"INTO schedules ({_SCHEDULE_COLUMNS}, item) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)"


def _schedule(row: tuple[Any, ...]) -> Schedule:
    return Schedule(
        id=row[0],
        resource=Resource(row[3], row[1], row[2], row[4]),
        context_kind=row[5],
        context_key=row[6],
        target_type=row[7],
        variation_id=row[8],
        version=row[9],
        expiration_date=row[10],
    )


def _schedule_values(s: Schedule) -> tuple[Any, ...]:
    r = s.resource
    return (s.id, r.project, r.env, r.kind, r.key, s.context_kind, s.context_key,
            s.target_type, s.variation_id, s.version, s.expiration_date, schedule_item_json(s))


def _order(columns: Sequence[str], descending: bool) -> str:
    """An ORDER BY list, every column the same way (an index serves it in either direction)."""
    return ", ".join(f"{c} DESC" if descending else c for c in columns)


def _marks(values: Sequence[Any]) -> str:
    return ",".join("?" * len(values))


_NEVER = 2**63 - 1  # the next due date of a store without schedules
_CHUNK = 500  # bound parameters per IN list, well below SQLite's limit


def _chunks(values: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start:start + _CHUNK]


def _kind_clause(context_kind: str | None) -> tuple[str, tuple[str, ...]]:
    return ("", ()) if context_kind is None else (" AND context_kind = ?", (context_kind,))


# The schedules of one context on every flag of a project (env, kind, key, project): one probe
# of schedules_by_target per flag; no index on the context, so that a PATCH's inserts stay
# local to the resource's part of the index.
_FLAG_SCHEDULES_JOIN = (
    " JOIN schedules s ON s.project = f.project AND s.env = ?"
    " AND s.resource_kind = 'flag' AND s.resource_key = f.key"
    " AND s.context_kind = ? AND s.context_key = ? WHERE f.project = ?"
)


class SqliteTx:
    """One transaction; the methods of :class:`~mock_server.storage.protocol.Tx` and
    :class:`~mock_server.storage.protocol.Listings`.

    ``cache``: the connection's :class:`ContextCache` in write transactions; otherwise a
    fresh one that lives as long as the transaction. Every write that is not the schedule
    batch drops it (:meth:`_changed`).
    """

    def __init__(self, conn: sqlite3.Connection, cache: ContextCache | None = None) -> None:
        self._c = conn
        self._cache = cache if cache is not None else ContextCache()

    def _changed(self) -> None:
        self._cache.clear()

    # segments ------------------------------------------------------------

    def get_segment(self, project: str, env: str, key: str) -> SegmentRecord | None:
        row = self._c.execute(
            "SELECT name, description, tags, version, creation_date, last_modified,"
            " unbounded, unbounded_context_kind FROM segments"
            " WHERE project = ? AND env = ? AND key = ?",
            (project, env, key),
        ).fetchone()
        if row is None:
            return None
        return SegmentRecord(
            project, env, key, row[0], row[1], json.loads(row[2]), row[3], row[4], row[5],
            bool(row[6]), row[7],
        )

    def insert_segment(self, r: SegmentRecord) -> None:
        self._changed()
        self._c.execute(
            "INSERT INTO segments VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (r.project, r.env, r.key, r.name, r.description, json.dumps(r.tags), r.version,
             r.creation_date, r.last_modified, int(r.unbounded), r.unbounded_context_kind),
        )

    def update_segment(self, r: SegmentRecord) -> None:
        self._c.execute(
            "UPDATE segments SET name = ?, description = ?, tags = ?, version = ?,"
            " last_modified = ? WHERE project = ? AND env = ? AND key = ?",
            (r.name, r.description, json.dumps(r.tags), r.version, r.last_modified,
             r.project, r.env, r.key),
        )

    def delete_segment(self, project: str, env: str, key: str) -> None:
        self._changed()
        self._c.execute(
            "DELETE FROM segments WHERE project = ? AND env = ? AND key = ?", (project, env, key)
        )
        self._delete_owned("segment", project, key, env)

    # flags ---------------------------------------------------------------

    def get_flag(self, project: str, key: str) -> FlagRecord | None:
        row = self._c.execute(
            "SELECT name, description, kind, variations, tags, temporary, version,"
            " creation_date, extras FROM flags WHERE project = ? AND key = ?",
            (project, key),
        ).fetchone()
        if row is None:
            return None
        return FlagRecord(
            project, key, row[0], row[1], row[2], json.loads(row[3]), json.loads(row[4]),
            bool(row[5]), row[6], row[7], json.loads(row[8]),
        )

    def insert_flag(self, r: FlagRecord) -> None:
        self._changed()
        self._c.execute(
            "INSERT INTO flags VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (r.project, r.key, r.name, r.description, r.kind, json.dumps(r.variations),
             json.dumps(r.tags), int(r.temporary), r.version, r.creation_date,
             json.dumps(r.extras)),
        )

    def update_flag(self, r: FlagRecord) -> None:
        self._c.execute(
            "UPDATE flags SET name = ?, description = ?, tags = ?, version = ?"
            " WHERE project = ? AND key = ?",
            (r.name, r.description, json.dumps(r.tags), r.version, r.project, r.key),
        )

    def delete_flag(self, project: str, key: str) -> None:
        self._changed()
        self._c.execute("DELETE FROM flags WHERE project = ? AND key = ?", (project, key))
        self._c.execute(
            "DELETE FROM flag_envs WHERE project = ? AND flag_key = ?", (project, key)
        )
        self._delete_owned("flag", project, key, None)

    def flag_envs(self, project: str, key: str) -> dict[str, FlagEnvRecord]:
        rows = self._c.execute(
            "SELECT env, version, last_modified, salt, sel, is_on FROM flag_envs"
            " WHERE project = ? AND flag_key = ?",
            (project, key),
        ).fetchall()
        return {r[0]: FlagEnvRecord(r[0], r[1], r[2], r[3], r[4], bool(r[5])) for r in rows}

    def put_flag_env(self, project: str, key: str, r: FlagEnvRecord) -> None:
        self._c.execute(
            "INSERT OR REPLACE INTO flag_envs VALUES (?,?,?,?,?,?,?,?)",
            (project, key, r.env, r.version, r.last_modified, r.salt, r.sel, int(r.on)),
        )

    def _delete_owned(self, owner: str, project: str, key: str, env: str | None) -> None:
        env_clause, env_args = ("", ()) if env is None else (" AND env = ?", (env,))
        self._c.execute(
            "DELETE FROM targets WHERE owner = ? AND project = ? AND owner_key = ?" + env_clause,
            (owner, project, key, *env_args),
        )
        self._c.execute(
            "DELETE FROM schedules WHERE resource_kind = ? AND project = ? AND resource_key = ?"
            + env_clause,
            (owner, project, key, *env_args),
        )

    # targets -------------------------------------------------------------

    def targets(self, res: Resource) -> list[TargetRow]:
        rows = self._c.execute(
            "SELECT slot, context_kind, context_key, variation FROM targets"
            " WHERE owner = ? AND project = ? AND env = ? AND owner_key = ? ORDER BY id",
            (res.kind, res.project, res.env, res.key),
        ).fetchall()
        return [TargetRow(*r) for r in rows]

    def add_target(self, res: Resource, row: TargetRow) -> bool:
        self._changed()
        cur = self._c.execute(
            "INSERT OR IGNORE INTO targets (owner, project, env, owner_key, slot, context_kind,"
            " context_key, variation) VALUES (?,?,?,?,?,?,?,?)",
            (res.kind, res.project, res.env, res.key, row.slot, row.context_kind,
             row.context_key, row.variation),
        )
        return cur.rowcount > 0

    def remove_targets(
        self, res: Resource, slots: Sequence[str], context_kind: str, context_key: str,
        variation: int | None = None,
    ) -> int:
        self._changed()
        var_clause, var_args = ("", ()) if variation is None else (" AND variation = ?", (variation,))
        cur = self._c.execute(
            "DELETE FROM targets WHERE owner = ? AND project = ? AND env = ? AND owner_key = ?"
            f" AND context_kind = ? AND context_key = ? AND slot IN ({_marks(slots)})" + var_clause,
            (res.kind, res.project, res.env, res.key, context_kind, context_key, *slots, *var_args),
        )
        return cur.rowcount

    def replace_targets(self, res: Resource, slots: Sequence[str], rows: Iterable[TargetRow]) -> None:
        self._changed()
        self._c.execute(
            "DELETE FROM targets WHERE owner = ? AND project = ? AND env = ? AND owner_key = ?"
            f" AND slot IN ({_marks(slots)})",
            (res.kind, res.project, res.env, res.key, *slots),
        )
        self._c.executemany(
            "INSERT OR IGNORE INTO targets (owner, project, env, owner_key, slot, context_kind,"
            " context_key, variation) VALUES (?,?,?,?,?,?,?,?)",
            [(res.kind, res.project, res.env, res.key, r.slot, r.context_kind, r.context_key,
              r.variation) for r in rows],
        )

    # schedules -----------------------------------------------------------

    def context_schedules(
        self, res: Resource, context_kind: str, context_keys: Sequence[str]
    ) -> list[Schedule]:
        self._fill(res, context_kind, context_keys)
        return self._cache.schedules(res, context_kind, context_keys)

    def context_targets(
        self, res: Resource, context_kind: str, context_keys: Sequence[str]
    ) -> list[TargetRow]:
        self._fill(res, context_kind, context_keys)
        return self._cache.targets(res, context_kind, context_keys)

    def _fill(self, res: Resource, context_kind: str, context_keys: Sequence[str]) -> None:
        """Read the uncached contexts' schedules and target rows into the cache."""
        keys = self._cache.missing(res, context_kind, context_keys)
        if not keys:
            return
        schedules, targets = [], []
        for chunk in _chunks(keys):
            schedules += self._c.execute(
                "SELECT context_key, id, target_type, variation_id, version, expiration_date"
                " FROM schedules WHERE project = ? AND env = ? AND resource_kind = ?"
                f" AND resource_key = ? AND context_kind = ? AND context_key IN ({_marks(chunk)})",
                (res.project, res.env, res.kind, res.key, context_kind, *chunk),
            ).fetchall()
            targets += self._c.execute(
                "SELECT context_key, slot, variation FROM targets WHERE owner = ? AND project = ?"
                f" AND env = ? AND owner_key = ? AND context_kind = ? AND context_key IN ({_marks(chunk)})",
                (res.kind, res.project, res.env, res.key, context_kind, *chunk),
            ).fetchall()
        self._cache.fill(res, context_kind, keys, ((r[0], r[1:]) for r in schedules), targets)

    def write_schedules(
        self, deleted: Sequence[str], updated: Sequence[Schedule], inserted: Sequence[Schedule]
    ) -> Mapping[str, str]:
        self._cache.apply(deleted, updated, inserted)
        if deleted:
            self._c.executemany("DELETE FROM schedules WHERE id = ?", [(i,) for i in deleted])
        items: dict[str, str] = {}
        if updated:
            rows = []
            for s in updated:
                item = items[s.id] = schedule_item_json(s)
                rows.append((s.variation_id, s.version, s.expiration_date, item, s.id))
            self._c.executemany(
                "UPDATE schedules SET variation_id = ?, version = ?, expiration_date = ?, item = ?"
                " WHERE id = ?",
                rows,
            )
        if inserted:
            values = [_schedule_values(s) for s in inserted]
            items.update((v[0], v[-1]) for v in values)
            self._c.executemany("INSERT " + _INSERT_SCHEDULE, values)
        return items

    def schedules_for(self, res: Resource, context_kind: str | None = None) -> list[Schedule]:
        kind_clause, kind_args = _kind_clause(context_kind)
        rows = self._c.execute(
            f"SELECT {_SCHEDULE_COLUMNS} FROM schedules WHERE project = ? AND env = ?"
            " AND resource_kind = ? AND resource_key = ?" + kind_clause,
            (res.project, res.env, res.kind, res.key, *kind_args),
        ).fetchall()
        return [_schedule(r) for r in rows]

    def flag_schedules_of(
        self, project: str, env: str, context_kind: str, context_key: str
    ) -> list[Schedule]:
        rows = self._c.execute(
            f"SELECT {_S_SCHEDULE_COLUMNS} FROM flags f" + _FLAG_SCHEDULES_JOIN,
            (env, context_kind, context_key, project),
        ).fetchall()
        return [_schedule(r) for r in rows]

    def schedule_listing(self, res: Resource, context_kind: str | None = None, *,
                         descending: bool = False) -> bytes:
        kind_clause, kind_args = _kind_clause(context_kind)
        order = _order(("context_kind", "context_key", "target_type", "variation_id"),
                       descending)
        return self._joined_items(
            "SELECT item FROM schedules"
            " WHERE project = ? AND env = ? AND resource_kind = ? AND resource_key = ?"
            + kind_clause + " ORDER BY " + order,
            (res.project, res.env, res.kind, res.key, *kind_args),
        )

    def context_flag_listing(
        self, project: str, env: str, context_kind: str, context_key: str, *,
        descending: bool = False,
    ) -> bytes:
        return self._joined_items(
            "SELECT s.item FROM flags f" + _FLAG_SCHEDULES_JOIN
            + " ORDER BY " + _order(("f.key", "s.target_type"), descending),
            (env, context_kind, context_key, project),
        )

    def _joined_items(self, ordered_items: str, args: Sequence[Any]) -> bytes:
        """The items an ordered query selects, as one JSON array. SQLite joins them in C
        (fetching the rows' columns into Python and encoding them again costs several times
        as much: docs/mock-server.md, Design figures); an ordered subquery is not flattened
        into an aggregate, so group_concat sees its rows in order."""
        (joined,) = self._c.execute(
            f"SELECT CAST(group_concat(item, ',') AS BLOB) FROM ({ordered_items})", args
        ).fetchone()
        return b"[]" if joined is None else b"[" + joined + b"]"

    def due_schedules(self, now_ms: int) -> list[Schedule]:
        cache = self._cache
        if cache.next_due is not None and now_ms < cache.next_due:
            return []
        rows = self._c.execute(
            f"SELECT {_SCHEDULE_COLUMNS} FROM schedules WHERE expiration_date <= ?"
            " ORDER BY expiration_date, id",
            (now_ms,),
        ).fetchall()
        if not rows:
            (earliest,) = self._c.execute("SELECT min(expiration_date) FROM schedules").fetchone()
            cache.next_due = _NEVER if earliest is None else earliest
        return [_schedule(r) for r in rows]

    def has_due(self, now_ms: int) -> bool:
        row = self._c.execute(
            "SELECT 1 FROM schedules WHERE expiration_date <= ? LIMIT 1", (now_ms,)
        ).fetchone()
        return row is not None

    def context_known(self, project: str, env: str, context_kind: str, context_key: str) -> bool:
        # Schedules exist only for individually targeted contexts, so the targets suffice.
        row = self._c.execute(
            "SELECT 1 FROM targets WHERE project = ? AND env = ? AND context_kind = ?"
            " AND context_key = ? LIMIT 1",
            (project, env, context_kind, context_key),
        ).fetchone()
        return row is not None


def _add_items(conn: sqlite3.Connection) -> None:
    """Bring a store file written before schedules kept their items up to date: add the
    column and render every row's item, in one transaction (idempotent)."""
    columns = {row[1] for row in conn.execute("PRAGMA table_info(schedules)")}
    if "item" in columns:
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        columns = {row[1] for row in conn.execute("PRAGMA table_info(schedules)")}
        if "item" not in columns:  # another process may have won the race
            conn.execute("ALTER TABLE schedules ADD COLUMN item TEXT NOT NULL DEFAULT ''")
            rows = conn.execute(f"SELECT {_SCHEDULE_COLUMNS} FROM schedules").fetchall()
            conn.executemany(
                "UPDATE schedules SET item = ? WHERE id = ?",
                [(schedule_item_json(_schedule(r)), r[0]) for r in rows],
            )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


class SqliteStore:
    """A :class:`~mock_server.storage.protocol.Store` over one SQLite database."""

    def __init__(self, path: str = ":memory:", *, busy_timeout_ms: int = 5000) -> None:
        self.path = path
        self._timeout_s = busy_timeout_ms / 1000
        self._memory = path == ":memory:" or path == ""
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._all_lock = threading.Lock()
        self._shared_lock = threading.RLock()  # only for :memory:
        self._shared: sqlite3.Connection | None = None
        self._caches: dict[int, ContextCache] = {}  # id(connection) -> its cache
        self._checkpointer: WalCheckpointer | None = None
        try:
            with self._shared_lock if self._memory else nullcontext():
                conn = self._conn()
                conn.executescript(SCHEMA)
                _add_items(conn)
        except sqlite3.Error as exc:
            self.close()
            raise StoreOpenError(f"cannot open the SQLite database {path!r}: {exc}") from None
        if not self._memory:
            self._checkpointer = WalCheckpointer(path)

    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            ":memory:" if self._memory else self.path,
            timeout=self._timeout_s,
            isolation_level=None,  # transactions are begun explicitly
            check_same_thread=not self._memory,
        )
        conn.execute(f"PRAGMA busy_timeout = {int(self._timeout_s * 1000)}")
        if not self._memory:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute(f"PRAGMA wal_autocheckpoint = {BACKSTOP_PAGES}")  # checkpointer.py
        conn.execute("PRAGMA cache_size = -65536")  # 64 MiB of pages per connection
        with self._all_lock:
            self._all.append(conn)
            self._caches[id(conn)] = ContextCache()
        return conn

    def _conn(self) -> sqlite3.Connection:
        if self._memory:
            if self._shared is None:
                self._shared = self._open()
            return self._shared
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._open()
        return conn

    def write(self, work: Callable[[SqliteTx], T]) -> T:
        with self._exclusive():
            return self._transaction("BEGIN IMMEDIATE", work, write=True)

    def read(self, work: Callable[[SqliteTx], T]) -> T:
        with self._exclusive():
            return self._transaction("BEGIN", work, write=False)

    @contextmanager
    def _exclusive(self) -> Iterator[None]:
        if not self._memory:
            yield
            return
        if not self._shared_lock.acquire(timeout=self._timeout_s):
            raise conflict("the store is busy; the write could not be serialised in time")
        try:
            yield
        finally:
            self._shared_lock.release()

    def _transaction(self, begin: str, work: Callable[[SqliteTx], T], *, write: bool) -> T:
        conn = self._conn()
        cache = self._caches[id(conn)] if write else None
        try:
            conn.execute(begin)
            if cache is not None:  # holding the write lock: nobody commits until we end
                cache.sync(conn.execute("PRAGMA data_version").fetchone()[0])
            try:
                result = work(SqliteTx(conn, cache))
            except BaseException:
                if cache is not None:
                    cache.clear()
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            if write and self._checkpointer is not None:
                self._checkpointer.written()
            return result
        except sqlite3.OperationalError as exc:
            if cache is not None:
                cache.clear()
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            if _is_busy(exc):
                raise conflict(
                    "the store is busy; the write could not be serialised in time"
                ) from exc
            raise

    def close(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.close()
            self._checkpointer = None
        with self._all_lock:
            conns, self._all = self._all, []
            self._caches.clear()
        for conn in conns:
            try:
                conn.close()
            except sqlite3.Error:
                pass
        self._shared = None
        self._local = threading.local()
