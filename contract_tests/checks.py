"""Tier-2 checks: one small function per documented rule, each failing with the rule's id.

A check takes plain data (what was sent, what came back, what a GET shows) and raises
`ContractViolation` carrying the rule id from `generated.operations.RULES`, so the report can
group failures by rule and tier without the checks knowing about reports. Each check also says
that it ran (`checked`), whether it holds or not: the coverage report counts the rules a run
actually exercised, per operation, through the listener the suite installs (`listen`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from generated.operations import RULES, RuleId

from .families import ScheduleKey

__all__ = [
    "ContractViolation",
    "Expectation",
    "PolicyViolation",
    "check_200_with_errors",
    "check_counts",
    "check_error_body",
    "check_error_indices",
    "check_expected_outcomes",
    "check_patch_items_agree",
    "check_request_applied",
    "check_schedules_targeted",
    "check_state",
    "check_status",
    "check_targets_kept",
    "check_users_match_contexts",
    "check_visible",
    "checked",
    "listen",
    "reasons_of",
    "require_status",
    "whole_number",
]

Schedules = Mapping[ScheduleKey, tuple[int, int]]  # key -> (expirationDate, _version)
_listener: Callable[[str], None] | None = None


def listen(listener: Callable[[str], None] | None) -> None:
    """Tell `listener` the rule of every check that runs from now on (None: nobody)."""
    global _listener
    _listener = listener


def checked(rule: RuleId) -> None:
    """A check of `rule` is being made (it may hold or not): what coverage counts as the rule
    exercised. Checks that are not functions here call it where they make theirs."""
    if _listener is not None:
        _listener(rule)


class ContractViolation(AssertionError):
    """A server broke a documented rule; `rule` is its id in the generated metadata."""

    def __init__(self, rule: RuleId, message: str) -> None:
        assert rule in RULES, f"unknown rule {rule!r}"
        self.rule: str = rule  # a PolicyViolation's is "policy:<id>"
        self.tier = RULES[rule].tier
        super().__init__(f"[{rule}] {message}")


class PolicyViolation(ContractViolation):
    """The kit's mock departed from its own documented policy (tier 3: the "Reference policy"
    table of docs/mock-server.md). The policy is not a rule of the contract, so `rule` is
    `policy:<id>`, not a key of RULES (the only ContractViolation whose rule is not)."""

    def __init__(self, policy: str, message: str) -> None:
        self.rule = f"policy:{policy}"
        self.tier = 3
        AssertionError.__init__(self, f"[{self.rule}] {message}")


@dataclass(frozen=True)
class Expectation:
    """What the rules say must happen to one instruction of a request."""

    index: int
    must_succeed: bool
    why: str
    key: ScheduleKey | None = None
    schedule: int | None = None  # succeeds -> this expiration date; None with key: unschedule
    version_bump_from: int | None = None  # an update: the _version it must grow from
    reason: str | None = None  # must fail: the documented reason why (reasons.py), if it has one


def reasons_of(expectations: Iterable[Expectation]) -> dict[int, str]:
    """index -> documented reason of each instruction that must fail for one
    (`Recorder.expecting`)."""
    return {e.index: e.reason for e in expectations if not e.must_succeed and e.reason}


def check_status(rule: RuleId, response: Any, expected: int, what: str) -> None:
    """The answer's status is what `rule` says it must be."""
    checked(rule)
    require_status(rule, response, expected, what)


def require_status(rule: RuleId, response: Any, expected: int, what: str) -> None:
    """A status the checks need in order to go on (a GET that reads the state); a wrong one is
    reported under `rule`, but does not count as a check of it."""
    if response.status_code != expected:
        excerpt = response.content[:200].decode("utf-8", "replace")
        raise ContractViolation(
            rule, f"{what}: expected HTTP {expected}, got {response.status_code}: {excerpt}"
        )


def check_error_body(rule: RuleId, response: Any, code: str | None = None) -> str:
    """Errors carry {code, message}, both strings (the seeds' error schemas); with `code`, that
    code (the kit's mock: tier 3; the documents give codes only as examples). Returns the code."""
    checked(rule)
    try:
        body = response.json()
    except ValueError:
        raise ContractViolation(rule, f"HTTP {response.status_code} body is not JSON") from None
    if not isinstance(body, dict) or not all(
        isinstance(body.get(f), str) for f in ("code", "message")
    ):
        raise ContractViolation(rule, f"error body is not {{code, message}}: {body!r:.200}")
    if code is not None and body["code"] != code:
        raise ContractViolation(rule, f"error code {body['code']!r}, expected {code!r}")
    return body["code"]  # type: ignore[no-any-return]


def check_200_with_errors(response: Any, sent: int) -> dict[str, Any]:
    """A well-formed semantic patch answers 200, whatever its instructions' fate."""
    check_status("instruction-counts", response, 200,
                 f"well-formed request with {sent} instruction(s)")
    body = response.json()
    if not isinstance(body, dict):
        raise ContractViolation("instruction-counts", "200 body is not an object")
    return body  # type: ignore[no-any-return]


def whole_number(value: Any) -> int | None:
    """`value` as an int when JSON Schema calls it an integer (`1` and `1.0` alike: the
    specs are OpenAPI 3.1, JSON Schema 2020-12, where an integer is any number with a zero
    fractional part), else None. A boolean is not a number."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _count(body: Mapping[str, Any], name: str) -> int | None:
    """A count of the PATCH answer; None when the server left it out (the schema makes it
    optional), a violation when it is there and not an integer."""
    if name not in body:
        return None
    value = whole_number(body[name])
    if value is None:
        raise ContractViolation("instruction-counts", f"{name} is {body[name]!r}, not an integer")
    return value


def check_counts(body: Mapping[str, Any], sent: int) -> None:
    """The counts a PATCH answer gives are right. Each is optional in the schema: one left out
    states nothing; one given must agree with what was sent and with `errors`."""
    checked("instruction-counts")
    total, ok, failed = (_count(body, n) for n in
                         ("totalInstructions", "successfulInstructions", "failedInstructions"))
    errors = body.get("errors") or []
    if total is not None and total != sent:
        raise ContractViolation("instruction-counts",
                                f"totalInstructions {total}, but {sent} were sent")
    if ok is not None and failed is not None and ok + failed != sent:
        raise ContractViolation("instruction-counts",
                                f"successful {ok} + failed {failed} != {sent} sent")
    if failed is not None and failed != len(errors):
        raise ContractViolation("instruction-counts",
                                f"failedInstructions {failed}, but {len(errors)} errors listed")
    if ok is not None and ok != sent - len(errors):
        raise ContractViolation("instruction-counts",
                                f"successfulInstructions {ok}, but {len(errors)} of {sent} "
                                "instructions are listed as failed")


def check_error_indices(body: Mapping[str, Any], sent: int) -> set[int]:
    checked("error-indices")
    indices = []
    for error in body.get("errors") or []:
        raw = error.get("instructionIndex") if isinstance(error, dict) else None
        index = whole_number(raw)
        if index is None or not 0 <= index < sent:
            raise ContractViolation("error-indices",
                                    f"instructionIndex {raw!r} is not in 0..{sent - 1}")
        if not isinstance(error.get("message"), str):
            raise ContractViolation("error-indices", f"error {index} has no message string")
        indices.append(index)
    if len(set(indices)) != len(indices):
        raise ContractViolation("error-indices", f"instructionIndex repeated: {sorted(indices)}")
    return set(indices)


def check_expected_outcomes(
    expectations: Sequence[Expectation], failed: set[int], rule_of: Mapping[int, RuleId]
) -> None:
    """Instructions the rules say must fail are in `errors`; those that must succeed are not."""
    for expectation in expectations:
        checked(_rule_of(expectation, rule_of))
        if expectation.must_succeed and expectation.index in failed:
            raise ContractViolation(
                "successful-take-effect",
                f"instruction {expectation.index} ({expectation.why}) was reported failed",
            )
        if not expectation.must_succeed and expectation.index not in failed:
            raise ContractViolation(
                _rule_of(expectation, rule_of),
                f"instruction {expectation.index} ({expectation.why}) should have failed "
                "but is not in errors",
            )


def _rule_of(expectation: Expectation, rule_of: Mapping[int, RuleId]) -> RuleId:
    """The rule an instruction's documented fate belongs to."""
    if expectation.must_succeed:
        return "successful-take-effect"
    return rule_of.get(expectation.index, "instruction-counts")


def _dates(schedules: Schedules) -> dict[ScheduleKey, int]:
    return {key: date for key, (date, _) in schedules.items()}


def _expected_dates(before: Schedules, expectations: Iterable[Expectation]
                    ) -> dict[ScheduleKey, int]:
    """The schedules' dates once the instructions that must succeed took effect."""
    expected = _dates(before)
    for e in expectations:
        if e.must_succeed and e.key is not None:
            if e.schedule is None:
                expected.pop(e.key, None)
            else:
                expected[e.key] = e.schedule
    return expected


def check_state(before: Schedules, after: Schedules, expectations: Iterable[Expectation]) -> None:
    """A GET afterwards shows exactly the successful instructions' effects."""
    expectations = list(expectations)
    expected = _expected_dates(before, expectations)
    bumps = {e.key: e.version_bump_from for e in expectations
             if e.must_succeed and e.key is not None and e.version_bump_from is not None}
    checked("successful-take-effect")
    if bumps:
        checked("update-increments-version")
    actual = _dates(after)
    for key in sorted(set(expected) | set(actual)):
        if expected.get(key) != actual.get(key):
            raise ContractViolation(
                "successful-take-effect", f"schedule {key}: GET shows {actual.get(key)!r},"
                f" expected {expected.get(key)!r} after the instructions' effects"
            )
    for key, old in bumps.items():
        if after[key][1] != old + 1:
            raise ContractViolation(
                "update-increments-version",
                f"schedule {key}: _version {after[key][1]} after an update of _version {old}",
            )


PARTIAL, ATOMIC = "the other instructions took effect", "none took effect (atomic)"


def check_request_applied(expectations: Sequence[Expectation], failed: set[int],
                          rule_of: Mapping[int, RuleId], before: Schedules,
                          after: Schedules) -> str | None:
    """A 200 answer to a request whose instructions have documented fates; which of the two
    readings the server follows (None: the request cannot tell them apart). The seeds: a
    well-formed request whose instructions partly fail gets 200 with `errors`, and
    `successfulInstructions` counts the others — they took effect.
    The reference spec's general section: "Semantic patches are not applied partially; either
    all of the instructions are applied or none of them are" — nothing took effect, and then
    every instruction is reported failed. Either passes; the instructions that must fail are in
    `errors` under both."""
    for e in expectations:
        if not e.must_succeed:
            checked(_rule_of(e, rule_of))
        if not e.must_succeed and e.index not in failed:
            raise ContractViolation(_rule_of(e, rule_of),
                                    f"instruction {e.index} ({e.why}) should have failed but is "
                                    "not in errors")
    succeeding = [e for e in expectations if e.must_succeed]
    if not succeeding or len(succeeding) == len(expectations):
        check_expected_outcomes(expectations, failed, rule_of)
        check_state(before, after, expectations)
        return None  # nothing fails, or nothing may succeed: the readings agree
    # atomic: nothing took effect, and the answer says so of every instruction (one that
    # reports an instruction successful which did not take effect is wrong by either reading)
    if after == before and all(e.index in failed for e in succeeding):
        checked("successful-take-effect")
        return ATOMIC
    check_expected_outcomes(expectations, failed, rule_of)
    check_state(before, after, expectations)
    return PARTIAL


def check_visible(schedules: Schedules, intended: Mapping[ScheduleKey, int], what: str) -> None:
    """A GET shows exactly the schedules just written, with their dates."""
    checked("successful-take-effect")
    shown = {key: date for key, (date, _) in schedules.items()}
    if shown != dict(intended):
        raise ContractViolation("successful-take-effect",
                                f"{what}: GET shows {shown}, expected {dict(intended)}")


def check_targets_kept(keys: Iterable[ScheduleKey], targeted: set[ScheduleKey]) -> None:
    checked("remove-keeps-target")
    for key in keys:
        if key not in targeted:
            raise ContractViolation(
                "remove-keeps-target",
                f"{key} is no longer targeted individually after its schedule was removed",
            )


def check_users_match_contexts(users: Schedules, contexts: Schedules, where: str) -> None:
    checked("users-are-contexts")
    user_contexts = {k: v for k, v in contexts.items() if k[0] == "user"}
    if dict(users) != user_contexts:
        raise ContractViolation(
            "users-are-contexts",
            f"{where}: the user endpoint shows {dict(users)}, the context endpoint shows "
            f"{user_contexts} for kind user",
        )


def check_patch_items_agree(items: Iterable[tuple[ScheduleKey, Any, Any]], after: Schedules,
                            where: str) -> None:
    """A PATCH answer's items say the same as the GET right after it about every schedule both
    show. What `items` holds is open (tier 3: all schedules, the touched ones, none; a removed
    one as the result of its instruction), so a listed schedule the GET does not show is no
    violation; a date or `_version` that differs is."""
    checked("views-agree")
    for key, date, version in items:
        if key in after and after[key] != (date, version):
            raise ContractViolation(
                "views-agree", f"{where}: the PATCH answer lists {key} with expirationDate "
                f"{date!r}, _version {version!r}; the GET right after shows {after[key]}")


def check_schedules_targeted(schedules: Iterable[ScheduleKey], targeted: set[ScheduleKey],
                             where: str) -> None:
    """Every listed schedule belongs to a context that is targeted individually there (in that
    segment list, with that flag variation): nothing else can be scheduled."""
    checked("views-agree")
    for key in schedules:
        if key not in targeted:
            raise ContractViolation(
                "views-agree", f"{where} lists a schedule for {key}, which the segment or flag "
                "does not target individually there")
