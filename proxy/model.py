"""Tier 2 over sequences of exchanges: a small model of every segment's and flag's schedules,
built only from the answers the proxy saw, and checked against each later answer.

Each schedule the proxy knows something about has a `Fact`: present with a date (and a
`_version`, when known) or absent, and the rule that a later answer contradicting it breaks:

- a successful add or update sets the date (`successful-take-effect`); an update of a schedule
  whose `_version` was known sets it to one more (`update-increments-version`) and must carry
  that version, or the segment's where seed 000 asks for it (`version-mismatch-fails`);
- a successful remove makes it absent (`successful-take-effect`) and leaves the context
  targeted (`remove-keeps-target`, checked at the next GET of the segment or flag);
- a listing (GET, or a PATCH answer's `items`) states every schedule of its scope; another
  listing that disagrees breaks `views-agree`, or `users-are-contexts` between the user and
  the context views; a listing shows only targeted contexts (`views-agree`) and a flag's
  context on one variation (`one-variation-per-flag`);
- an add succeeds only for a context the segment or flag targets individually, as its last
  answer showed (`individual-target-required`).

What the documents leave open never becomes a fact: the `_version` of a new schedule, the
segment's version after a schedule change, several instructions on one schedule in one request,
dates that are due (they may expire at any moment), schedules of targets that a setup PATCH
removed. A model only judges sequences it can order: a write that overlapped another exchange
of the same project, an answer that did not come, a write to a path outside the operation model
(the mock's admin clock) forget what they may have changed; and a model older than the TTL is
forgotten, since the proxy cannot see writes that go around it.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from contract_tests.checks import ContractViolation, check_error_indices, whole_number
from contract_tests.families import Family, ScheduleKey, schedule_key

from .exchange import Exchange
from .routing import ResourceId, Route, View, family_of, view_of

__all__ = ["DUE_MARGIN_MS", "Model", "SequenceFinding"]

DUE_MARGIN_MS = 60_000  # a date this close to now may expire before a GET shows it
CONTEXT_VIEWS = frozenset({"user", "context"})


@dataclass(frozen=True)
class SequenceFinding:
    rule: str
    message: str
    origin: int | None  # the earlier exchange whose answer the later one contradicts


@dataclass
class Fact:
    present: bool
    date: int | None
    version: int | None
    rule: str
    version_rule: str
    origin: int
    view: str | None  # the listing it was read from ("user", "context", "patch"); None: effect


Scope = str | tuple[str, str]  # "all", "user", or ("user", user key)


@dataclass
class Schedules:
    """What the proxy knows of one segment's or flag's schedules in one environment."""

    facts: dict[ScheduleKey, Fact | None] = field(default_factory=dict)  # None: unknown
    complete: dict[Scope, tuple[str, int]] = field(default_factory=dict)  # -> (view, origin)
    targeting: frozenset[ScheduleKey] | None = None
    targeting_origin: int = 0
    keep_targeted: dict[ScheduleKey, int] = field(default_factory=dict)  # key -> remove's index
    segment_version: int | None = None
    touched: float = field(default_factory=time.monotonic)


def _covers(scope: Scope, key: ScheduleKey) -> bool:
    if scope == "all":
        return True
    if scope == "user":
        return key[0] == "user"
    return key[0] == "user" and key[1] == scope[1]


def _rule_between(earlier: str | None, later: str, default: str) -> str:
    if earlier is None:
        return default
    if earlier != later and {earlier, later} <= CONTEXT_VIEWS:
        return "users-are-contexts"
    return "views-agree"


class Model:
    """Every resource's `Schedules`, fed one exchange at a time in the order they ended."""

    def __init__(self, ttl_s: float = 300.0) -> None:
        """`ttl_s`: a resource the proxy has seen nothing of for that long is forgotten."""
        self.ttl_s = ttl_s
        self.resources: dict[ResourceId, Schedules] = {}

    # -- bookkeeping -----------------------------------------------------------------------

    def forget_project(self, project: str | None) -> None:
        """Everything in a project (None: everything) may have changed unseen."""
        for resource in [r for r in self.resources if project is None or r[1] == project]:
            del self.resources[resource]

    def _get(self, resource: ResourceId) -> Schedules:
        found = self.resources.get(resource)
        if found is None or time.monotonic() - found.touched > self.ttl_s:
            found = self.resources[resource] = Schedules()
        found.touched = time.monotonic()
        return found

    def _due(self, date: int | None) -> bool:
        return date is not None and date <= time.time() * 1000 + DUE_MARGIN_MS

    # -- exchanges -------------------------------------------------------------------------

    def observe(self, route: Route, exchange: Exchange,
                instructions: list[Any] | None) -> list[SequenceFinding]:
        """One exchange that no other write overlapped (`instructions`: those of a
        well-formed semantic patch, as `tier2.instructions_of` found them); what it shows."""
        status, response = exchange.status_code, exchange.response_json
        if not 200 <= status < 300:
            if status >= 500 and route.writes:  # applied or not: unknown
                self._forget(route)
            return []
        view = view_of(route.operation)
        if view is not None:
            return list(self._listing(route, view, response, exchange.index))
        family = family_of(route.operation)
        if family is not None and route.writes:
            return list(self._patch(route, family, exchange, instructions))
        return list(self._resource(route, response, exchange.index))

    def _forget(self, route: Route) -> None:
        """What a write may have changed, unseen: its segment or flag (every environment), or
        the whole project when the path names neither."""
        resource = route.resource
        if resource is None:
            self.forget_project(route.project)
            return
        for known in [r for r in self.resources
                      if (r[0], r[1], r[3]) == (resource[0], resource[1], resource[3])]:
            del self.resources[known]

    # -- listings --------------------------------------------------------------------------

    def _listing(self, route: Route, view: View, response: Any,
                 index: int) -> Iterator[SequenceFinding]:
        items = response.get("items") if isinstance(response, dict) else None
        if not isinstance(items, list):
            return
        if not view.per_user:
            resource = route.resource
            assert resource is not None
            yield from self._list(resource, view.scope, view.name, _keyed(items, None), index)
            return
        user = route.params["userKey"]
        by_flag: dict[str, list[dict[str, Any]]] = {}
        for item in items:
            if isinstance(item, dict):
                by_flag.setdefault(str((item.get("_resourceId") or {}).get("key")), []).append(
                    item)
        flags = {r[3] for r in self.resources if r[0] == "flag" and r[1] == route.project
                 and r[2] == route.environment} | set(by_flag)
        for flag in sorted(flags):
            resource = ("flag", route.project, route.environment, flag)
            yield from self._list(resource, ("user", user), view.name,
                                  _keyed(by_flag.get(flag, []), user), index)

    def _list(self, resource: ResourceId, scope: Scope, view: str,
              listed: list[tuple[ScheduleKey, Any, Any]], index: int) -> Iterator[SequenceFinding]:
        state = self._get(resource)
        shown: dict[ScheduleKey, tuple[Any, Any]] = {}
        for key, date, version in listed:
            if key in shown:
                yield SequenceFinding("views-agree", f"{_name(resource)} lists {_key(key)} "
                                      "twice", None)
            shown[key] = (date, version)
            if state.targeting is not None and key not in state.targeting:
                yield SequenceFinding(
                    "views-agree", f"{_name(resource)} lists a schedule for {_key(key)}, which "
                    f"exchange #{state.targeting_origin} showed is not targeted individually",
                    state.targeting_origin)
        if resource[0] == "flag":
            yield from _one_variation(resource, shown)
        yield from self._compare(resource, state, scope, view, shown)
        for key in [k for k in state.facts if _covers(scope, k)]:
            del state.facts[key]
        for key, (date, version) in shown.items():
            state.facts[key] = Fact(True, whole_number(date), whole_number(version),
                                    "views-agree", "views-agree", index, view)
        state.complete[scope] = (view, index)

    def _compare(self, resource: ResourceId, state: Schedules, scope: Scope, view: str,
                 shown: Mapping[ScheduleKey, tuple[Any, Any]]) -> Iterator[SequenceFinding]:
        where = _name(resource)
        for key, fact in state.facts.items():
            if fact is None or not _covers(scope, key):
                continue
            rule = _rule_between(fact.view, view, fact.rule)
            if key not in shown:
                if fact.present and not self._due(fact.date):
                    yield SequenceFinding(rule, f"{where}: the GET does not show the schedule "
                                          f"of {_key(key)} (expirationDate {fact.date}) that "
                                          f"exchange #{fact.origin} {_how(fact)}", fact.origin)
                continue
            date, version = (whole_number(v) for v in shown[key])
            if not fact.present:
                yield SequenceFinding(rule, f"{where}: the GET shows a schedule of {_key(key)} "
                                      f"that exchange #{fact.origin} {_how(fact)} absent",
                                      fact.origin)
            elif fact.date is not None and date != fact.date:
                yield SequenceFinding(rule, f"{where}: the GET shows {_key(key)} with "
                                      f"expirationDate {date}, exchange #{fact.origin} "
                                      f"{_how(fact)} {fact.date}", fact.origin)
            elif fact.version is not None and version != fact.version:
                yield SequenceFinding(_rule_between(fact.view, view, fact.version_rule),
                                      f"{where}: the GET shows {_key(key)} with _version "
                                      f"{version}, exchange #{fact.origin} {_how(fact)} "
                                      f"{fact.version}", fact.origin)
        for key in shown:
            if key in state.facts:
                continue
            covering = next((c for s, c in state.complete.items() if _covers(s, key)), None)
            if covering is not None:
                yield SequenceFinding(
                    _rule_between(covering[0], view, "views-agree"),
                    f"{where}: the GET shows a schedule of {_key(key)} that the {covering[0]} "
                    f"listing of exchange #{covering[1]} did not, with no write in between",
                    covering[1])

    # -- semantic patches ------------------------------------------------------------------

    def _patch(self, route: Route, family: Family, exchange: Exchange,
               instructions: list[Any] | None) -> Iterator[SequenceFinding]:
        response = exchange.response_json
        if instructions is None or not isinstance(response, dict):
            self._forget(route)
            return
        try:
            failed = check_error_indices(response, len(instructions))
        except ContractViolation:
            self._forget(route)
            return
        touched = _touch_counts(route, family, instructions, failed)
        for position, instruction in enumerate(instructions):
            if position in failed or not isinstance(instruction, dict):
                continue
            kind = route.operation.instructions.get(str(instruction.get("kind")))
            missing = [f for f in kind.required if f not in instruction] if kind else []
            if missing:
                yield SequenceFinding(
                    "instruction-counts", f"instruction {position} ({kind.name if kind else ''})"
                    f" lacks {', '.join(missing)}, which its kind needs, and was reported "
                    "successful", None)
            resource, key = _address(route, family, instruction)
            yield from self._apply(resource, key, family, instruction, position,
                                   touched[(resource, key)], exchange.index)
        for resource, _ in touched:
            self._get(resource).segment_version = None  # whether it moves is open
        yield from self._patch_items(route, response, exchange.index)

    def _apply(self, resource: ResourceId, key: ScheduleKey, family: Family,
               instruction: dict[str, Any], position: int, touches: int,
               index: int) -> Iterator[SequenceFinding]:
        state = self._get(resource)
        where = f"{_name(resource)}, instruction {position}"
        kind = instruction.get("kind")
        date = whole_number(instruction.get("value"))
        known = state.facts.get(key)
        if kind == family.add.name:
            if state.targeting is not None and key not in state.targeting:
                yield SequenceFinding(
                    "individual-target-required", f"{where}: an add for {_key(key)} succeeded, "
                    f"but exchange #{state.targeting_origin} showed it is not targeted "
                    "individually there", state.targeting_origin)
            yield from self._other_variation(resource, state, key, where)
            fact = Fact(True, date, None, "successful-take-effect", "views-agree", index, None)
        elif kind == family.update.name:
            yield from self._version_check(state, family, instruction, known, where)
            version = known.version + 1 if known and known.present and known.version is not None \
                else None
            fact = Fact(True, date, version, "successful-take-effect",
                        "update-increments-version", index, None)
        elif kind == family.remove.name:
            if state.targeting is not None and key in state.targeting:
                state.keep_targeted[key] = index
            fact = Fact(False, None, None, "successful-take-effect", "views-agree", index, None)
        else:  # a kind the family does not know, reported successful: its effect is unknown
            state.facts[key] = None
            return
        due = fact.present and (date is None or self._due(date))
        if due:  # it may expire, and the context leave its targeting, at any moment
            state.keep_targeted.pop(key, None)
        state.facts[key] = None if due or touches > 1 else fact

    def _version_check(self, state: Schedules, family: Family, instruction: dict[str, Any],
                       known: Fact | None, where: str) -> Iterator[SequenceFinding]:
        sent = whole_number(instruction.get("version"))
        if sent is None:
            return
        if family.update.version_of == "segment":
            expected, whose = state.segment_version, "the segment's version"
        else:
            expected = known.version if known and known.present else None
            whose = "the schedule's _version"
        if expected is not None and sent != expected:
            yield SequenceFinding("version-mismatch-fails", f"{where}: an update with version "
                                  f"{sent} succeeded, but {whose} was {expected}",
                                  known.origin if known else None)

    def _other_variation(self, resource: ResourceId, state: Schedules, key: ScheduleKey,
                         where: str) -> Iterator[SequenceFinding]:
        if resource[0] != "flag":
            return
        for other, fact in state.facts.items():
            if (fact is not None and fact.present and other[:2] == key[:2] and other != key
                    and not self._due(fact.date)):
                yield SequenceFinding(
                    "one-variation-per-flag", f"{where}: an add for {_key(key)} succeeded while "
                    f"exchange #{fact.origin} showed it scheduled on variation {other[2]!r}",
                    fact.origin)

    def _patch_items(self, route: Route, response: dict[str, Any],
                     index: int) -> Iterator[SequenceFinding]:
        """A PATCH answer's items: what they show must agree with what the request did and
        with later listings; what they hold is open, so they state nothing of what they omit."""
        items = response.get("items")
        if not isinstance(items, list):
            return
        user = route.params.get("userKey")
        for item in items:
            if not isinstance(item, dict):
                continue
            resource = route.resource or ("flag", route.project, route.environment,
                                          str((item.get("_resourceId") or {}).get("key")))
            state = self._get(resource)
            key = _keyed([item], user)[0][0]
            date, version = whole_number(item.get("expirationDate")), whole_number(
                item.get("_version"))
            fact = state.facts.get(key)
            if key in state.facts and (fact is None or not fact.present):
                continue  # unknown, or removed: a remove's result may be listed
            if fact is None:
                state.facts[key] = Fact(True, date, version, "views-agree", "views-agree",
                                        index, "patch")
                continue
            where = f"{_name(resource)}: the PATCH answer lists {_key(key)}"
            if fact.date is not None and date != fact.date:
                yield SequenceFinding(fact.rule, f"{where} with expirationDate {date}, but "
                                      f"exchange #{fact.origin} {_how(fact)} {fact.date}",
                                      fact.origin)
            elif fact.version is not None and version != fact.version:
                yield SequenceFinding(fact.version_rule, f"{where} with _version {version}, but "
                                      f"exchange #{fact.origin} {_how(fact)} {fact.version}",
                                      fact.origin)
            else:
                if fact.version is None:
                    fact.version, fact.version_rule = version, "views-agree"
                continue
            # after a contradiction, what the answer shows (so it is reported once, not again
            # with every later answer)
            state.facts[key] = Fact(True, date, version, "views-agree", "views-agree", index,
                                    "patch")

    # -- segments and flags themselves -----------------------------------------------------

    def _resource(self, route: Route, response: Any, index: int) -> Iterator[SequenceFinding]:
        method = route.operation.method.upper()
        resource = route.created(response) if method == "POST" else route.resource
        if resource is None:
            return
        if method == "DELETE":
            self._forget(route)
            return
        if not isinstance(response, dict):
            return
        for environment, targeting in _targeting(resource, response).items():
            located = (resource[0], resource[1], environment, resource[3])
            if method == "POST":
                self.resources[located] = Schedules(complete={"all": ("created", index)})
            state = self._get(located)
            if method == "GET":
                yield from _kept(located, state, targeting, index)
            else:  # a setup write: schedules of the targets it removed may go with them
                for key in [k for k, f in state.facts.items() if f and k not in targeting]:
                    state.facts[key] = None
            state.keep_targeted.clear()
            state.targeting, state.targeting_origin = targeting, index
            if resource[0] == "segment":
                state.segment_version = whole_number(response.get("version"))


def _touch_counts(route: Route, family: Family, instructions: list[Any],
                  failed: set[int]) -> dict[tuple[ResourceId, ScheduleKey], int]:
    counts: dict[tuple[ResourceId, ScheduleKey], int] = {}
    for position, instruction in enumerate(instructions):
        if position not in failed and isinstance(instruction, dict):
            address = _address(route, family, instruction)
            counts[address] = counts.get(address, 0) + 1
    return counts


def _address(route: Route, family: Family,
             instruction: dict[str, Any]) -> tuple[ResourceId, ScheduleKey]:
    """The resource and schedule an instruction acts on (the per-user endpoint: the flag it
    names, the user in the path)."""
    user = route.params.get("userKey")
    if user is not None:
        resource: ResourceId = ("flag", route.project, route.environment,
                                str(instruction.get("flagKey")))
        return resource, schedule_key({**instruction, "contextKey": None, "userKey": user})
    assert route.resource is not None
    return route.resource, schedule_key(instruction)


def _keyed(items: Iterable[Any], user: str | None) -> list[tuple[ScheduleKey, Any, Any]]:
    keyed = []
    for item in items:
        if isinstance(item, dict):
            named = {**item, "userKey": user} if user is not None else item
            keyed.append((schedule_key(named), item.get("expirationDate"), item.get("_version")))
    return keyed


def _one_variation(resource: ResourceId,
                   shown: Mapping[ScheduleKey, Any]) -> Iterator[SequenceFinding]:
    seen: dict[tuple[str, str], str] = {}
    for kind, key, variation in shown:
        other = seen.setdefault((kind, key), variation)
        if other != variation:
            yield SequenceFinding("one-variation-per-flag", f"{_name(resource)} schedules "
                                  f"{kind} {key!r} on variations {other!r} and {variation!r}",
                                  None)


def _kept(resource: ResourceId, state: Schedules, targeting: frozenset[ScheduleKey],
          index: int) -> Iterator[SequenceFinding]:
    for key, removed_by in state.keep_targeted.items():
        if key not in targeting:
            yield SequenceFinding("remove-keeps-target", f"{_name(resource)}: {_key(key)} is "
                                  f"no longer targeted individually after exchange #{removed_by} "
                                  "removed its schedule", removed_by)


def _targeting(resource: ResourceId, body: Mapping[str, Any]) -> dict[str | None,
                                                                     frozenset[ScheduleKey]]:
    """Who the segment (its environment) or the flag (each environment) targets individually,
    keyed like schedules."""
    if resource[0] == "segment":
        keys = {("user", k, where) for where in ("included", "excluded")
                for k in body.get(where) or [] if isinstance(k, str)}
        for where in ("included", "excluded"):
            for target in body.get(f"{where}Contexts") or []:
                if isinstance(target, dict):
                    keys |= {(str(target.get("contextKind") or "user"), k, where)
                             for k in target.get("values") or [] if isinstance(k, str)}
        return {resource[2]: frozenset(keys)}
    variations = [v.get("_id") for v in body.get("variations") or [] if isinstance(v, dict)]
    found: dict[str | None, frozenset[ScheduleKey]] = {}
    for environment, config in (body.get("environments") or {}).items():
        if resource[2] is not None and environment != resource[2] or not isinstance(config,
                                                                                     dict):
            continue
        keys = set()
        for field_name in ("targets", "contextTargets"):
            for target in config.get(field_name) or []:
                if not isinstance(target, dict):
                    continue
                position = target.get("variation")
                variation = variations[position] if isinstance(position, int) and 0 <= \
                    position < len(variations) else ""
                keys |= {(str(target.get("contextKind") or "user"), k, str(variation))
                         for k in target.get("values") or [] if isinstance(k, str)}
        found[environment] = frozenset(keys)
    return found


def _name(resource: ResourceId) -> str:
    kind, project, environment, key = resource
    return f"{kind} {key!r} ({project}/{environment})"


def _key(key: ScheduleKey) -> str:
    kind, context, where = key
    return f"{kind} {context!r} [{where}]"


def _how(fact: Fact) -> str:
    return "showed" if fact.view is not None else "set it to" if fact.present else "made it"
