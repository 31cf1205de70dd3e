"""Where the mock keeps its state: one seam (protocol.py), two stores (sqlite.py,
postgres.py), and ``open_store(url)`` to pick one (factory.py)."""

from .factory import describe, open_store
from .protocol import Listings, Store, StoreOpenError, Tx
from .records import (
    NO_VARIATION,
    FlagEnvRecord,
    FlagRecord,
    Resource,
    Schedule,
    SegmentRecord,
    TargetRow,
)

__all__ = [
    "NO_VARIATION",
    "FlagEnvRecord",
    "FlagRecord",
    "Listings",
    "Resource",
    "Schedule",
    "SegmentRecord",
    "Store",
    "StoreOpenError",
    "TargetRow",
    "Tx",
    "describe",
    "open_store",
]
