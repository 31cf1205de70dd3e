"""The records the domain and the stores exchange: plain data, no behaviour."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

__all__ = [
    "NO_VARIATION",
    "FlagEnvRecord",
    "FlagRecord",
    "Resource",
    "Schedule",
    "SegmentRecord",
    "TargetRow",
]

NO_VARIATION = -1  # the variation column of segment targets


class Resource(NamedTuple):
    """What targets and schedules belong to: a segment, or a flag in one environment.

    A named tuple rather than a frozen dataclass: it keys dictionaries on every
    instruction, and a tuple hashes in C."""

    kind: str  # "segment" or "flag"
    project: str
    env: str
    key: str


@dataclass
class SegmentRecord:
    project: str
    env: str
    key: str
    name: str
    description: str | None
    tags: list[str]
    version: int
    creation_date: int
    last_modified: int
    unbounded: bool = False
    unbounded_context_kind: str | None = None


@dataclass
class FlagRecord:
    project: str
    key: str
    name: str
    description: str
    kind: str  # "boolean" or "multivariate"
    variations: list[dict[str, Any]]  # each with a stable "_id"
    tags: list[str]
    temporary: bool
    version: int
    creation_date: int
    extras: dict[str, Any] = field(default_factory=dict)  # other FeatureFlagBody fields kept as sent


@dataclass
class FlagEnvRecord:
    env: str
    version: int
    last_modified: int
    salt: str
    sel: str
    on: bool = False


class TargetRow(NamedTuple):
    """One context in one individual-target list.

    ``slot`` is the representation field that holds it: ``included``,
    ``excluded``, ``includedContexts``, ``excludedContexts`` (segments) or
    ``targets``, ``contextTargets`` (flags, with the variation index). A named tuple: a
    PATCH reads one per named context, and a tuple is built in C.
    """

    slot: str
    context_kind: str
    context_key: str
    variation: int = NO_VARIATION


@dataclass(slots=True)
class Schedule:
    id: str
    resource: Resource
    context_kind: str
    context_key: str
    target_type: str  # "included"/"excluded" for segments, "" for flags
    variation_id: str  # the variation's _id for flags, "" for segments
    version: int
    expiration_date: int
