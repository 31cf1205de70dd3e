"""What one PostgreSQL mock process remembers of the listings it has read.

A listing is the resource's schedule items, joined; for 10,000 schedules that is 2.4 MB, and
moving it from the server costs more than the query does (docs/mock-server.md, Design
figures). So each listing is kept under the stamp its resource had when it was read:

- every statement that changes a resource's schedules gives the resource a fresh stamp in the
  same transaction (a trigger, postgres_schema.py), from a sequence, so a stamp is never
  given twice;
- a read transaction (one snapshot) that shows stamp S shows the schedules written with S,
  so the listing read under S is right for every snapshot that shows S, on any replica.

:class:`~mock_server.storage.postgres.PostgresTx` reads the stamp, then the listing only when
it has none under that stamp, in read transactions only (a write transaction's statements
each see the latest commits, so a stamp and a listing read apart may disagree). Bounded by
bytes; the oldest entry goes first.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from .records import Resource

__all__ = ["ListingCache", "ListingKey"]

ListingKey = tuple[Resource, str | None, bool]  # resource, context kind, descending
DEFAULT_MAX_BYTES = 64 << 20


class ListingCache:
    """Listings by (resource, context kind, order), each with its stamp; thread-safe."""

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[ListingKey, tuple[int, bytes]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: ListingKey, stamp: int) -> bytes | None:
        """The listing read under ``stamp``, if it is still here."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry[0] != stamp:
                return None
            self._entries.move_to_end(key)
            return entry[1]

    def put(self, key: ListingKey, stamp: int, listing: bytes) -> None:
        if len(listing) > self.max_bytes:
            return
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= len(old[1])
            self._entries[key] = (stamp, listing)
            self._bytes += len(listing)
            while self._bytes > self.max_bytes:
                _, (_, dropped) = self._entries.popitem(last=False)
                self._bytes -= len(dropped)
