"""The PostgreSQL store's tables, and the migrations that bring a database up to them.

``mock_server_schema`` holds the version a database is at. On start every migration above it
runs, in order, in one transaction under an advisory lock (so that replicas starting together
migrate once); a database at a version newer than this code refuses to open.

Every string column is ``bytea``: PostgreSQL's ``text`` cannot hold NUL, which keys may (as
in SQLite), and ``bytea`` compares bytewise, which is SQLite's BINARY order of the same keys.
"""

from __future__ import annotations

from typing import Any

import psycopg

from .protocol import StoreOpenError

__all__ = ["LATEST", "MIGRATIONS", "migrate"]

_V1 = """
CREATE TABLE segments (
    project bytea NOT NULL, env bytea NOT NULL, key bytea NOT NULL,
    name bytea NOT NULL, description bytea, tags bytea NOT NULL,
    version bigint NOT NULL, creation_date bigint NOT NULL, last_modified bigint NOT NULL,
    unbounded boolean NOT NULL, unbounded_context_kind bytea,
    PRIMARY KEY (project, env, key)
);
CREATE TABLE flags (
    project bytea NOT NULL, key bytea NOT NULL,
    name bytea NOT NULL, description bytea NOT NULL, kind bytea NOT NULL,
    variations bytea NOT NULL, tags bytea NOT NULL, temporary boolean NOT NULL,
    version bigint NOT NULL, creation_date bigint NOT NULL, extras bytea NOT NULL,
    PRIMARY KEY (project, key)
);
CREATE TABLE flag_envs (
    project bytea NOT NULL, flag_key bytea NOT NULL, env bytea NOT NULL,
    version bigint NOT NULL, last_modified bigint NOT NULL,
    salt bytea NOT NULL, sel bytea NOT NULL, is_on boolean NOT NULL,
    PRIMARY KEY (project, flag_key, env)
);
CREATE TABLE targets (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,  -- insertion order: the lists' order
    owner bytea NOT NULL, project bytea NOT NULL, env bytea NOT NULL, owner_key bytea NOT NULL,
    slot bytea NOT NULL, context_kind bytea NOT NULL, context_key bytea NOT NULL,
    variation integer NOT NULL,
    UNIQUE (owner, project, env, owner_key, context_kind, context_key, slot, variation)
);
-- context_known; led by the key, so that no lookup of a resource's targets that does not name
-- the key can be planned through it (without statistics the planner did, and filtered)
CREATE INDEX targets_by_context ON targets (context_key, context_kind, project, env);
CREATE TABLE schedules (
    id bytea PRIMARY KEY,
    project bytea NOT NULL, env bytea NOT NULL,
    resource_kind bytea NOT NULL, resource_key bytea NOT NULL,
    context_kind bytea NOT NULL, context_key bytea NOT NULL,
    target_type bytea NOT NULL, variation_id bytea NOT NULL,
    version bigint NOT NULL, expiration_date bigint NOT NULL,
    item bytea NOT NULL,  -- the ExpiringTarget item as JSON, written with the row: listings
    UNIQUE (project, env, resource_kind, resource_key, context_kind, context_key, target_type)
);
CREATE INDEX schedules_by_date ON schedules (expiration_date);
"""

# Every statement that changes a resource's schedules gives the resource a new stamp, in its
# own transaction (listing_cache.py: a listing read under a stamp stays right while it lasts).
# Stamps come from a sequence: never reused, not even after a resource is deleted and made
# again. A trigger with transition tables serves one event, hence three. Schedules written
# before version 2 have no stamp: listed without the cache until their resource next changes.
_V2 = """
CREATE SEQUENCE schedule_stamp;
CREATE TABLE schedule_stamps (
    project bytea NOT NULL, env bytea NOT NULL,
    resource_kind bytea NOT NULL, resource_key bytea NOT NULL,
    stamp bigint NOT NULL,
    PRIMARY KEY (project, env, resource_kind, resource_key)
);
CREATE FUNCTION stamp_changed_schedules() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO schedule_stamps
    SELECT r.*, nextval('schedule_stamp') FROM (
        SELECT DISTINCT project, env, resource_kind, resource_key FROM changed ORDER BY 1, 2, 3, 4
    ) AS r
    ON CONFLICT (project, env, resource_kind, resource_key) DO UPDATE SET stamp = excluded.stamp;
    RETURN NULL;
END
$$;
CREATE TRIGGER schedules_inserted AFTER INSERT ON schedules REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION stamp_changed_schedules();
CREATE TRIGGER schedules_updated AFTER UPDATE ON schedules REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION stamp_changed_schedules();
CREATE TRIGGER schedules_deleted AFTER DELETE ON schedules REFERENCING OLD TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION stamp_changed_schedules();
"""

#: (version, DDL), ascending from 1; a database at version n gets every step above n
MIGRATIONS: list[tuple[int, str]] = [(1, _V1), (2, _V2)]
LATEST = MIGRATIONS[-1][0]
_MIGRATION_LOCK = 0x6D6F636B5F736368  # pg_advisory_xact_lock key: "mock_sch"


def migrate(conn: psycopg.Connection[Any], migrations: list[tuple[int, str]] = MIGRATIONS) -> int:
    """Bring the database to the newest version; returns the version it was at (0: empty)."""
    newest = migrations[-1][0]
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
        conn.execute("CREATE TABLE IF NOT EXISTS mock_server_schema (version integer NOT NULL)")
        row = conn.execute("SELECT max(version) FROM mock_server_schema").fetchone()
        found = int(row[0]) if row and row[0] is not None else 0
        if found > newest:
            raise StoreOpenError(
                f"the database holds mock server schema version {found}, newer than this mock"
                f" server's {newest}: run a newer mock server, or use another database")
        for version, ddl in migrations:
            if version > found:
                conn.execute(ddl)
        if found < newest:
            conn.execute("DELETE FROM mock_server_schema")
            conn.execute("INSERT INTO mock_server_schema VALUES (%s)", (newest,))
    return found
