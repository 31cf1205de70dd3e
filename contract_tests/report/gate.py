"""The coverage gate (``--require-coverage FILE``, ``REQUIRE_COVERAGE=FILE``): what a run must
have exercised, and what it did not (its *coverage gaps*).

The file (docs/contract-suite.md, "The coverage gate")::

    operations:
      patchExpiringTargets:
        statuses: [200, 400, 401, 404]
        instructions:
          addExpiringTarget: [succeeded, failed, "failed: not-targeted"]
          updateExpiringTarget: all
        rules: all
        parameters: {Authorization: [sent, not sent]}
        fields: {updateExpiringTarget.version: [sent, not sent]}
        error_codes: [not_found]

Every name is checked against the generated metadata when the file is read, so a typo stops
the run before any request (`FileProblem`: file, line, problem) instead of passing a gate that
asks for nothing. A gap is not a contract failure: the run's status is `coverage-gap`.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from generated.operations import OPERATIONS, RULES

from ..usage import Dimension, documented
from ..yamlfile import FileProblem, LineDict, LineList, load
from .coverage import OperationCoverage, covered

__all__ = ["LABEL", "CoverageGate", "Requirement", "load_gate", "suggest"]

LABEL = "coverage file"
ALL = "all"  # every documented item of a dimension (or of one kind, parameter, field)
# the file's keys -> the dimension they list; the mapping ones are keyed by a subject
KEYS: Mapping[str, Dimension] = {"statuses": "status", "instructions": "instruction",
                                 "rules": "rule", "parameters": "parameter", "fields": "field",
                                 "error_codes": "error code"}
KEY_OF = {dimension: key for key, dimension in KEYS.items()}
BY_SUBJECT = {"instruction", "parameter", "field"}


@dataclass(frozen=True)
class Requirement:
    operation: str
    dimension: Dimension
    item: str
    line: int  # where the file asks for it


@dataclass(frozen=True)
class CoverageGate:
    path: Path
    requirements: tuple[Requirement, ...]

    def gaps(self, coverages: Iterable[OperationCoverage]) -> tuple[Requirement, ...]:
        """What the file lists and the run never exercised."""
        seen = covered(coverages)
        return tuple(r for r in self.requirements
                     if (r.operation, r.dimension, r.item) not in seen)


def suggest(name: object, choices: Iterable[str]) -> str:
    """`(did you mean …?)`, or the choices when nothing is close."""
    options = sorted(choices)
    close = difflib.get_close_matches(str(name), options, n=1)
    return f"(did you mean {close[0]}?)" if close else f"(one of {', '.join(options)})"


class _Reader:
    """Reads one gate file, raising a `FileProblem` at the first mistake."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.found: list[Requirement] = []

    def problem(self, line: int | None, text: str) -> FileProblem:
        return FileProblem(LABEL, self.path, line, text)

    def mapping(self, value: Any, line: int, what: str) -> LineDict:
        if not isinstance(value, LineDict):
            raise self.problem(line, f"{what} must be a mapping")
        return value

    def read(self) -> tuple[Requirement, ...]:
        document = load(self.path, LABEL)
        top = self.mapping(document, getattr(document, "line", 1), "the file")
        for key in top:
            if key != "operations":
                raise self.problem(top.lines[key], f"unknown key {key!r} (the file has one: "
                                                   "operations)")
        if "operations" not in top:
            raise self.problem(top.line, "no `operations:` mapping")
        operations = self.mapping(top["operations"], top.lines["operations"], "`operations`")
        for operation, spec in operations.items():
            line = operations.lines[operation]
            if operation not in OPERATIONS:
                raise self.problem(line, f"unknown operation {operation!r} "
                                         f"{suggest(operation, OPERATIONS)}")
            self.operation(operation, self.mapping(spec, line, f"{operation}"))
        return tuple(self.found)

    def operation(self, operation: str, spec: LineDict) -> None:
        for key, value in spec.items():
            line = spec.lines[key]
            if key not in KEYS:
                raise self.problem(line, f"unknown key {key!r} for {operation} "
                                         f"{suggest(key, KEYS)}")
            dimension = KEYS[key]
            if dimension in BY_SUBJECT:
                self.by_subject(operation, dimension, value, line)
            else:
                self.listed(operation, dimension, value, line)

    def _items(self, value: Any, line: int, what: str) -> list[tuple[Any, int]]:
        if not isinstance(value, LineList) or not value:
            raise self.problem(line, f"{what} must be a non-empty list or `{ALL}`")
        return list(zip(value, value.lines, strict=True))

    def listed(self, operation: str, dimension: Dimension, value: Any, line: int) -> None:
        known = documented(operation)[dimension]
        if value == ALL:
            if not known:
                raise self.problem(line, f"{operation}: the documents give no {dimension}s, so "
                                         f"`{ALL}` asks for nothing; list the ones to require")
            self.found += [Requirement(operation, dimension, item, line) for item in known]
            return
        for raw, at in self._items(value, line, f"{operation}: {KEY_OF[dimension]}"):
            item = str(raw).strip()
            if dimension == "error code":
                if not isinstance(raw, str) or not item:
                    raise self.problem(at, f"{operation}: an error code must be a string")
            elif item not in known:
                raise self.problem(at, self._not_documented(operation, dimension, raw, known))
            self.found.append(Requirement(operation, dimension, item, at))

    @staticmethod
    def _not_documented(operation: str, dimension: Dimension, raw: Any,
                        known: tuple[str, ...]) -> str:
        if dimension == "rule" and raw not in RULES:
            return f"unknown rule {raw!r} {suggest(raw, RULES)}"
        if dimension == "rule":
            return (f"rule {raw!r} is not a tier-2 rule of {operation} "
                    f"(its rules: {', '.join(known)})")
        return (f"{raw!r} is not a documented status code of {operation} "
                f"(its codes: {', '.join(known)})")

    def by_subject(self, operation: str, dimension: Dimension, value: Any, line: int) -> None:
        known = documented(operation)[dimension]
        if value == ALL:
            self.found += [Requirement(operation, dimension, item, line) for item in known]
            return
        subjects = {item.split(" ", 1)[0] for item in known}
        for subject, outcomes in self.mapping(value, line,
                                              f"{operation}: {KEY_OF[dimension]}").items():
            at = value.lines[subject]
            if subject not in subjects:
                raise self.problem(at, f"{operation} has no {dimension} {subject!r} "
                                       f"{suggest(subject, subjects) if subjects else '(none)'}")
            mine = [item for item in known if item.split(" ", 1)[0] == subject]
            if outcomes == ALL:
                self.found += [Requirement(operation, dimension, item, at) for item in mine]
                continue
            for raw, where in self._items(outcomes, at, f"{operation}: {subject}"):
                item = f"{subject} {str(raw).strip()}"
                if item not in mine:
                    raise self.problem(where, f"{raw!r} is not an outcome of {subject} "
                                              f"(one of {', '.join(i.split(' ', 1)[1] for i in mine)})")
                self.found.append(Requirement(operation, dimension, item, where))


def load_gate(path: Path) -> CoverageGate:
    """The gate file at `path`, every name checked (`FileProblem` at the first mistake)."""
    return CoverageGate(path, _Reader(path).read())
