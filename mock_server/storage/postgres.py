"""The PostgreSQL :class:`~mock_server.storage.protocol.Store`: several mock processes (replicas)
over one database.

Isolation: a write transaction runs at READ COMMITTED and locks (``FOR UPDATE``) every segment
or flag row it reads; the domain reads a resource before it changes anything of it (its
targets, its schedules), so two writers of one resource queue on its row and the second sees
everything the first committed. Expiry takes an advisory lock first (one replica at a time),
then the rows of the resources it will change, and reads the due schedules again under them.
A deadlock or serialisation failure (two writers locking flags in opposite orders; two POSTs
of one key) runs the unit of work again, at most :data:`ATTEMPTS` times, then answers 409.
A read runs at REPEATABLE READ, READ ONLY: one snapshot, never a serialisation failure.

A lost connection answers 503 ``service_unavailable``; the transaction it held is rolled back by
the server, so nothing is half-written. The next request connects again (a connection that
broke while idle is replaced at once and the request runs on the new one).

Durability: ``synchronous_commit = off`` for the mock's sessions, the trade SQLite's
``synchronous=NORMAL`` makes: an answered write survives the mock process (killed or not); a
crash of PostgreSQL itself may lose the last fraction of a second of commits.

Planning: ``random_page_cost = 1.1`` for the mock's sessions (its working set is cached). With
the default 4, once autovacuum's statistics show one resource holding most schedules, its
listing was planned as a scan plus a sort of bytea keys instead of the unique index's order,
twice as slow (docs/mock-server.md, Design figures).
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

import psycopg
from psycopg import errors as pg_errors
from psycopg.adapt import Dumper
from psycopg.conninfo import make_conninfo
from psycopg.pq import Format

from ..errors import conflict, unavailable
from ..representations import schedule_item_json
from .factory import describe
from .listing_cache import ListingCache, ListingKey
from .postgres_schema import migrate
from .protocol import StoreOpenError
from .records import FlagEnvRecord, FlagRecord, Resource, Schedule, SegmentRecord, TargetRow

__all__ = ["ATTEMPTS", "PostgresStore", "PostgresTx"]

T = TypeVar("T")
Conn = psycopg.Connection[Any]

ATTEMPTS = 5  # runs of one unit of work before a serialisation failure becomes 409
CONNECT_TIMEOUT_S = 5
_EXPIRY_LOCK = 0x6D6F636B5F657870  # pg_advisory_xact_lock key: "mock_exp"
_RETRY = (pg_errors.SerializationFailure, pg_errors.DeadlockDetected, pg_errors.UniqueViolation)
_BEGIN_WRITE = "BEGIN ISOLATION LEVEL READ COMMITTED"
_BEGIN_READ = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"


class _StrAsBytea(Dumper):
    """Every string parameter as ``bytea`` (postgres_schema.py: why every column is one). A
    list of keys goes as ``%b``: psycopg would send it as a text array literal otherwise, in
    which a backslash is an escape of bytea's text input."""

    format = Format.BINARY
    oid = psycopg.postgres.types["bytea"].oid

    def dump(self, obj: str) -> bytes:
        return obj.encode()


def _s(value: bytes) -> str:
    return value.decode()


def _opt(value: bytes | None) -> str | None:
    return None if value is None else value.decode()


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


_SCHEDULE_COLUMNS = (
    "id, project, env, resource_kind, resource_key, context_kind, context_key,"
    " target_type, variation_id, version, expiration_date"
)
_S_SCHEDULE_COLUMNS = ", ".join("s." + c.strip() for c in _SCHEDULE_COLUMNS.split(","))
_RESOURCE = "project = %s AND env = %s AND resource_kind = %s AND resource_key = %s"
_OWNER = "owner = %s AND project = %s AND env = %s AND owner_key = %s"
# the context's schedules on every flag of a project (env, kind, key, project)
_FLAG_SCHEDULES_JOIN = (
    " FROM flags f JOIN schedules s ON s.project = f.project AND s.env = %s"
    " AND s.resource_kind = 'flag' AND s.resource_key = f.key"
    " AND s.context_kind = %s AND s.context_key = %s WHERE f.project = %s"
)


def _schedule(row: Sequence[Any]) -> Schedule:
    return Schedule(_s(row[0]), Resource(_s(row[3]), _s(row[1]), _s(row[2]), _s(row[4])),
                    _s(row[5]), _s(row[6]), _s(row[7]), _s(row[8]), row[9], row[10])


def _owner(res: Resource) -> tuple[str, str, str, str]:
    return (res.kind, res.project, res.env, res.key)


def _scope(res: Resource) -> tuple[str, str, str, str]:
    return (res.project, res.env, res.kind, res.key)


def _order(columns: Sequence[str], descending: bool) -> str:
    return ", ".join(f"{c} DESC" if descending else c for c in columns)


class PostgresTx:
    """One transaction; the methods of :class:`~mock_server.storage.protocol.Tx` and
    :class:`~mock_server.storage.protocol.Listings`. ``write``: lock what it reads."""

    def __init__(self, cur: psycopg.Cursor[Any], write: bool, listings: ListingCache) -> None:
        self._cur = cur
        self._write = write
        self._listings = listings
        self._lock = " FOR UPDATE" if write else ""
        self.begun = False

    def _exec(self, sql: str, args: Sequence[Any]) -> psycopg.Cursor[Any]:
        """Run a statement; the first goes in one round trip with the transaction's BEGIN."""
        if self.begun:
            return self._cur.execute(sql, args)
        with self._cur.connection.pipeline():
            self._cur.execute(_BEGIN_WRITE if self._write else _BEGIN_READ)
            self.begun = True
            self._cur.execute(sql, args)
        return self._cur

    def _all(self, sql: str, args: Sequence[Any]) -> list[Any]:
        return self._exec(sql, args).fetchall()

    def _one(self, sql: str, args: Sequence[Any]) -> Any:
        return self._exec(sql, args).fetchone()

    # segments ------------------------------------------------------------

    def get_segment(self, project: str, env: str, key: str) -> SegmentRecord | None:
        row = self._one(
            "SELECT name, description, tags, version, creation_date, last_modified, unbounded,"
            " unbounded_context_kind FROM segments WHERE project = %s AND env = %s AND key = %s"
            + self._lock, (project, env, key))
        if row is None:
            return None
        return SegmentRecord(project, env, key, _s(row[0]), _opt(row[1]), json.loads(row[2]),
                             row[3], row[4], row[5], row[6], _opt(row[7]))

    def insert_segment(self, r: SegmentRecord) -> None:
        self._exec(
            "INSERT INTO segments VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (r.project, r.env, r.key, r.name, r.description, json.dumps(r.tags), r.version,
             r.creation_date, r.last_modified, r.unbounded, r.unbounded_context_kind))

    def update_segment(self, r: SegmentRecord) -> None:
        self._exec(
            "UPDATE segments SET name = %s, description = %s, tags = %s, version = %s,"
            " last_modified = %s WHERE project = %s AND env = %s AND key = %s",
            (r.name, r.description, json.dumps(r.tags), r.version, r.last_modified, r.project,
             r.env, r.key))

    def delete_segment(self, project: str, env: str, key: str) -> None:
        self._exec("DELETE FROM segments WHERE project = %s AND env = %s AND key = %s",
                   (project, env, key))
        self._delete_owned(Resource("segment", project, env, key))

    # flags ---------------------------------------------------------------

    def get_flag(self, project: str, key: str) -> FlagRecord | None:
        row = self._one(
            "SELECT name, description, kind, variations, tags, temporary, version,"
            " creation_date, extras FROM flags WHERE project = %s AND key = %s" + self._lock,
            (project, key))
        if row is None:
            return None
        return FlagRecord(project, key, _s(row[0]), _s(row[1]), _s(row[2]), json.loads(row[3]),
                          json.loads(row[4]), row[5], row[6], row[7], json.loads(row[8]))

    def insert_flag(self, r: FlagRecord) -> None:
        self._exec(
            "INSERT INTO flags VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (r.project, r.key, r.name, r.description, r.kind, json.dumps(r.variations),
             json.dumps(r.tags), r.temporary, r.version, r.creation_date, json.dumps(r.extras)))

    def update_flag(self, r: FlagRecord) -> None:
        self._exec(
            "UPDATE flags SET name = %s, description = %s, tags = %s, version = %s"
            " WHERE project = %s AND key = %s",
            (r.name, r.description, json.dumps(r.tags), r.version, r.project, r.key))

    def delete_flag(self, project: str, key: str) -> None:
        self._exec("DELETE FROM flags WHERE project = %s AND key = %s", (project, key))
        self._exec("DELETE FROM flag_envs WHERE project = %s AND flag_key = %s",
                   (project, key))
        self._delete_owned(Resource("flag", project, "", key), every_env=True)

    def flag_envs(self, project: str, key: str) -> dict[str, FlagEnvRecord]:
        rows = self._all(
            "SELECT env, version, last_modified, salt, sel, is_on FROM flag_envs"
            " WHERE project = %s AND flag_key = %s", (project, key))
        return {_s(r[0]): FlagEnvRecord(_s(r[0]), r[1], r[2], _s(r[3]), _s(r[4]), r[5])
                for r in rows}

    def put_flag_env(self, project: str, key: str, r: FlagEnvRecord) -> None:
        self._exec(
            "INSERT INTO flag_envs VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (project, flag_key, env) DO UPDATE SET version = excluded.version,"
            " last_modified = excluded.last_modified, salt = excluded.salt, sel = excluded.sel,"
            " is_on = excluded.is_on",
            (project, key, r.env, r.version, r.last_modified, r.salt, r.sel, r.on))

    def _delete_owned(self, res: Resource, every_env: bool = False) -> None:
        env_clause, env_args = ("", ()) if every_env else (" AND env = %s", (res.env,))
        self._exec(
            "DELETE FROM targets WHERE owner = %s AND project = %s AND owner_key = %s"
            + env_clause, (res.kind, res.project, res.key, *env_args))
        self._exec(
            "DELETE FROM schedules WHERE resource_kind = %s AND project = %s"
            " AND resource_key = %s" + env_clause, (res.kind, res.project, res.key, *env_args))

    # targets -------------------------------------------------------------

    def targets(self, res: Resource) -> list[TargetRow]:
        rows = self._all("SELECT slot, context_kind, context_key, variation FROM targets WHERE "
                         + _OWNER + " ORDER BY id", _owner(res))
        return [TargetRow(_s(r[0]), _s(r[1]), _s(r[2]), r[3]) for r in rows]

    def context_targets(self, res: Resource, context_kind: str,
                        context_keys: Sequence[str]) -> list[TargetRow]:
        # One probe of an index per key (a LATERAL subquery over unnest, kept apart by OFFSET
        # 0), whatever the planner knows: as "context_key = ANY($n)", or as a plain join, it
        # scanned all of the resource's rows and filtered them before the first ANALYZE
        # (docs/mock-server.md, Design figures). context_schedules likewise.
        if not context_keys:
            return []
        rows = self._all(
            "SELECT t.slot, k.key, t.variation FROM unnest(%b::bytea[]) AS k(key), LATERAL"
            " (SELECT slot, variation FROM targets WHERE " + _OWNER
            + " AND context_kind = %s AND context_key = k.key OFFSET 0) AS t",
            (list(dict.fromkeys(context_keys)), *_owner(res), context_kind))
        return [TargetRow(_s(r[0]), context_kind, _s(r[1]), r[2]) for r in rows]

    def add_target(self, res: Resource, row: TargetRow) -> bool:
        self._exec(
            "INSERT INTO targets (owner, project, env, owner_key, slot, context_kind,"
            " context_key, variation) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT DO NOTHING", (*_owner(res), *row))
        return self._cur.rowcount > 0

    def remove_targets(self, res: Resource, slots: Sequence[str], context_kind: str,
                       context_key: str, variation: int | None = None) -> int:
        var_clause, var_args = ("", ()) if variation is None else (" AND variation = %s",
                                                                   (variation,))
        self._exec(
            "DELETE FROM targets WHERE " + _OWNER
            + " AND context_kind = %s AND context_key = %s AND slot = ANY(%b)" + var_clause,
            (*_owner(res), context_kind, context_key, list(slots), *var_args))
        return self._cur.rowcount

    def replace_targets(self, res: Resource, slots: Sequence[str],
                        rows: Iterable[TargetRow]) -> None:
        self._exec("DELETE FROM targets WHERE " + _OWNER + " AND slot = ANY(%b)",
                   (*_owner(res), list(slots)))
        rows = list(rows)
        if rows:  # in the given order: the identity column keeps it
            self._exec(
                "INSERT INTO targets (owner, project, env, owner_key, slot, context_kind,"
                " context_key, variation) SELECT %s, %s, %s, %s, r.slot, r.kind, r.key,"
                " r.variation FROM unnest(%b::bytea[], %b::bytea[], %b::bytea[], %b::integer[])"
                " WITH ORDINALITY AS r(slot, kind, key, variation, n) ORDER BY r.n"
                " ON CONFLICT DO NOTHING",
                (*_owner(res), *(list(column) for column in zip(*rows, strict=True))))

    # schedules -----------------------------------------------------------

    def schedules_for(self, res: Resource, context_kind: str | None = None) -> list[Schedule]:
        kind_clause, kind_args = ("", ()) if context_kind is None else (
            " AND context_kind = %s", (context_kind,))
        rows = self._all(f"SELECT {_SCHEDULE_COLUMNS} FROM schedules WHERE " + _RESOURCE
                         + kind_clause, (*_scope(res), *kind_args))
        return [_schedule(r) for r in rows]

    def context_schedules(self, res: Resource, context_kind: str,
                          context_keys: Sequence[str]) -> list[Schedule]:
        if not context_keys:
            return []
        rows = self._all(
            f"SELECT s.* FROM unnest(%b::bytea[]) AS k(key), LATERAL (SELECT {_SCHEDULE_COLUMNS}"
            " FROM schedules WHERE " + _RESOURCE
            + " AND context_kind = %s AND context_key = k.key OFFSET 0) AS s",
            (list(dict.fromkeys(context_keys)), *_scope(res), context_kind))
        return [_schedule(r) for r in rows]

    def flag_schedules_of(self, project: str, env: str, context_kind: str,
                          context_key: str) -> list[Schedule]:
        rows = self._all(f"SELECT {_S_SCHEDULE_COLUMNS}" + _FLAG_SCHEDULES_JOIN,
                         (env, context_kind, context_key, project))
        return [_schedule(r) for r in rows]

    def write_schedules(self, deleted: Sequence[str], updated: Sequence[Schedule],
                        inserted: Sequence[Schedule]) -> Mapping[str, str]:
        """One statement per kind of change, the rows as arrays (``unnest``): a statement
        costs a round trip and psycopg's own work, a row in it next to nothing."""
        if deleted:
            self._exec("DELETE FROM schedules WHERE id = ANY(%b)", (list(deleted),))
        items: dict[str, str] = {}
        if updated:
            for s in updated:
                items[s.id] = schedule_item_json(s)
            self._exec(
                "UPDATE schedules AS s SET variation_id = u.variation_id, version = u.version,"
                " expiration_date = u.expiration_date, item = u.item FROM unnest(%b::bytea[],"
                " %b::bigint[], %b::bigint[], %b::bytea[], %b::bytea[])"
                " AS u(variation_id, version, expiration_date, item, id) WHERE s.id = u.id",
                ([s.variation_id for s in updated], [s.version for s in updated],
                 [s.expiration_date for s in updated], [items[s.id] for s in updated],
                 [s.id for s in updated]))
        if inserted:
            for s in inserted:
                items[s.id] = schedule_item_json(s)
            columns = list(zip(*((s.id, *_scope(s.resource), s.context_kind, s.context_key,
                                  s.target_type, s.variation_id, s.version, s.expiration_date,
                                  items[s.id]) for s in inserted), strict=True))
            self._exec(
                f"INSERT INTO schedules ({_SCHEDULE_COLUMNS}, item) SELECT * FROM unnest("
                + "%b::bytea[], " * 9 + "%b::bigint[], %b::bigint[], %b::bytea[])",
                [list(c) for c in columns])
        return items

    def due_schedules(self, now_ms: int) -> list[Schedule]:
        if not self._write:
            return self._due(now_ms)
        if not self.has_due(now_ms):
            return []
        self._exec("SELECT pg_advisory_xact_lock(%s)", (_EXPIRY_LOCK,))
        locked: set[Resource] = set()
        while True:  # until every due schedule's resource is locked (each round locks more)
            due = self._due(now_ms)
            wanted = sorted({s.resource._replace(env="") if s.resource.kind == "flag"
                             else s.resource for s in due} - locked)
            if not wanted:
                return due
            for res in wanted:
                if res.kind == "segment":
                    self.get_segment(res.project, res.env, res.key)
                else:
                    self.get_flag(res.project, res.key)
            locked.update(wanted)

    def _due(self, now_ms: int) -> list[Schedule]:
        rows = self._all(f"SELECT {_SCHEDULE_COLUMNS} FROM schedules"
                         " WHERE expiration_date <= %s ORDER BY expiration_date, id", (now_ms,))
        return [_schedule(r) for r in rows]

    def has_due(self, now_ms: int) -> bool:
        # min() reads one end of schedules_by_date; "WHERE date <= $1 LIMIT 1", once prepared
        # with a generic plan, scanned the whole table (the plan cannot know $1 is early)
        (earliest,) = self._one("SELECT min(expiration_date) FROM schedules", ())
        return earliest is not None and earliest <= now_ms

    def context_known(self, project: str, env: str, context_kind: str, context_key: str) -> bool:
        return self._one(
            "SELECT 1 FROM targets WHERE project = %s AND env = %s AND context_kind = %s"
            " AND context_key = %s LIMIT 1", (project, env, context_kind, context_key)) is not None

    # listings (the fast path) ---------------------------------------------

    def schedule_listing(self, res: Resource, context_kind: str | None = None, *,
                         descending: bool = False) -> bytes:
        kind_clause, kind_args = ("", ()) if context_kind is None else (
            " AND context_kind = %s", (context_kind,))
        # the unique index's order (no two rows share kind, key and type: variation_id never
        # decides), so no sort
        order = _order(("context_kind", "context_key", "target_type"), descending)
        key: ListingKey = (res, context_kind, descending)
        stamp = None if self._write else self._stamp(res)
        if stamp is not None and (cached := self._listings.get(key, stamp)) is not None:
            return cached
        listing = self._joined("SELECT item FROM schedules WHERE " + _RESOURCE + kind_clause
                               + " ORDER BY " + order, (*_scope(res), *kind_args))
        if stamp is not None:
            self._listings.put(key, stamp, listing)
        return listing

    def _stamp(self, res: Resource) -> int | None:
        """The resource's stamp (listing_cache.py); None: it never had a schedule."""
        row = self._one("SELECT stamp FROM schedule_stamps WHERE " + _RESOURCE, _scope(res))
        return None if row is None else int(row[0])

    def context_flag_listing(self, project: str, env: str, context_kind: str,
                             context_key: str, *, descending: bool = False) -> bytes:
        return self._joined("SELECT s.item" + _FLAG_SCHEDULES_JOIN + " ORDER BY "
                            + _order(("f.key", "s.target_type"), descending),
                            (env, context_kind, context_key, project))

    def _joined(self, ordered_items: str, args: Sequence[Any]) -> bytes:
        """The items an ordered query selects, as one JSON array, joined here: PostgreSQL 15
        sorts the input of ``string_agg(... ORDER BY ...)`` even when an index gives that
        order (on disk past work_mem; docs/mock-server.md, Design figures)."""
        return b"[" + b",".join([row[0] for row in self._all(ordered_items, args)]) + b"]"


class PostgresStore:
    """A :class:`~mock_server.storage.protocol.Store` over one PostgreSQL database (a libpq
    URL); one connection per thread. Opening creates or migrates the schema."""

    def __init__(self, url: str, *, lock_timeout_ms: int = 5000) -> None:
        self.url = url
        self._lock_timeout_ms = lock_timeout_ms
        self._local = threading.local()
        self._listings = ListingCache()
        self._all: list[Conn] = []
        self._all_lock = threading.Lock()
        try:
            migrate(self._conn())
        except psycopg.Error as exc:
            self.close()
            raise StoreOpenError(f"cannot use the PostgreSQL database {describe(url)}:"
                                 f" {_one_line(exc)}") from None
        except StoreOpenError:
            self.close()
            raise

    def _connect(self) -> Conn:
        conninfo = self.url if "connect_timeout" in self.url else make_conninfo(
            self.url, connect_timeout=CONNECT_TIMEOUT_S)
        conn = psycopg.connect(conninfo, autocommit=True, application_name="mock_server")
        conn.adapters.register_dumper(str, _StrAsBytea)
        conn.execute("SET synchronous_commit = off; SET random_page_cost = 1.1;"
                     f" SET lock_timeout = {self._lock_timeout_ms}")
        with self._all_lock:
            self._all.append(conn)
        return conn

    def _conn(self) -> Conn:
        conn: Conn | None = getattr(self._local, "conn", None)
        if conn is None or conn.closed or conn.broken:
            conn = self._local.conn = self._connect()
        return conn

    def write(self, work: Callable[[PostgresTx], T]) -> T:
        return self._run(work, write=True)

    def read(self, work: Callable[[PostgresTx], T]) -> T:
        return self._run(work, write=False)

    def _run(self, work: Callable[[PostgresTx], T], *, write: bool) -> T:
        attempt = 0
        while True:
            attempt += 1
            fresh = getattr(self._local, "conn", None) is None
            try:
                conn = self._conn()
            except psycopg.Error as exc:
                raise unavailable(f"the database is unavailable: {_one_line(exc)}") from None
            committing = False
            try:
                with conn.cursor(binary=True) as cur:
                    tx = PostgresTx(cur, write, self._listings)
                    result = work(tx)
                    committing = True
                    if tx.begun:
                        cur.execute("COMMIT")
                return result
            except _RETRY:
                self._rollback(conn)
                if attempt == ATTEMPTS:
                    raise conflict(f"the write could not be serialised in {ATTEMPTS} attempts"
                                   " (concurrent writers); try again") from None
                time.sleep(random.uniform(0, 0.002 * attempt))  # let the other writer finish
            except pg_errors.LockNotAvailable:
                self._rollback(conn)
                raise conflict("the store is busy; the write could not get its locks in"
                               f" {self._lock_timeout_ms} ms") from None
            except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
                if not (conn.broken or conn.closed):
                    self._rollback(conn)
                    raise
                self._local.conn = None  # the server rolled back whatever was open
                if fresh or committing or attempt == ATTEMPTS:
                    raise unavailable(
                        f"the database is unavailable: {_one_line(exc)}") from None
                # a connection that broke while idle (a database restart): once more, anew
            except BaseException:
                self._rollback(conn)
                raise

    @staticmethod
    def _rollback(conn: Conn) -> None:
        """End a failed transaction; a connection that breaks meanwhile is replaced later."""
        if conn.closed or conn.broken:
            return
        try:
            conn.execute("ROLLBACK")
        except (psycopg.OperationalError, psycopg.InterfaceError):
            pass

    def close(self) -> None:
        with self._all_lock:
            conns, self._all = self._all, []
        for conn in conns:
            conn.close()
        self._local = threading.local()
