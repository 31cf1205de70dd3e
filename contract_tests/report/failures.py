"""Failures out of exceptions: which rule, which tier, what happened, how to repeat it.

The checks never know about reports: a `checks.ContractViolation` carries its rule id, a
Schemathesis failure names its check (and carries its curl), and an infrastructure failure
(`network.py`) is recognised by its type. Exception groups (Hypothesis' several distinct
failures, Schemathesis' failure groups) are flattened, one failure each.
"""

from __future__ import annotations

import dataclasses
import re
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from hypothesis.errors import Flaky
from schemathesis.core.failures import Failure as SchemathesisFailure
from schemathesis.openapi.checks import AuthScenario, IgnoredAuth

from ..checks import ContractViolation
from ..network import is_infrastructure
from ..recorder import CREDENTIAL_PLACEHOLDERS, Credential, Exchange
from .model import INFRASTRUCTURE, FailureRecord
from .repro import choose, split

__all__ = ["Violation", "failure_records", "reproduction", "violations_of"]

MAX_MESSAGE = 2000  # characters of a failure message kept in the reports

_CURL_BLOCK = re.compile(r"Reproduce with:\s*\n\s*\n((?:[ \t]+\S.*(?:\n|$))+)")
_MASKED = re.compile(r"-H 'Authorization: \[Filtered\]'")  # how Schemathesis hides the token


@dataclass(frozen=True)
class Violation:
    """One failure found in a test's exception: which rule, which tier, what, how to repeat it."""

    rule: str
    tier: str | None  # None: not known from the exception (the test's marker decides)
    message: str
    curl: tuple[str, ...] = ()
    infrastructure: bool = False  # the network or a gateway failed, not the contract
    # Schemathesis' authentication probe failed: the request that failed is the recorded one
    # sent with this credential instead (None: none at all)
    probe: bool = False
    probe_credential: Credential | None = None


def _notes(exc: BaseException) -> str:
    notes = [n for n in getattr(exc, "__notes__", ()) if isinstance(n, str)]
    return ("\n" + "\n".join(notes)) if notes else ""


def _clip(text: str) -> str:
    text = text.strip()
    return text if len(text) <= MAX_MESSAGE else text[:MAX_MESSAGE] + " …(truncated)"


def _curl_in(text: str) -> tuple[str, ...]:
    """The curl command(s) Schemathesis prints under "Reproduce with:"."""
    return tuple(
        line.strip()
        for block in _CURL_BLOCK.findall(text)
        for line in textwrap.dedent(block).splitlines()
        if line.strip()
    )


def _unmasked(curl: tuple[str, ...], credential: Credential) -> tuple[str, ...]:
    """Schemathesis' curls with the credential they carried named as the suite's own curls name
    it (``$LD_API_TOKEN``, in double quotes so that a shell expands it) in place of its
    ``[Filtered]``, so that they can be pasted."""
    header = f'-H "Authorization: {CREDENTIAL_PLACEHOLDERS[credential]}"'
    return tuple(_MASKED.sub(header, line) for line in curl)


def violations_of(exc: BaseException) -> list[Violation]:
    """Every failure an exception stands for; exception groups are flattened."""
    found: list[Violation] = []
    _walk(exc, (), "", found)
    return found


def _walk(exc: BaseException, curl: tuple[str, ...], notes: str, out: list[Violation]) -> None:
    if isinstance(exc, BaseExceptionGroup):
        inner_curl = _curl_in(str(exc.message)) or curl
        for inner in exc.exceptions:
            _walk(inner, inner_curl, notes + _notes(exc), out)
        return
    if isinstance(exc, ContractViolation):
        message = str(exc).removeprefix(f"[{exc.rule}] ")
        out.append(Violation(exc.rule, f"tier{exc.tier}", _clip(message + _notes(exc) + notes)))
    elif isinstance(exc, SchemathesisFailure):
        rule = exc.checks[0] if exc.checks else exc.code
        text = f"{exc.code} {exc.title}" + (f"\n{exc.message}" if exc.message else "")
        credential: Credential | None = None
        if isinstance(exc, IgnoredAuth) and exc.scenario != AuthScenario.NO_AUTH:
            credential = "unknown"  # the probe with made-up credentials
        sent = credential or ("unknown" if isinstance(exc, IgnoredAuth) else "writer")
        out.append(Violation(rule, "tier1", _clip(text), _unmasked(curl, sent),
                             probe=isinstance(exc, IgnoredAuth), probe_credential=credential))
    elif is_infrastructure(exc):
        text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        out.append(Violation(INFRASTRUCTURE, None, _clip(text + _notes(exc) + notes), curl,
                             infrastructure=True))
    elif (cause := _infrastructure_behind(exc)) is not None:
        # raised while an infrastructure failure propagated, e.g. Hypothesis' bookkeeping
        # ("Inconsistent data generation") when a lost request ended an example early
        text = (f"{type(cause).__name__}: {cause}\n(then, while it propagated: "
                f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})")
        out.append(Violation(INFRASTRUCTURE, None, _clip(text + notes), curl,
                             infrastructure=True))
    elif isinstance(exc, Flaky) and isinstance(
            violation := _behind(exc, lambda e: isinstance(e, ContractViolation)),
            ContractViolation):
        # Hypothesis' replay of a failing example met a broken rule earlier than the first
        # run did: what the first run wrote was still there (e.g. removes that remove nothing)
        message = str(violation).removeprefix(f"[{violation.rule}] ")
        out.append(Violation(violation.rule, f"tier{violation.tier}", _clip(
            f"{message}\n(met when Hypothesis replayed the failing example, which then "
            f"reported {type(exc).__name__}: the server's state had not returned to what the "
            "example started from)" + _notes(violation) + notes)))
    else:
        text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        out.append(Violation(type(exc).__name__, None, _clip(text + _notes(exc) + notes)))


def _infrastructure_behind(exc: BaseException) -> BaseException | None:
    """An infrastructure failure this exception was raised while handling, if any."""
    return _behind(exc, is_infrastructure)


def _behind(exc: BaseException, wanted: Callable[[BaseException], bool]) -> BaseException | None:
    """The first exception `exc` was raised while handling (or from) that is `wanted`."""
    seen: set[int] = set()
    current = exc.__cause__ or exc.__context__
    while current is not None and id(current) not in seen:
        if wanted(current):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def reproduction(exchanges: Sequence[Exchange]) -> tuple[str, ...]:
    """The request under test and what was read after it: from the last write onwards."""
    parts = split(exchanges)
    if parts is None:
        return ()
    _, failing, after = parts
    return tuple(e.as_curl() for e in (failing, *after))


def failure_records(
    nodeid: str, operation: str, marker_tier: str, exc: BaseException,
    recent: Sequence[Exchange], setup_writes: Sequence[Exchange], run_id: str | None,
    redact: Callable[[str], str],
) -> list[FailureRecord]:
    """The failure records of one failed test (or operation check). Hypothesis replays each
    distinct failure in turn and raises them together: the recorded exchanges, and so the
    repro, belong to the last one. An interrupt is no failure of the test."""
    found = violations_of(exc)
    repro = None if isinstance(exc, KeyboardInterrupt) else choose(recent, setup_writes, run_id)
    records = []
    for index, violation in enumerate(found):
        mine = repro if index == len(found) - 1 else None
        if mine is not None and violation.probe:
            mine = dataclasses.replace(mine, failing=dataclasses.replace(
                mine.failing, credential=violation.probe_credential))
        curl = violation.curl or (reproduction((mine.failing, *mine.after)) if mine else ())
        records.append(FailureRecord(
            test=redact(nodeid), operation=operation,
            tier=violation.tier or marker_tier, test_tier=marker_tier, rule=violation.rule,
            message=redact(violation.message), reproduction=tuple(redact(c) for c in curl),
            infrastructure=violation.infrastructure,
            repro=None if violation.infrastructure else mine,  # a lost request is no failure
        ))
    return records
