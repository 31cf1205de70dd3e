"""What can be covered of an operation, and what one request used of it, by one set of names.

The coverage report (report/coverage.py), the coverage gate file (report/gate.py) and the
recorder all name a covered thing as an *item* of a *dimension* of an operation, e.g.
``("status", "404")``, ``("instruction", "addExpiringTarget failed: not-targeted")``,
``("rule", "instruction-counts")``, ``("parameter", "Authorization not sent")``,
``("field", "updateExpiringTarget.version sent")``, ``("error code", "not_found")``. The
names are made here and nowhere else, so what the gate file asks for is what the report shows.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from functools import cache
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

from generated.operations import OPERATIONS, RULES, Operation

from .reasons import reasons_for
from .schema import body_properties

__all__ = [
    "DIMENSIONS", "Dimension", "documented", "error_code", "fields_used", "instruction_item",
    "optional_fields", "parameters_used", "sent_item",
]

Dimension = Literal["status", "instruction", "rule", "parameter", "field", "error code"]
DIMENSIONS: tuple[Dimension, ...] = (
    "status", "instruction", "rule", "parameter", "field", "error code")
SENT, NOT_SENT = "sent", "not sent"
INSTRUCTION_OUTCOMES = ("succeeded", "failed")


def sent_item(name: str, sent: bool) -> str:
    return f"{name} {SENT if sent else NOT_SENT}"


def instruction_item(kind: str, outcome: str, reason: str | None = None) -> str:
    return f"{kind} {outcome}" + (f": {reason}" if reason else "")


@cache
def optional_fields(operation_id: str) -> tuple[str, ...]:
    """The body fields a request may leave out: the optional top-level properties of its body
    schemas, and each instruction kind's optional fields as ``kind.field``."""
    operation = OPERATIONS[operation_id]
    top = [name for name, required in body_properties(operation).items() if not required]
    return (*top, *(f"{kind.name}.{name}" for kind in operation.instructions.values()
                    for name in kind.optional))


@cache
def documented(operation_id: str) -> Mapping[Dimension, tuple[str, ...]]:
    """Every item the documents give the operation, by dimension (error codes are open: the
    documents give them only as examples, so none is listed)."""
    operation = OPERATIONS[operation_id]
    instructions = [instruction_item(kind.name, outcome) for kind in
                    operation.instructions.values() for outcome in INSTRUCTION_OUTCOMES]
    if "instruction-counts" in operation.rules:  # 200-with-errors: failures have reasons
        instructions += [instruction_item(kind.name, "failed", reason) for kind in
                         operation.instructions.values() for reason in reasons_for(kind)]
    return {
        "status": tuple(str(code) for code in operation.status_codes),
        "instruction": tuple(sorted(instructions, key=_kind_order(operation))),
        "rule": tuple(rule for rule in operation.rules if RULES[rule].tier == 2),
        "parameter": tuple(sent_item(p.name, sent) for p in operation.parameters
                           if p.location != "cookie"
                           for sent in (True, False) if sent or not p.required),
        "field": tuple(sent_item(name, sent) for name in optional_fields(operation_id)
                       for sent in (True, False)),
        "error code": (),
    }


def _kind_order(operation: Operation) -> Any:
    kinds = list(operation.instructions)
    return lambda item: (kinds.index(item.split(" ", 1)[0]), item)


def parameters_used(operation: Operation, url: str,
                    headers: Iterable[tuple[str, str]]) -> Iterator[str]:
    """Each parameter of the operation, sent or not by this request (a path parameter is
    always sent: the route matched)."""
    query = parse_qs(urlsplit(url).query, keep_blank_values=True)
    names = {name.lower() for name, _ in headers}
    for parameter in operation.parameters:
        sent = (parameter.location == "path"
                or parameter.location == "query" and parameter.name in query
                or parameter.location == "header" and parameter.name.lower() in names)
        if parameter.location != "cookie":
            yield sent_item(parameter.name, sent)


def fields_used(operation: Operation, body: bytes) -> Iterator[str]:
    """Each optional body field, sent or not, of a JSON object body; an instruction's optional
    fields for each instruction of a known kind."""
    try:
        data = json.loads(body) if body else None
    except ValueError:
        return
    if not isinstance(data, dict):
        return
    for name in optional_fields(operation.operation_id):
        if "." not in name:
            yield sent_item(name, name in data)
    instructions = data.get("instructions")
    for instruction in instructions if isinstance(instructions, list) else ():
        kind_name = instruction.get("kind") if isinstance(instruction, dict) else None
        kind = operation.instructions.get(kind_name) if isinstance(kind_name, str) else None
        if kind is None:
            continue
        for field in kind.optional:
            yield sent_item(f"{kind.name}.{field}", field in instruction)


def error_code(status: int, content: bytes) -> str | None:
    """The `code` of an error answer's `{code, message}` body, if it has one."""
    if status < 400:
        return None
    try:
        body = json.loads(content)
    except ValueError:
        return None
    code = body.get("code") if isinstance(body, dict) else None
    return code if isinstance(code, str) else None
