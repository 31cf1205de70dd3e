"""Comparison with a previous run (``--compare FILE``, ``COMPARE=FILE``): its results.json.

A failure is the same failure in both runs when its rule, operation and test are (its message
is not: Hypothesis finds another example, a server another wrong number). The comparison says
which failures are new, fixed (their test ran to its end this time without them), still
failing, or not re-checked (their test did not run to its end this time: deselected, skipped,
failed through the network, or the run stopped); and which coverage items are newly covered or no longer covered. Only a results.json
of this schema version and of the same target is accepted: anything else would compare things
that are not the same.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..settings import ConfigurationError
from .coverage import Covered

if TYPE_CHECKING:
    from .model import RunData

__all__ = ["LABEL", "Comparison", "FailureKey", "PreviousRun", "compare", "load_previous"]

LABEL = "COMPARE file"
FailureKey = tuple[str, str, str]  # (rule, operation, test)


@dataclass(frozen=True)
class PreviousRun:
    path: Path
    seed: int
    status: str
    failures: Mapping[FailureKey, str]  # its contract failures -> their ids there
    covered: frozenset[Covered]


@dataclass(frozen=True)
class Comparison:
    previous: PreviousRun
    new: tuple[FailureKey, ...]
    fixed: tuple[FailureKey, ...]
    still_failing: tuple[FailureKey, ...]
    not_rechecked: tuple[FailureKey, ...]  # failed then; their test did not finish now
    newly_covered: tuple[Covered, ...]
    no_longer_covered: tuple[Covered, ...]

    def counts(self) -> dict[str, int]:
        return {"new": len(self.new), "fixed": len(self.fixed),
                "still failing": len(self.still_failing),
                "not re-checked": len(self.not_rechecked),
                "newly covered": len(self.newly_covered),
                "no longer covered": len(self.no_longer_covered)}


def _refuse(path: Path, problem: str) -> ConfigurationError:
    return ConfigurationError(f"{LABEL} {path}: {problem}")


def load_previous(path: Path, schema_id: str, target_id: str) -> PreviousRun:
    """The previous run's results.json; refused (one line) unless it is a valid document of
    `schema_id` about `target_id`."""
    import jsonschema  # type: ignore[import-untyped]

    from .results import SCHEMA_PATH

    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise _refuse(path, f"cannot be read ({exc})") from None
    except ValueError as exc:
        raise _refuse(path, f"not JSON ({exc})") from None
    found = document.get("schema") if isinstance(document, dict) else None
    if found != schema_id:
        raise _refuse(path, f"is {found or 'not a results.json'}, not {schema_id}: compare "
                            "with a results.json written by this version of the suite")
    if document.get("target_id") != target_id:
        raise _refuse(path, f"is a run against {document.get('target_id')}, not against "
                            f"{target_id}: compare runs against the same target")
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    error = jsonschema.exceptions.best_match(
        jsonschema.Draft202012Validator(schema).iter_errors(document))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "the document"
        raise _refuse(path, f"not a valid {schema_id} document ({where}: {error.message})")
    return PreviousRun(
        path=path, seed=document["seed"], status=document["status"],
        failures={(f["rule"], f["operation"], f["test"]): f["id"]
                  for f in document["failures"] if not f["infrastructure"]},
        covered=frozenset((c["operation"], c["dimension"], c["item"])
                          for c in document["coverage"] if c["count"]),
    )


def _sorted(keys: Iterable[Any]) -> tuple[Any, ...]:
    return tuple(sorted(set(keys)))


def compare(run: RunData, covered_now: frozenset[Covered]) -> Comparison | None:
    """This run against `run.previous` (None: no previous run given)."""
    previous = run.previous
    if previous is None:
        return None
    now = {(f.rule, f.operation, f.test) for f in run.contract_failures}
    before = set(previous.failures)
    finished = {nodeid for nodeid, result in (*run.tests.items(), *run.checks.items())
                if result.outcome in ("passed", "failed", "known")}  # ran to their end
    gone = before - now
    return Comparison(
        previous=previous, new=_sorted(now - before),
        fixed=_sorted(k for k in gone if k[2] in finished),
        still_failing=_sorted(now & before),
        not_rechecked=_sorted(k for k in gone if k[2] not in finished),
        newly_covered=_sorted(covered_now - previous.covered),
        no_longer_covered=_sorted(previous.covered - covered_now),
    )
