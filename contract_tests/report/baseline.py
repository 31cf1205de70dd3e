"""Known deviations (``--known FILE``, ``KNOWN=FILE``): failures a team has accepted for now.

The file (docs/contract-suite.md, "Known deviations")::

    known:
      - rule: instruction-counts
        operation: patchExpiringTargets
        match: "totalInstructions"        # optional: a substring of the message, or /regex/
        reason: "PROJ-123: counts are off by one until the 2.4 release"
        expires: 2026-12-31               # optional: excuses nothing after that day

A contract failure with that rule and operation (and, with `match`, a message that matches) is
*known*: reported, but not failing. An expired entry excuses nothing (the failures it matches
fail the run, so the team has to look again) and is listed for renewal or removal; an entry
that matches no failure of the run is *stale* and listed for removal (a warning: it does not
fail the run).
"""

from __future__ import annotations

import dataclasses
import datetime
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from generated.operations import OPERATIONS, RULES

from ..tier1_checks import CHECK_NAMES
from ..yamlfile import FileProblem, LineDict, load
from .gate import suggest
from .model import ALL_OPERATIONS, FailureRecord, RunData

__all__ = ["LABEL", "Baseline", "DeviationState", "KnownDeviation", "load_baseline"]

LABEL = "known-deviations file"
KEYS = ("rule", "operation", "match", "reason", "expires")
State = Literal["matched", "expired", "stale"]


@dataclass(frozen=True)
class KnownDeviation:
    line: int
    rule: str
    operation: str
    reason: str
    match: str | None = None  # a substring of the message, or a /regex/
    expires: datetime.date | None = None  # the last day it excuses anything

    def matches(self, record: FailureRecord) -> bool:
        if (record.rule, record.operation) != (self.rule, self.operation):
            return False
        if self.match is None:
            return True
        if len(self.match) > 1 and self.match.startswith("/") and self.match.endswith("/"):
            return re.search(self.match[1:-1], record.message) is not None
        return self.match in record.message

    def expired(self, today: datetime.date) -> bool:
        return self.expires is not None and today > self.expires

    def describe(self) -> str:
        """How the reports name it: its line, rule and operation."""
        return f"line {self.line}: {self.rule} on {self.operation}"


@dataclass(frozen=True)
class DeviationState:
    entry: KnownDeviation
    state: State
    failures: tuple[int, ...]  # indices into RunData.failures of the failures it matched


@dataclass(frozen=True)
class Baseline:
    path: Path
    entries: tuple[KnownDeviation, ...]

    def apply(self, run: RunData, today: datetime.date) -> tuple[DeviationState, ...]:
        """Mark the failures a live entry matches as known (an entry that has expired excuses
        nothing), settle the outcomes they change, and say what became of each entry."""
        matched: dict[int, list[int]] = {i: [] for i in range(len(self.entries))}
        for index, record in enumerate(run.failures):
            chosen = self._entry_for(record, today)
            if chosen is None:
                continue
            matched[chosen].append(index)
            entry = self.entries[chosen]
            if not entry.expired(today):
                run.failures[index] = dataclasses.replace(record, known=entry.reason)
        run.settle_known()
        return tuple(DeviationState(entry, "expired" if entry.expired(today) else
                                    "matched" if matched[i] else "stale", tuple(matched[i]))
                     for i, entry in enumerate(self.entries))

    def _entry_for(self, record: FailureRecord, today: datetime.date) -> int | None:
        """The first entry that matches a contract failure, a live one before an expired one."""
        if record.infrastructure:
            return None
        candidates = [i for i, e in enumerate(self.entries) if e.matches(record)]
        live = [i for i in candidates if not self.entries[i].expired(today)]
        return next(iter(live or candidates), None)


def _entry(path: Path, raw: Any, line: int) -> KnownDeviation:
    def problem(at: int, text: str) -> FileProblem:
        return FileProblem(LABEL, path, at, text)

    if not isinstance(raw, LineDict):
        raise problem(line, "an entry must be a mapping with rule, operation and reason")
    for key in raw:
        if key not in KEYS:
            raise problem(raw.lines[key], f"unknown key {key!r} {suggest(key, KEYS)}")
    for key in ("rule", "operation", "reason"):
        if not isinstance(raw.get(key), str) or not raw[key].strip():
            raise problem(raw.lines.get(key, line), f"the entry needs `{key}:` (a string)")
    rules = {*RULES, *CHECK_NAMES}
    if raw["rule"] not in rules:
        raise problem(raw.lines["rule"], f"unknown rule {raw['rule']!r} {suggest(raw['rule'], rules)}")
    operations = {*OPERATIONS, ALL_OPERATIONS}
    if raw["operation"] not in operations:
        raise problem(raw.lines["operation"], f"unknown operation {raw['operation']!r} "
                                              f"{suggest(raw['operation'], operations)}")
    match = raw.get("match")
    if match is not None:
        if not isinstance(match, str) or not match:
            raise problem(raw.lines["match"], "`match:` must be a non-empty string")
        if len(match) > 1 and match.startswith("/") and match.endswith("/"):
            try:
                re.compile(match[1:-1])
            except re.error as exc:
                raise problem(raw.lines["match"], f"`match:` is not a regular expression "
                                                  f"({exc})") from None
    return KnownDeviation(line, raw["rule"], raw["operation"], raw["reason"].strip(), match,
                          _date(raw.get("expires"), lambda text: problem(
                              raw.lines.get("expires", line), text)))


def _date(value: Any, problem: Callable[[str], FileProblem]) -> datetime.date | None:
    if value is None:
        return None
    try:
        if isinstance(value, str) and len(value) == 10:
            return datetime.date.fromisoformat(value)
    except ValueError:
        pass
    raise problem(f"`expires:` {value!r} is not a date (YYYY-MM-DD)")


def load_baseline(path: Path) -> Baseline:
    """The known-deviations file at `path`, every entry checked (`FileProblem` at the first
    mistake)."""
    document = load(path, LABEL)
    if not isinstance(document, LineDict) or "known" not in document:
        raise FileProblem(LABEL, path, getattr(document, "line", 1),
                          "expected a mapping with a `known:` list")
    for key in document:
        if key != "known":
            raise FileProblem(LABEL, path, document.lines[key],
                              f"unknown key {key!r} (the file has one: known)")
    entries = document["known"]
    if not isinstance(entries, list):
        raise FileProblem(LABEL, path, document.lines["known"], "`known:` must be a list")
    lines: Iterable[int] = getattr(entries, "lines", ())
    return Baseline(path, tuple(_entry(path, raw, line)
                                for raw, line in zip(entries, lines, strict=True)))
