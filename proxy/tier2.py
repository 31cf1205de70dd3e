"""Tier 2 of one exchange: the documented rules that a single request and its answer decide.

- semantic-content-type: a semantic patch without its media type is never taken (2xx);
- well-formed-or-400: a body that does not validate against the request schema is never taken;
- access-control: a request without an Authorization header is never taken;
- the counts and error indices of a 200 answer to a semantic patch (the suite's
  `check_counts` and `check_error_indices`);
- error answers carry `{code, message}` (`check_error_body`, under the rule of their status);
- rate-limit: a 429 says when to come back (Retry-After) and the window (X-Ratelimit-*).

A check only fails an answer the documents rule out: a refusal where the order of checks is open
(a malformed body to an unknown segment: 400 or 404) passes.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from contract_tests.checks import (
    ContractViolation,
    check_counts,
    check_error_body,
    check_error_indices,
)
from generated.operations import SEMANTIC_PATCH_MEDIA_TYPE, Operation, RuleId

from . import schemas
from .exchange import NOT_JSON, Exchange
from .routing import Route

__all__ = ["check", "instructions_of", "violation"]

Finding = tuple[str, str]
RATE_LIMIT_REMAINING = ("x-ratelimit-global-remaining", "x-ratelimit-route-remaining")


def violation(exc: ContractViolation) -> Finding:
    return exc.rule, str(exc).removeprefix(f"[{exc.rule}] ")


def instructions_of(exchange: Exchange, operation: Operation) -> list[Any] | None:
    """The instructions of a semantic patch sent with its media type and a body that validates
    against the operation's request schema; None for anything else."""
    media_type = schemas.request_media_type(operation, exchange.request_header("content-type"))
    body = exchange.request_json
    if media_type != SEMANTIC_PATCH_MEDIA_TYPE or not isinstance(body, dict):
        return None
    instructions = body.get("instructions")
    if not isinstance(instructions, list):
        return None
    if schemas.first_error(operation, None, media_type, body) is not None:
        return None
    return instructions


def check(exchange: Exchange, route: Route, instructions: list[Any] | None) -> Iterator[Finding]:
    """`instructions`: what `instructions_of` found in the request."""
    operation, status = route.operation, exchange.status_code
    rules = operation.rules
    media_type = schemas.request_media_type(operation, exchange.request_header("content-type"))
    taken = 200 <= status < 300
    if taken and exchange.credential is None and "access-control" in rules:
        yield "access-control", f"HTTP {status} to a request without an Authorization header"
    semantic_only = "semantic-content-type" in rules
    if taken and semantic_only and media_type != SEMANTIC_PATCH_MEDIA_TYPE:
        yield ("semantic-content-type", (f"HTTP {status} to a semantic patch sent with "
               f"Content-Type {exchange.request_header('content-type')!r}"))
    elif taken and media_type is not None and "well-formed-or-400" in rules:
        problem = _malformed(exchange, operation, media_type)
        if problem is not None:
            yield ("well-formed-or-400",
                   f"HTTP {status} to a body that does not validate: {problem}")
    if 400 <= status < 500:
        rule = _error_rule(operation, status, semantic_only and
                           media_type != SEMANTIC_PATCH_MEDIA_TYPE)
        if rule is not None:
            try:
                check_error_body(rule, exchange)
            except ContractViolation as exc:
                yield violation(exc)
    if status == 429 and "rate-limit" in rules:
        yield from _rate_limited(exchange)
    body = exchange.response_json
    if status == 200 and "instruction-counts" in rules and instructions is not None and \
            isinstance(body, dict):
        for count_check in (check_counts, check_error_indices):
            try:
                count_check(body, len(instructions))
            except ContractViolation as exc:
                yield violation(exc)


def _malformed(exchange: Exchange, operation: Operation, media_type: str) -> str | None:
    body = exchange.request_json
    if body is NOT_JSON:
        return "the body is not JSON"
    return schemas.first_error(operation, None, media_type, body)


# the rule an error answer's status belongs to (a 400 to a body without the semantic-patch
# media type: semantic-content-type)
_ERROR_RULES: dict[int, RuleId] = {400: "well-formed-or-400", 401: "access-control",
                                   403: "access-control", 404: "access-control",
                                   409: "instruction-counts", 429: "rate-limit"}


def _error_rule(operation: Operation, status: int, without_media_type: bool) -> RuleId | None:
    """The rule whose error answer this is (the error body belongs to it)."""
    rule = ("semantic-content-type" if status == 400 and without_media_type
            else _ERROR_RULES.get(status))
    return rule if rule in operation.rules else None


def _rate_limited(exchange: Exchange) -> Iterator[Finding]:
    if exchange.response_header("retry-after") is None:
        yield "rate-limit", "HTTP 429 without a Retry-After header"
    if exchange.response_header("x-ratelimit-reset") is None or not any(
            exchange.response_header(name) is not None for name in RATE_LIMIT_REMAINING):
        yield ("rate-limit", ("HTTP 429 without the X-Ratelimit-Reset and "
               "X-Ratelimit-*-Remaining headers of its window"))
