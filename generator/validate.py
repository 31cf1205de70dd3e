"""Check the bundle: OpenAPI schema validity plus what the generator itself relies on."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from generator.bundler import HTTP_METHODS, Bundle, resolve_pointer
from generator.config import SEMANTIC_PATCH_MEDIA_TYPE
from generator.errors import Problem, pointer
from generator.naming import snake_case

__all__ = ["check_contract", "check_openapi", "iter_operations"]

_MAX_MESSAGE = 300


def iter_operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """Yield (path, method, operation) in document order."""
    for path, item in (document.get("paths") or {}).items():
        if isinstance(item, dict):
            for method, operation in item.items():
                if method in HTTP_METHODS and isinstance(operation, dict):
                    yield path, method, operation


def _problem(bundle: Bundle, ptr: str, message: str) -> Problem:
    if len(message) > _MAX_MESSAGE:
        message = message[: _MAX_MESSAGE - 3] + "..."
    return Problem(bundle.origin(ptr).name, "", message, ptr)


def check_openapi(bundle: Bundle) -> list[Problem]:
    """Validate the bundle against the OpenAPI 3.0/3.1 schema with openapi-spec-validator."""
    from openapi_spec_validator import OpenAPIV30SpecValidator, OpenAPIV31SpecValidator

    doc = bundle.document
    version = str(doc.get("openapi", ""))
    if not re.fullmatch(r"3\.[01]\.\d+", version):
        return [_problem(bundle, "#/openapi", f"unsupported OpenAPI version {version!r} "
                         "(3.0.x or 3.1.x expected)")]
    cls = OpenAPIV30SpecValidator if version.startswith("3.0") else OpenAPIV31SpecValidator
    problems: list[Problem] = []
    seen: set[str] = set()
    try:
        for error in cls(doc).iter_errors():
            ptr = pointer(*getattr(error, "absolute_path", ()))
            if ptr not in seen:  # one problem per node: the first is the most specific
                seen.add(ptr)
                message = str(error.message).split("\n", 1)[0]
                problems.append(_problem(bundle, ptr, f"invalid OpenAPI: {message}"))
    except Exception as exc:  # noqa: BLE001 - it raises on input too broken to walk
        problems.append(_problem(bundle, "#", f"invalid OpenAPI: {type(exc).__name__}: {exc}"))
    return problems


def check_contract(bundle: Bundle) -> list[Problem]:
    """What the generator needs beyond schema validity: unique, nameable operations, known
    rule ids and well-formed vendor extensions."""
    doc = bundle.document
    problems: list[Problem] = []
    rules = doc.get("x-rules") or {}
    for rule_id, rule in rules.items():
        if not (isinstance(rule, dict) and type(rule.get("tier")) is int
                and isinstance(rule.get("summary"), str)):
            problems.append(_problem(bundle, pointer("x-rules", rule_id),
                                     "a rule must be {tier: int, summary: str}"))
    by_id: dict[str, str] = {}
    by_name: dict[str, str] = {}
    by_route: dict[tuple[str, str], str] = {}
    for path, method, op in iter_operations(doc):
        ptr = pointer("paths", path, method)
        op_id = op.get("operationId")
        if not isinstance(op_id, str) or not op_id.strip():
            problems.append(_problem(bundle, ptr, "operation has no operationId"))
            continue
        if op_id in by_id:
            other = by_id[op_id]
            problems.append(_problem(bundle, pointer("paths", path, method, "operationId"),
                                     f"duplicate operationId {op_id!r} (also at "
                                     f"{bundle.origin(other).name} {other})"))
        by_id.setdefault(op_id, ptr)
        name = snake_case(op_id)
        if by_name.setdefault(name, op_id) != op_id:
            problems.append(_problem(bundle, pointer("paths", path, method, "operationId"),
                                     f"operationId {op_id!r} and {by_name[name]!r} both "
                                     f"become the Python name {name!r}"))
        route = (method, re.sub(r"\{[^}]*\}", "{}", path))
        if route in by_route:
            problems.append(_problem(bundle, ptr, f"{method.upper()} {path} is ambiguous "
                                     f"with {by_route[route]}"))
        by_route.setdefault(route, f"{method.upper()} {path}")
        for index, rule_id in enumerate(op.get("x-rules") or ()):
            if rule_id not in rules:
                problems.append(_problem(bundle, pointer("paths", path, method, "x-rules", index),
                                         f"unknown rule id {rule_id!r} (not in the root x-rules)"))
        if "x-semantic-patch" in op:
            problems.extend(_check_semantic_patch(bundle, ptr, op))
    return problems


def _check_semantic_patch(bundle: Bundle, ptr: str, op: dict[str, Any]) -> list[Problem]:
    problems = []
    ext = op["x-semantic-patch"]
    instructions = ext.get("instructions") if isinstance(ext, dict) else None
    if not isinstance(instructions, dict) or not instructions:
        return [_problem(bundle, ptr + "/x-semantic-patch",
                         "x-semantic-patch needs a non-empty `instructions` map")]
    for kind, spec in instructions.items():
        where = f"{ptr}/x-semantic-patch/instructions/{kind}"
        if not isinstance(spec, dict) or set(spec) - {"required", "optional", "version"}:
            problems.append(_problem(bundle, where, "an instruction kind takes only "
                                     "`required`, `optional` and `version`"))
            continue
        for key in ("required", "optional"):
            value = spec.get(key, [])
            if not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
                problems.append(_problem(bundle, f"{where}/{key}", f"`{key}` must be a list "
                                         "of parameter names"))
        if spec.get("version", "segment") not in ("segment", "target"):
            problems.append(_problem(bundle, f"{where}/version",
                                     "`version` must be `segment` or `target`"))
    body = op.get("requestBody") or {}
    if isinstance(body.get("$ref"), str):
        _, body = resolve_pointer(bundle.document, body["$ref"].lstrip("#"))
    content = (body or {}).get("content") or {}
    wanted = SEMANTIC_PATCH_MEDIA_TYPE.replace(" ", "").lower()
    if not any(str(m).replace(" ", "").lower() == wanted for m in content):
        problems.append(_problem(bundle, ptr + "/requestBody",
                                 f"x-semantic-patch needs the request media type "
                                 f"{SEMANTIC_PATCH_MEDIA_TYPE!r}"))
    return problems
