"""Which mock policy settings make the mock answer as the target does, found by trying them.

Each difference the documents leave open should be one switch of `mock_server.policy.Policy`.
Rather than guess which from the text of an answer, the search runs the same plan against the
kit's mock in-process under each single change of the base policy and keeps what removes
differences: every switch whose change removes some (the best value per switch) is applied at
once, or only the best one if together they do no better; then the switches not yet changed
are tried again from there, until nothing removes more. Each removed difference is traced to
the settings found that changed it when tried alone (to the target's value, or else at all);
one that only a combination removes, to those of the settings that touch its exchange whose
undoing brings it back. Differences
no setting removes stay unexplained: a behaviour no switch of the mock reproduces.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from mock_server.policy import CHOICES, Policy

from .normalise import ABSENT, differences

__all__ = ["Attribution", "Setting", "attribute"]

Aspects = Mapping[str, Mapping[str, str]]  # label -> aspect -> value
Spot = tuple[str, str]  # (label, aspect) of one difference


@dataclass(frozen=True, order=True)
class Setting:
    key: str
    value: Any

    def __str__(self) -> str:
        return f"{self.key}={self.value}"


@dataclass
class Attribution:
    base: Policy
    found: Policy  # the base with the settings found
    settings: tuple[Setting, ...]
    explained: dict[Spot, tuple[Setting, ...]] = field(default_factory=dict)
    remaining: set[Spot] = field(default_factory=set)  # differences nothing removed
    runs: int = 0  # in-process runs of the plan it took


def _spots(mock: Aspects, target: Aspects) -> set[Spot]:
    return {(label, d.aspect) for label in target
            for d in differences(mock.get(label, {}), target[label])}


def _value(aspects: Aspects, spot: Spot) -> str:
    return aspects.get(spot[0], {}).get(spot[1], ABSENT)


class _Search:
    def __init__(self, base: Policy, target: Aspects,
                 run: Callable[[Policy], Aspects]) -> None:
        self.base, self.target, self._run = base, target, run
        self.runs = 0

    def spots(self, policy: Policy) -> tuple[set[Spot], Aspects]:
        self.runs += 1
        aspects = self._run(policy)
        return _spots(aspects, self.target), aspects

    def changes(self, policy: Policy, unchanged_only: bool) -> list[Setting]:
        return [Setting(key, value) for key, values in CHOICES.items() for value in values
                if value != getattr(policy, key)
                and not (unchanged_only and getattr(policy, key) != getattr(self.base, key))]


def attribute(base: Policy, target: Aspects, run: Callable[[Policy], Aspects]) -> Attribution:
    """`run(policy)`: the plan's aspects from the kit's mock under that policy."""
    search = _Search(base, target, run)
    remaining, base_aspects = search.spots(base)
    from_base = set(remaining)
    alone: dict[Setting, Aspects] = {}  # each change tried alone from the base
    current = base
    while remaining:
        tried = {}
        for setting in search.changes(current, unchanged_only=current != base):
            tried[setting], aspects = search.spots(replace(current, **{setting.key:
                                                                       setting.value}))
            if current == base:
                alone[setting] = aspects
        gains = {s: len(remaining) - len(left) for s, left in tried.items()}
        best: dict[str, Setting] = {}
        for setting, gain in gains.items():
            if gain > 0 and (setting.key not in best or gain > gains[best[setting.key]]):
                best[setting.key] = setting
        if not best:
            break
        strongest = max(best.values(), key=lambda s: gains[s])
        combined = replace(current, **{s.key: s.value for s in best.values()})
        together = search.spots(combined)[0] if len(best) > 1 else tried[strongest]
        if len(together) <= len(tried[strongest]):
            current, remaining = combined, together
        else:
            current, remaining = replace(current, **{strongest.key: strongest.value}), \
                tried[strongest]
    settings = tuple(sorted(Setting(k, v) for k, v in current.as_dict().items()
                            if getattr(base, k) != v))
    explained = {spot: _traced(spot, settings, alone, base_aspects, target)
                 for spot in from_base - remaining}
    unattributed = [spot for spot, who in explained.items() if not who]
    labels = {label for label, _ in unattributed}
    for setting in [s for s in settings if unattributed and (s not in alone or any(
            alone[s].get(label) != base_aspects.get(label) for label in labels))]:
        undone, _ = search.spots(replace(current, **{setting.key: getattr(base, setting.key)}))
        for spot in unattributed:
            if spot in undone:
                explained[spot] = (*explained[spot], setting)
    return Attribution(base, current, settings, explained, remaining, search.runs)


def _traced(spot: Spot, settings: tuple[Setting, ...], alone: Mapping[Setting, Aspects],
            base: Aspects, target: Aspects) -> tuple[Setting, ...]:
    """The settings that, tried alone, gave the target's value there; else that changed it."""
    tried = [s for s in settings if s in alone]
    exact = tuple(s for s in tried if _value(alone[s], spot) == _value(target, spot))
    return exact or tuple(s for s in tried if _value(alone[s], spot) != _value(base, spot))
