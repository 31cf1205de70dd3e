"""Questions about individual targets, asked through the store's plain record operations."""

from __future__ import annotations

from collections.abc import Sequence

from .storage.protocol import Tx
from .storage.records import NO_VARIATION, Resource

__all__ = ["has_target", "target_variations"]


def has_target(tx: Tx, res: Resource, slots: Sequence[str], context_kind: str,
               context_key: str, variation: int = NO_VARIATION) -> bool:
    """Whether the context sits in one of ``slots`` (with that variation, for flags)."""
    return any(row.slot in slots and row.variation == variation
               for row in tx.context_targets(res, context_kind, (context_key,)))


def target_variations(tx: Tx, res: Resource, slots: Sequence[str], context_kind: str,
                      context_key: str) -> list[int]:
    """The variations the context is targeted with in ``slots``, ascending."""
    return sorted({row.variation for row in tx.context_targets(res, context_kind, (context_key,))
                   if row.slot in slots})
