"""Strict JSON for request bodies: UTF-8 only, no NaN or infinities, no duplicate keys, no
unpaired surrogates, bounded nesting.

Python's ``json`` accepts all of these, and each would reach a backend as something the
client did not mean (the last of two keys, a float that is not a number, a string that
cannot be stored); refusing them with a 400 that says why is the contract's "well-formed or
400". orjson reads the common body much faster than ``json`` and is used whenever it would read
it exactly as the strict parser does.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import orjson

from ._errors import invalid_request

__all__ = ["MAX_DEPTH", "parse_json_body"]

#: Deepest JSON nesting accepted by default (the top-level value is depth 1).
MAX_DEPTH = 64

_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_NOT_PLAIN = object()
_EXACT_INTEGERS = 2.0**63  # orjson reads an integer literal beyond 64 bits as a float


class _BodyError(ValueError):
    pass


def _reject_constant(name: str) -> Any:
    raise _BodyError(f"{name} is not a valid JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _BodyError(f"number {text[:40]} is out of range")
    return value


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _BodyError(f"duplicate object key {key!r}")
            seen.add(key)
    return result


def _check_depth(value: Any, limit: int) -> None:
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            raise _BodyError(f"JSON nesting is deeper than the limit of {limit}")
        children = node.values() if isinstance(node, dict) else node
        stack.extend((c, depth + 1) for c in children if isinstance(c, (dict, list)))


def _check_surrogates(value: Any) -> None:
    """Strings must be Unicode text: ``"\\ud800"`` alone is valid JSON but no character
    (it cannot be encoded, e.g. to store it); a valid escaped pair is one character here."""
    found = _LONE_SURROGATE.search(json.dumps(value, ensure_ascii=False))
    if found:
        raise _BodyError(f"a string holds an unpaired surrogate \\u{ord(found.group()):04x}")


def _members_unless_huge(value: Any) -> int:
    """How many object members ``value`` holds, or -1 if it holds a float as large as an
    integer orjson may have read inexactly (``json`` reads it as an exact int)."""
    members = 0
    stack: list[Any] = [[value]]  # containers only; the value itself is the first one's child
    while stack:
        node = stack.pop()
        if type(node) is dict:
            members += len(node)
            children = node.values()
        else:
            children = node
        for child in children:
            kind = type(child)
            if kind is dict or kind is list:
                stack.append(child)
            elif kind is float and not -_EXACT_INTEGERS < child < _EXACT_INTEGERS:
                return -1
    return members


def _plain_json(raw: bytes) -> Any:
    """The body by orjson, or ``_NOT_PLAIN`` when it might read it differently from
    :func:`_strict_json` or reject it: orjson refuses invalid UTF-8, NaN, infinities and
    unpaired surrogates too, but keeps the last of duplicate keys. In valid JSON every ':'
    outside a string separates one member, so as many ':' in the whole text as members read
    means no key was dropped (and no ':' sits in a string)."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return _NOT_PLAIN  # the strict parser says why
    if _members_unless_huge(value) != raw.count(b":"):
        return _NOT_PLAIN
    return value


def _strict_json(raw: bytes, max_depth: int = MAX_DEPTH) -> Any:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise invalid_request(
            f"request body is not valid UTF-8 (byte offset {exc.start})"
        ) from None
    try:
        value = json.loads(
            text,
            object_pairs_hook=_unique_keys,
            parse_constant=_reject_constant,
            parse_float=_finite_float,
        )
        if _SURROGATE_ESCAPE.search(raw):  # only an escape can make an unpaired surrogate
            _check_surrogates(value)
    except _BodyError as exc:
        raise invalid_request(f"request body: {exc}") from None
    except json.JSONDecodeError as exc:
        raise invalid_request(
            f"request body is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from None
    except RecursionError:
        message = f"request body: JSON nesting is deeper than the limit of {max_depth}"
        raise invalid_request(message) from None
    except ValueError as exc:  # e.g. an integer with more digits than Python converts
        raise invalid_request(f"request body is not valid JSON: {exc}") from None
    return value


def parse_json_body(raw: bytes, max_depth: int = MAX_DEPTH) -> Any:
    """Strict JSON: UTF-8 only, no NaN/Infinity, no duplicate keys, at most ``max_depth``
    levels of nesting; anything else is an ``ApiError`` 400 that says why."""
    value = _plain_json(raw)
    if value is _NOT_PLAIN:
        value = _strict_json(raw, max_depth)
    # a value cannot nest deeper than the brackets it has
    if isinstance(value, (dict, list)) and raw.count(b"[") + raw.count(b"{") > max_depth:
        try:
            _check_depth(value, max_depth)
        except _BodyError as exc:
            raise invalid_request(f"request body: {exc}") from None
    return value
