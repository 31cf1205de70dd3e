"""RFC 6902 JSON patch (add, remove, replace, test) over plain JSON values.

Only what the setup PATCHes need: :func:`apply_patch` works on a deep copy,
so a failing operation leaves the input untouched; which paths may be
changed is the caller's decision (see ``allowed``).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["PatchError", "apply_patch", "parse_pointer"]

SUPPORTED_OPS = ("add", "remove", "replace", "test")


class PatchError(ValueError):
    """The patch cannot be applied; the message names the operation and path."""


def parse_pointer(pointer: str) -> list[str]:
    """RFC 6901: ``"/a/b~1c"`` -> ``["a", "b/c"]``; ``""`` is the whole document."""
    if pointer == "":
        return []
    if not pointer.startswith("/"):
        raise PatchError(f"path {pointer!r} is not a JSON pointer (it must start with '/')")
    return [part.replace("~1", "/").replace("~0", "~") for part in pointer[1:].split("/")]


def apply_patch(
    document: Any,
    operations: Sequence[Any],
    allowed: Callable[[list[str]], str | None] = lambda parts: None,
) -> Any:
    """Apply ``operations`` to a copy of ``document`` and return it.

    ``allowed(parts)`` returns ``None`` when an add/remove/replace may touch
    the path, or a reason why not. ``test`` may read any path.
    """
    doc = copy.deepcopy(document)
    for index, op in enumerate(operations):
        if not isinstance(op, dict):
            raise PatchError(f"operation {index} is not an object")
        kind, path = op.get("op"), op.get("path")
        if kind not in SUPPORTED_OPS:
            raise PatchError(
                f"operation {index}: op {kind!r} is not supported (use one of {', '.join(SUPPORTED_OPS)})"
            )
        if not isinstance(path, str):
            raise PatchError(f"operation {index}: path must be a string")
        parts = parse_pointer(path)
        if kind != "test":
            reason = allowed(parts)
            if reason is not None:
                raise PatchError(f"operation {index}: path {path!r} {reason}")
        if kind in ("add", "replace", "test") and "value" not in op:
            raise PatchError(f"operation {index} ({kind} {path!r}) needs a value")
        try:
            doc = _apply_one(doc, kind, parts, op.get("value"))
        except PatchError as exc:
            raise PatchError(f"operation {index} ({kind} {path!r}): {exc}") from None
    return doc


def _apply_one(doc: Any, kind: str, parts: list[str], value: Any) -> Any:
    if not parts:
        if kind == "test":
            _test(doc, value)
            return doc
        if kind == "remove":
            raise PatchError("cannot remove the whole document")
        return copy.deepcopy(value)
    parent = _resolve(doc, parts[:-1])
    last = parts[-1]
    if isinstance(parent, dict):
        if kind == "add":
            parent[last] = copy.deepcopy(value)
        elif last not in parent:
            raise PatchError(f"no member {last!r}")
        elif kind == "remove":
            del parent[last]
        elif kind == "replace":
            parent[last] = copy.deepcopy(value)
        else:
            _test(parent[last], value)
    elif isinstance(parent, list):
        if kind == "add":
            index = len(parent) if last == "-" else _index(last, len(parent) + 1)
            parent.insert(index, copy.deepcopy(value))
        else:
            index = _index(last, len(parent))
            if kind == "remove":
                del parent[index]
            elif kind == "replace":
                parent[index] = copy.deepcopy(value)
            else:
                _test(parent[index], value)
    else:
        raise PatchError("the parent is not an object or array")
    return doc


def _resolve(doc: Any, parts: list[str]) -> Any:
    node = doc
    for part in parts:
        if isinstance(node, dict):
            if part not in node:
                raise PatchError(f"no member {part!r}")
            node = node[part]
        elif isinstance(node, list):
            node = node[_index(part, len(node))]
        else:
            raise PatchError(f"cannot descend into a {type(node).__name__} at {part!r}")
    return node


def _index(token: str, bound: int) -> int:
    if not token.isdigit() or (token != "0" and token.startswith("0")):
        raise PatchError(f"{token!r} is not an array index")
    index = int(token)
    if index >= bound:
        raise PatchError(f"index {index} is out of range")
    return index


def _test(actual: Any, expected: Any) -> None:
    if not _json_equal(actual, expected):
        raise PatchError("test failed: the value differs")


def _json_equal(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_json_equal(x, y) for x, y in zip(a, b))
    return bool(a == b)
