"""RFC 6902 JSON patch for the setup PATCHes, on the `jsonpatch` library.

What is ours: which operations the setup PATCHes take (add, remove, replace, test), which paths
may change (the caller's ``allowed``), strict JSON equality in ``test`` (``true`` is not ``1``;
the library compares with Python's ``==``), and one message per problem naming the operation and
its path. The operations run in order on a deep copy, so a failing one leaves the input
untouched.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from types import MappingProxyType
from typing import Any

import jsonpatch
import jsonpointer

__all__ = ["PatchError", "apply_patch"]

SUPPORTED_OPS = ("add", "remove", "replace", "test")


class PatchError(ValueError):
    """The patch cannot be applied; the message names the operation and path."""


def _json_equal(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_json_equal(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


class _StrictTest(jsonpatch.TestOperation):
    """``test`` with JSON's equality, not Python's."""

    def apply(self, obj: Any) -> Any:
        try:
            actual = self.pointer.resolve(obj)
        except jsonpointer.JsonPointerException as exc:
            raise jsonpatch.JsonPatchTestFailed(str(exc)) from exc
        if not _json_equal(actual, self.operation["value"]):
            raise jsonpatch.JsonPatchTestFailed("test failed: the value differs")
        return obj


class _Patch(jsonpatch.JsonPatch):
    operations = MappingProxyType({**jsonpatch.JsonPatch.operations, "test": _StrictTest})


def _parts(path: str) -> list[str]:
    try:
        return list(jsonpointer.JsonPointer(path).parts)
    except jsonpointer.JsonPointerException:
        raise PatchError(f"path {path!r} is not a JSON pointer (it must start with '/')") from None


def apply_patch(
    document: Any,
    operations: Sequence[Any],
    allowed: Callable[[list[str]], str | None] = lambda parts: None,
) -> Any:
    """Apply ``operations`` to a copy of ``document`` and return it.

    ``allowed(parts)`` returns ``None`` when an add/remove/replace may touch the path, or a
    reason why not. ``test`` may read any path."""
    for index, op in enumerate(operations):
        if not isinstance(op, dict):
            raise PatchError(f"operation {index} is not an object")
        kind, path = op.get("op"), op.get("path")
        if kind not in SUPPORTED_OPS:
            raise PatchError(f"operation {index}: op {kind!r} is not supported (use one of "
                             f"{', '.join(SUPPORTED_OPS)})")
        if not isinstance(path, str):
            raise PatchError(f"operation {index}: path must be a string")
        parts = _parts(path)
        if kind != "test" and (reason := allowed(parts)) is not None:
            raise PatchError(f"operation {index}: path {path!r} {reason}")
        if kind in ("add", "replace", "test") and "value" not in op:
            raise PatchError(f"operation {index} ({kind} {path!r}) needs a value")
        if kind == "remove" and not parts:
            raise PatchError(f"operation {index} (remove ''): cannot remove the whole document")
    doc = copy.deepcopy(document)
    for index, op in enumerate(operations):  # one at a time: the message names the failing one
        try:
            doc = _Patch([op]).apply(doc, in_place=True)
        except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException) as exc:
            raise PatchError(f"operation {index} ({op['op']} {op['path']!r}): {exc}") from None
    return doc
