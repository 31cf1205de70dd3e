"""Reading semantic-patch instructions against the operation metadata.

Which kinds an operation accepts and which parameters each kind needs come
from ``generated.operations`` (``OPERATIONS[op].instructions``); this module
only checks an instruction against such a mapping; what a kind does
(``add``/``update``/``remove``) is its ``action`` there.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from .errors import InstructionFailed

__all__ = ["KindSpec", "Kinds", "check_instruction", "version_refers_to_resource"]

INTEGER_FIELDS = ("value", "version")
STRING_FIELDS = (
    "kind", "userKey", "contextKey", "contextKind", "targetType", "variationId", "flagKey",
)
INT64_MAX = 2**63 - 1
_INTEGER_FIELDS = frozenset(INTEGER_FIELDS)
_STRING_FIELDS = frozenset(STRING_FIELDS)


class KindSpec(Protocol):
    """What ``generated.operations.InstructionKind`` provides."""

    required: Sequence[str]
    optional: Sequence[str]
    version_of: str | None
    action: str  # add | update | remove
    target_list: str | None  # the resource's target list it changes (segment setup kinds)
    context_kind: str | None  # the context kind of all its targets (user-only kinds)


Kinds = Mapping[str, KindSpec]


def version_refers_to_resource(spec: KindSpec) -> bool:
    """True when ``version`` is the segment's version (seed 000), not the schedule's."""
    return getattr(spec, "version_of", None) in ("segment", "resource", "flag")


def check_instruction(instruction: Any, kinds: Kinds) -> tuple[str, KindSpec]:
    """The instruction's kind and its metadata; :class:`InstructionFailed` if unusable."""
    if not isinstance(instruction, dict):
        raise InstructionFailed("the instruction is not an object")
    kind = instruction.get("kind")
    if not isinstance(kind, str) or not kind:
        raise InstructionFailed("the instruction has no kind")
    spec = kinds.get(kind)
    if spec is None:
        accepted = ", ".join(sorted(kinds))
        raise InstructionFailed(f"unknown instruction kind {kind!r}; this endpoint accepts {accepted}")
    for name in spec.required:
        if instruction.get(name) is None:
            raise InstructionFailed(f"{kind} needs {name}")
    for name, value in instruction.items():  # one pass over what is there
        if type(value) is str:  # most fields: only an integer field must not be one
            if name in _INTEGER_FIELDS:
                raise InstructionFailed(f"{name} must be a 64-bit integer")
            continue
        if value is None:
            continue
        if name in _INTEGER_FIELDS:
            if isinstance(value, bool) or not isinstance(value, int) or not (
                -INT64_MAX - 1 <= value <= INT64_MAX
            ):
                raise InstructionFailed(f"{name} must be a 64-bit integer")
        elif name in _STRING_FIELDS:
            if not isinstance(value, str):
                raise InstructionFailed(f"{name} must be a string")
        elif name == "values" and (
            not isinstance(value, list) or not all(isinstance(v, str) for v in value)
        ):
            raise InstructionFailed("values must be an array of strings")
    return kind, spec
