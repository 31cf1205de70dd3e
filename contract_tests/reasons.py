"""The documented reasons a well-formed instruction fails (200-with-errors), and which kinds
each can apply to.

The seeds and the reference spec name them: a context that is not targeted individually there,
a version that does not match, a `value` or `version` missing where the kind needs it, an
unknown variation, an unknown flag. Tests that compose an instruction to fail for one of them
say which (`checks.Expectation.reason`), so the coverage report can show, per kind, which
reasons a run actually saw the server refuse (docs/contract-suite.md, Coverage).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from generated.operations import InstructionKind

__all__ = ["REASONS", "Reason", "reasons_for"]


@dataclass(frozen=True)
class Reason:
    id: str
    text: str
    applies: Callable[[InstructionKind], bool]  # whether a kind can fail for it


def _fields(kind: InstructionKind) -> tuple[str, ...]:
    return (*kind.required, *kind.optional)


REASONS: Mapping[str, Reason] = MappingProxyType({reason.id: reason for reason in (
    Reason("not-targeted", "the context is not targeted individually there (that segment list, "
           "that flag variation)", lambda kind: kind.action == "add"),
    Reason("version-mismatch", "its `version` does not match",
           lambda kind: "version" in _fields(kind)),
    Reason("missing-field", "a `value` or `version` the kind needs is missing",
           lambda kind: bool({"value", "version"} & set(kind.required))),
    Reason("unknown-variation", "the variation does not exist",
           lambda kind: "variationId" in _fields(kind) and kind.action == "add"),
    Reason("unknown-flag", "the flag does not exist", lambda kind: "flagKey" in _fields(kind)),
)})


def reasons_for(kind: InstructionKind) -> tuple[str, ...]:
    """The documented reasons an instruction of `kind` can fail for."""
    return tuple(reason.id for reason in REASONS.values() if reason.applies(kind))
