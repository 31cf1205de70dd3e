"""Check the bundle: OpenAPI schema validity plus what the generator itself relies on."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from generator.bundler import HTTP_METHODS, Bundle, resolve_pointer
from generator.config import SEMANTIC_PATCH_MEDIA_TYPE
from generator.errors import Problem, pointer
from generator.naming import snake_case
from generator.schemas import draft4_fast_path, schema_errors

__all__ = ["check_contract", "check_openapi", "iter_operations"]

_MAX_MESSAGE = 300


def iter_operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """Yield (path, method, operation) in document order."""
    for path, item in (document.get("paths") or {}).items():
        if isinstance(item, dict):
            for method, operation in item.items():
                if method in HTTP_METHODS and isinstance(operation, dict):
                    yield path, method, operation


ACTIONS = ("add", "update", "remove")  # what an instruction kind does (x-semantic-patch)
_KIND_KEYS = ("action", "required", "optional", "version", "list", "contextKind")


def _problem(bundle: Bundle, ptr: str, message: str) -> Problem:
    if len(message) > _MAX_MESSAGE:
        message = message[: _MAX_MESSAGE - 3] + "..."
    return Problem(bundle.origin(ptr).name, "", message, ptr)


def check_openapi(bundle: Bundle) -> list[Problem]:
    """Validate the bundle against the OpenAPI 3.0/3.1 schema with openapi-spec-validator, and
    every Schema Object in it against its dialect (:mod:`generator.schemas`)."""
    doc = bundle.document
    version = str(doc.get("openapi", ""))
    if not re.fullmatch(r"3\.[01]\.\d+", version):
        return [_problem(bundle, "#/openapi", f"unsupported OpenAPI version {version!r} "
                         "(3.0.x or 3.1.x expected)")]
    problems = [_problem(bundle, ptr, f"invalid OpenAPI: {message}")
                for ptr, message in schema_errors(doc)]
    located = {(problem.pointer, problem.message) for problem in problems}
    seen: set[str] = set()
    try:
        for error in _located_validator(version)(doc).iter_errors():
            ptr = pointer(*getattr(error, _NODE, ()), *getattr(error, "absolute_path", ()))
            message = str(error.message).split("\n", 1)[0]
            problem = _problem(bundle, ptr, f"invalid OpenAPI: {message}")
            if ptr in seen or _reported(located, ptr, problem.message):
                continue  # one problem per node: the first is the most specific
            seen.add(ptr)
            problems.append(problem)
    except Exception as exc:  # noqa: BLE001 - it raises on input too broken to walk
        problems.append(_problem(bundle, "#", f"invalid OpenAPI: {type(exc).__name__}: {exc}"))
    return problems


_NODE = "generator_node_parts"  # where in the document a keyword validator's error arose


def _located_validator(version: str) -> Any:
    """openapi-spec-validator's validator for ``version``, with each of its keyword validators
    noting on the errors it yields the node it was checking: its own errors (a duplicate
    parameter, `required` naming no property, ...) carry no path, and a schema's carry one
    relative to the schema only."""
    from jsonschema_path import SchemaPath
    from openapi_spec_validator import OpenAPIV30SpecValidator, OpenAPIV31SpecValidator

    base = OpenAPIV30SpecValidator if version.startswith("3.0") else OpenAPIV31SpecValidator

    def located(keyword: type[Any]) -> type[Any]:
        class Located(keyword):  # type: ignore[misc,valid-type]
            def __call__(self, *args: Any, **kwargs: Any) -> Iterator[Any]:
                node = next((a for a in args if isinstance(a, SchemaPath)), None)
                for error in super().__call__(*args, **kwargs):
                    if node is not None and not hasattr(error, _NODE):  # the innermost node
                        setattr(error, _NODE, tuple(node.parts))
                    yield error

        return Located

    keywords = {name: located(keyword) for name, keyword in base.keyword_validators.items()}
    if version.startswith("3.0"):
        keywords["schema"] = _fast_meta_check(keywords["schema"])
    return type(base.__name__, (base,), {"keyword_validators": keywords})


def _fast_meta_check(keyword: type[Any]) -> type[Any]:
    """The schema keyword, its meta-schema check decided by :func:`draft4_fast_path` where that
    can: each schema it reaches is checked against OAS 3.0's meta-schema, the check
    :func:`schema_errors` has made of every Schema Object already; jsonschema's, a large share
    of the validator's time (docs/generator.md), runs only for a schema the fast path does not
    pass, so what is reported and what is skipped after it stay the same."""
    passes = draft4_fast_path()

    class FastMeta(keyword):  # type: ignore[misc,valid-type]
        def _validate_schema_meta(self, schema: Any, schema_value: Any) -> Any:
            if passes(schema_value):
                return None
            return super()._validate_schema_meta(schema, schema_value)

    return FastMeta


def _reported(located: set[tuple[str, str]], ptr: str, message: str) -> bool:
    """Whether a schema error is one :func:`schema_errors` located: openapi-spec-validator
    gives it with the pointer inside the schema only (``#/properties/x/type``)."""
    return any(found.endswith(ptr[1:]) and text == message for found, text in located)


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
        problems.extend(_check_path_parameters(bundle, path, method, op))
        if "x-semantic-patch" in op:
            problems.extend(_check_semantic_patch(bundle, ptr, op))
    gets = {op.get("operationId") for _, method, op in iter_operations(doc) if method == "get"}
    for path, method, op in iter_operations(doc):
        ext = op.get("x-semantic-patch")
        state = ext.get("state") if isinstance(ext, dict) else None
        if ext is not None and state not in gets:
            problems.append(_problem(bundle, pointer("paths", path, method, "x-semantic-patch",
                                                     "state"),
                                     f"`state` must name the GET operationId that shows what "
                                     f"the instructions change, not {state!r}"))
    return problems


def _check_path_parameters(bundle: Bundle, path: str, method: str,
                           op: dict[str, Any]) -> list[Problem]:
    """Each ``{name}`` of the path declared as an ``in: path`` parameter, and no other. Checked
    here because openapi-spec-validator reports it with no location in any file."""
    declared: dict[str, str] = {}  # name -> pointer of its declaration
    item = bundle.document["paths"][path]
    for where, parameters in ((("paths", path), item.get("parameters")),
                              (("paths", path, method), op.get("parameters"))):
        for index, raw in enumerate(parameters if isinstance(parameters, list) else ()):
            parameter = _deref(bundle, raw)
            if isinstance(parameter, dict) and parameter.get("in") == "path":
                declared[str(parameter.get("name"))] = pointer(*where, "parameters", index)
    in_path = re.findall(r"\{([^{}]+)\}", path)
    problems = [
        _problem(bundle, pointer("paths", path, method, *(("parameters",) if "parameters" in op
                                                            else ())),
                 f"{method.upper()} {path}: path parameter {name!r} is not declared "
                 "(a parameter with `in: path`)")
        for name in in_path if name not in declared
    ]
    problems += [_problem(bundle, ptr, f"parameter {name!r} is declared `in: path`, but "
                                       f"{path} has no {{{name}}}")
                 for name, ptr in declared.items() if name not in in_path]
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
        if not isinstance(spec, dict) or set(spec) - set(_KIND_KEYS):
            problems.append(_problem(bundle, where, "an instruction kind takes only "
                                     + ", ".join(f"`{key}`" for key in _KIND_KEYS)))
            continue
        if spec.get("action") not in ACTIONS:
            problems.append(_problem(bundle, f"{where}/action",
                                     f"`action` must be one of {', '.join(ACTIONS)}"))
        for key in ("required", "optional"):
            value = spec.get(key, [])
            if not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
                problems.append(_problem(bundle, f"{where}/{key}", f"`{key}` must be a list "
                                         "of parameter names"))
        for key in ("list", "contextKind"):
            if not isinstance(spec.get(key, ""), str):
                problems.append(_problem(bundle, f"{where}/{key}", f"`{key}` must be a string"))
        if spec.get("version", "segment") not in ("segment", "target"):
            problems.append(_problem(bundle, f"{where}/version",
                                     "`version` must be `segment` or `target`"))
    body = _deref(bundle, op.get("requestBody") or {})
    content = (body or {}).get("content") or {}
    wanted = SEMANTIC_PATCH_MEDIA_TYPE.replace(" ", "").lower()
    media = next((m for m in content if str(m).replace(" ", "").lower() == wanted), None)
    if media is None:
        problems.append(_problem(bundle, ptr + "/requestBody",
                                 f"x-semantic-patch needs the request media type "
                                 f"{SEMANTIC_PATCH_MEDIA_TYPE!r}"))
        return problems
    enum = _kind_enum(bundle, content[media].get("schema") or {})
    if enum is not None and set(enum) != set(instructions):
        problems.append(_problem(
            bundle, ptr + "/x-semantic-patch/instructions",
            f"the instruction kinds {sorted(instructions)} are not the request schema's `kind` "
            f"enum {sorted(enum)}: state each kind once in both, or drop the enum"))
    return problems


def _deref(bundle: Bundle, node: Any) -> Any:
    while isinstance(node, dict) and isinstance(node.get("$ref"), str):
        _, node = resolve_pointer(bundle.document, node["$ref"].lstrip("#"))
    return node


def _kind_enum(bundle: Bundle, schema: Any) -> list[Any] | None:
    """The `enum` of the request schema's instruction `kind`, if it declares one."""
    body = _deref(bundle, schema)
    items = _deref(bundle, ((body or {}).get("properties") or {}).get("instructions") or {})
    item = _deref(bundle, (items or {}).get("items") or {})
    kind = _deref(bundle, ((item or {}).get("properties") or {}).get("kind") or {})
    enum = (kind or {}).get("enum")
    return enum if isinstance(enum, list) else None
