"""Media types of requests: a Content-Type matched against the ones an operation declares.

Matching is by type, subtype and parameters (case-insensitively, quotes dropped) because the
semantic patch differs from plain JSON only by its ``domain-model`` parameter; ``charset``
and ``boundary`` say how the bytes are written, not what they mean, and are ignored.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

from ._errors import invalid_request

__all__ = ["is_json_media_type", "match_media_type", "media_type_matches", "parse_media_type"]

_IGNORED_PARAMETERS = frozenset({"charset", "boundary"})


def parse_media_type(value: str, *, fold_values: bool = True) -> tuple[str, dict[str, str]]:
    """``"Application/JSON ; Domain-Model=X"`` -> ``("application/json", {"domain-model": "x"})``.

    Type, subtype, parameter names and values compare case-insensitively; quotes around a
    value are dropped. ``fold_values=False`` keeps the values' case (for a server that
    matches them exactly).
    """
    essence, *raw_parameters = value.split(";")
    parameters = {}
    for raw in raw_parameters:
        name, _, parameter = raw.partition("=")
        parameter = parameter.strip()
        if len(parameter) >= 2 and parameter[0] == parameter[-1] == '"':
            parameter = parameter[1:-1]
        if name.strip():
            parameters[name.strip().lower()] = parameter.lower() if fold_values else parameter
    return essence.strip().lower(), parameters


@lru_cache(maxsize=1024)  # a client sends the same few Content-Types again and again
def media_type_matches(content_type: str, declared: str) -> bool:
    """Same type/subtype and the same parameters, ignoring ``charset`` and ``boundary``."""
    actual_essence, actual = parse_media_type(content_type)
    declared_essence, wanted = parse_media_type(declared)
    for ignored in _IGNORED_PARAMETERS:
        actual.pop(ignored, None)
        wanted.pop(ignored, None)
    return actual_essence == declared_essence and actual == wanted


def match_media_type(content_type: str | None, declared: Iterable[str]) -> str:
    """The declared media type that ``content_type`` matches, else a 400 naming them."""
    options = tuple(declared)
    if content_type:
        for media_type in options:
            if media_type_matches(content_type, media_type):
                return media_type
    expected = " or ".join(repr(m) for m in options)
    if not content_type:
        raise invalid_request(f"missing Content-Type header; expected {expected}")
    raise invalid_request(f"unsupported Content-Type {content_type!r}; expected {expected}")


@lru_cache(maxsize=256)
def is_json_media_type(media_type: str) -> bool:
    """``application/json`` (with any parameters) or a ``+json`` type."""
    essence, _ = parse_media_type(media_type)
    return essence == "application/json" or essence.endswith("+json")
