"""``open_store(url)``: the store a ``--db`` value names.

``:memory:`` (or nothing) and a plain path are SQLite, as before; ``sqlite:///abs/path`` is
the SQLite file at the URL's path (``/abs/path``); ``postgresql://…`` (or ``postgres://``)
is a libpq URL. Any other ``scheme://`` is refused, so that a typo never becomes a file.
"""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

from .protocol import Store, StoreOpenError

__all__ = ["describe", "open_store"]

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
POSTGRES_SCHEMES = ("postgresql", "postgres")


def open_store(url: str, *, busy_timeout_ms: int = 5000) -> Store:
    """Open (and create or migrate) the store; :class:`StoreOpenError` with one line if not."""
    match = _SCHEME.match(url)
    scheme = match.group(1).lower() if match else None
    if scheme is None:
        from .sqlite import SqliteStore

        return SqliteStore(url, busy_timeout_ms=busy_timeout_ms)
    if scheme == "sqlite":
        from .sqlite import SqliteStore

        path = unquote(urlsplit(url).path)
        if not path:
            raise StoreOpenError(f"{url!r} names no file: use sqlite:///absolute/path")
        return SqliteStore(path, busy_timeout_ms=busy_timeout_ms)
    if scheme in POSTGRES_SCHEMES:
        from .postgres import PostgresStore

        return PostgresStore(url, lock_timeout_ms=busy_timeout_ms)
    raise StoreOpenError(
        f"unknown database URL scheme {scheme!r} in {describe(url)!r}: use a file path,"
        " :memory:, sqlite:///path or postgresql://user:password@host:port/database")


def describe(url: str) -> str:
    """The URL without its password, for messages and logs."""
    parts = urlsplit(url) if _SCHEME.match(url) else None
    if parts is None or parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()
