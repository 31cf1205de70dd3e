"""Python names for OpenAPI names: operationIds, parameters, tags."""

from __future__ import annotations

import keyword
import re

__all__ = ["class_name", "python_identifier", "route_sort_key", "snake_case"]

_NON_ALNUM = re.compile(r"[^0-9A-Za-z]+")
_ACRONYM = re.compile(r"([A-Z]+)([A-Z][a-z])")
_CAMEL = re.compile(r"([a-z0-9])([A-Z])")


def snake_case(name: str) -> str:
    """``patchFeatureFlag``, ``patch-expiring-user-targets``, ``LD-API-Version``, ``deploymentID``
    -> ``patch_feature_flag``, ``patch_expiring_user_targets``, ``ld_api_version``,
    ``deployment_id``."""
    text = _NON_ALNUM.sub("_", name)
    text = _ACRONYM.sub(r"\1_\2", text)
    text = _CAMEL.sub(r"\1_\2", text)
    return re.sub(r"_+", "_", text).strip("_").lower()


def python_identifier(name: str, reserved: frozenset[str] = frozenset()) -> str:
    """A snake_case identifier that is not a keyword, not reserved and does not start with a
    digit; keywords get a trailing underscore (``from`` -> ``from_``)."""
    ident = snake_case(name) or "param"
    if ident[0].isdigit():
        ident = "p_" + ident
    while keyword.iskeyword(ident) or keyword.issoftkeyword(ident) or ident in reserved:
        ident += "_"
    return ident


def class_name(text: str) -> str:
    """``Feature flags`` -> ``FeatureFlags``; ``Account usage (beta)`` -> ``AccountUsageBeta``."""
    words = [w for w in _NON_ALNUM.split(text) if w]
    name = "".join(w[0].upper() + w[1:] for w in words) or "Default"
    return name if not name[0].isdigit() else "T" + name


def route_sort_key(path: str, method: str) -> tuple[tuple[tuple[int, str], ...], str]:
    """Order routes so that a static segment is tried before a parameter at the same position:
    ``/flags/evaluate`` must be registered before ``/flags/{key}`` or it is never reached."""
    segments = tuple((1 if s.startswith("{") else 0, s) for s in path.strip("/").split("/"))
    return segments, method
