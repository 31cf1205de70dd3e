"""Server-side runtime of the generated package: API errors, media types, request bodies.

Copied verbatim by the generator (not rendered): everything operation-specific comes from
``operations.py``, ``models.py`` and the bundled ``openapi.json`` next to this file.
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import numbers
import re
from collections.abc import Callable, Iterable, Mapping, Sized
from functools import cache, lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import orjson
from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic_core import to_jsonable_python
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import models
from .operations import MODEL_NAMES, OPERATIONS, Operation

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_DEPTH",
    "ApiError",
    "InternalErrors",
    "error_body",
    "error_response",
    "install_exception_handlers",
    "is_json_media_type",
    "match_media_type",
    "media_type_matches",
    "parameter",
    "parse_json_body",
    "parse_media_type",
    "read_body",
    "to_response",
]

#: Largest request body accepted, in bytes; set the module attribute to change it.
MAX_BODY_BYTES = 1 << 20
#: Deepest JSON nesting accepted (the top-level value is depth 1).
MAX_DEPTH = 64

_MAX_MESSAGE = 300
#: Schema errors that ``best_match`` ranks to name a rejected body: ranking every error of a
#: 100,000-instruction body took seconds; the first ones are enough to name the problem.
_MAX_SCHEMA_ERRORS = 1000
_IGNORED_PARAMETERS = frozenset({"charset", "boundary"})
_log = logging.getLogger(__name__)


class ApiError(Exception):
    """An error answer: ``status`` with the body ``{"code": code, "message": message}``."""

    def __init__(
        self, status: int, code: str, message: str, *, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})

    def __repr__(self) -> str:
        return f"ApiError({self.status!r}, {self.code!r}, {self.message!r})"


def _invalid(message: str) -> ApiError:
    if len(message) > _MAX_MESSAGE:  # keep both ends: a long value must not hide the reason
        message = message[: _MAX_MESSAGE - 103] + "..." + message[-100:]
    return ApiError(400, "invalid_request", message)


# -- media types ------------------------------------------------------------------------------


def parse_media_type(value: str, *, fold_values: bool = True) -> tuple[str, dict[str, str]]:
    """``"Application/JSON ; Domain-Model=X"`` -> ``("application/json", {"domain-model": "x"})``.

    Type, subtype, parameter names and values compare case-insensitively; quotes around a
    value are dropped. ``fold_values=False`` keeps the values' case (for a server that
    matches them exactly).
    """
    essence, *raw_parameters = value.split(";")
    parameters = {}
    for raw in raw_parameters:
        name, _, parameter = raw.partition("=")
        parameter = parameter.strip()
        if len(parameter) >= 2 and parameter[0] == parameter[-1] == '"':
            parameter = parameter[1:-1]
        if name.strip():
            parameters[name.strip().lower()] = parameter.lower() if fold_values else parameter
    return essence.strip().lower(), parameters


@lru_cache(maxsize=1024)  # a client sends the same few Content-Types again and again
def media_type_matches(content_type: str, declared: str) -> bool:
    """Same type/subtype and the same parameters, ignoring ``charset`` and ``boundary``."""
    actual_essence, actual = parse_media_type(content_type)
    declared_essence, wanted = parse_media_type(declared)
    for ignored in _IGNORED_PARAMETERS:
        actual.pop(ignored, None)
        wanted.pop(ignored, None)
    return actual_essence == declared_essence and actual == wanted


def match_media_type(content_type: str | None, declared: Iterable[str]) -> str:
    """The declared media type that ``content_type`` matches, else a 400 naming them."""
    options = tuple(declared)
    if content_type:
        for media_type in options:
            if media_type_matches(content_type, media_type):
                return media_type
    expected = " or ".join(repr(m) for m in options)
    if not content_type:
        raise _invalid(f"missing Content-Type header; expected {expected}")
    raise _invalid(f"unsupported Content-Type {content_type!r}; expected {expected}")


@lru_cache(maxsize=256)
def is_json_media_type(media_type: str) -> bool:
    """``application/json`` (with any parameters) or a ``+json`` type."""
    essence, _ = parse_media_type(media_type)
    return essence == "application/json" or essence.endswith("+json")


# -- JSON -------------------------------------------------------------------------------------


class _BodyError(ValueError):
    pass


def _reject_constant(name: str) -> Any:
    raise _BodyError(f"{name} is not a valid JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _BodyError(f"number {text[:40]} is out of range")
    return value


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _BodyError(f"duplicate object key {key!r}")
            seen.add(key)
    return result


def _check_depth(value: Any, limit: int) -> None:
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            raise _BodyError(f"JSON nesting is deeper than the limit of {limit}")
        children = node.values() if isinstance(node, dict) else node
        stack.extend((c, depth + 1) for c in children if isinstance(c, (dict, list)))


_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _check_surrogates(value: Any) -> None:
    """Strings must be Unicode text: ``"\\ud800"`` alone is valid JSON but no character
    (it cannot be encoded, e.g. to store it); a valid escaped pair is one character here."""
    found = _LONE_SURROGATE.search(json.dumps(value, ensure_ascii=False))
    if found:
        raise _BodyError(f"a string holds an unpaired surrogate \\u{ord(found.group()):04x}")


_NOT_PLAIN = object()
_EXACT_INTEGERS = 2.0**63  # orjson reads an integer literal beyond 64 bits as a float


def _members_unless_huge(value: Any) -> int:
    """How many object members ``value`` holds, or -1 if it holds a float as large as an
    integer orjson may have read inexactly (``json`` reads it as an exact int)."""
    members = 0
    stack: list[Any] = [[value]]  # containers only; the value itself is the first one's child
    while stack:
        node = stack.pop()
        if type(node) is dict:
            members += len(node)
            children = node.values()
        else:
            children = node
        for child in children:
            kind = type(child)
            if kind is dict or kind is list:
                stack.append(child)
            elif kind is float and not -_EXACT_INTEGERS < child < _EXACT_INTEGERS:
                return -1
    return members


def _plain_json(raw: bytes) -> Any:
    """The body by orjson (~5x faster than ``json`` with the checks below), or ``_NOT_PLAIN``
    when it might read it differently from :func:`_strict_json` or reject it: orjson refuses
    invalid UTF-8, NaN, infinities and unpaired surrogates too, but keeps the last of duplicate
    keys. In valid JSON every ':' outside a string separates one member, so as many ':' in the
    whole text as members read means no key was dropped (and no ':' sits in a string)."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return _NOT_PLAIN  # the strict parser says why
    if _members_unless_huge(value) != raw.count(b":"):
        return _NOT_PLAIN
    return value


def _strict_json(raw: bytes) -> Any:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _invalid(f"request body is not valid UTF-8 (byte offset {exc.start})") from None
    try:
        value = json.loads(
            text,
            object_pairs_hook=_unique_keys,
            parse_constant=_reject_constant,
            parse_float=_finite_float,
        )
        if _SURROGATE_ESCAPE.search(raw):  # only an escape can make an unpaired surrogate
            _check_surrogates(value)
    except _BodyError as exc:
        raise _invalid(f"request body: {exc}") from None
    except json.JSONDecodeError as exc:
        raise _invalid(
            f"request body is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from None
    except RecursionError:
        message = f"request body: JSON nesting is deeper than the limit of {MAX_DEPTH}"
        raise _invalid(message) from None
    except ValueError as exc:  # e.g. an integer with more digits than Python converts
        raise _invalid(f"request body is not valid JSON: {exc}") from None
    return value


def parse_json_body(raw: bytes) -> Any:
    """Strict JSON: UTF-8 only, no NaN/Infinity, no duplicate keys, bounded nesting."""
    value = _plain_json(raw)
    if value is _NOT_PLAIN:
        value = _strict_json(raw)
    # a value cannot nest deeper than the brackets it has
    if isinstance(value, (dict, list)) and raw.count(b"[") + raw.count(b"{") > MAX_DEPTH:
        try:
            _check_depth(value, MAX_DEPTH)
        except _BodyError as exc:
            raise _invalid(f"request body: {exc}") from None
    return value


# -- schema validation ------------------------------------------------------------------------


@cache
def _document() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(
        Path(__file__).with_name("openapi.json").read_bytes()
    )
    return document


@cache
def _format_checker() -> Any:
    """Only the integer ranges: format checks beyond those would tighten the contract."""
    from jsonschema import FormatChecker  # type: ignore[import-untyped,unused-ignore]

    checker = FormatChecker(formats=())
    for name, bits in (("int32", 32), ("int64", 64)):
        low, high = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1

        def in_range(instance: object, low: int = low, high: int = high) -> bool:
            if isinstance(instance, bool) or not isinstance(instance, (int, float)):
                return True
            return low <= instance <= high

        checker.checks(name)(in_range)
    return checker


@cache
def _validator(operation_id: str, media_type: str) -> Any:
    """Compiled once per operation and media type, on first use."""
    from referencing import Registry
    from referencing.jsonschema import DRAFT4, DRAFT202012

    document = _document()
    pointer = _schema_pointer(OPERATIONS[operation_id], media_type)
    validator_class: Any
    if str(document.get("openapi", "")).startswith("3.0"):  # nullable, exclusiveMinimum: bool
        from openapi_schema_validator import OAS30Validator

        validator_class, resource = OAS30Validator, DRAFT4.create_resource(document)
    else:
        from jsonschema import Draft202012Validator  # type: ignore[import-untyped,unused-ignore]

        validator_class, resource = Draft202012Validator, DRAFT202012.create_resource(document)
    registry: Registry[Any] = Registry().with_resource("urn:openapi", resource)
    schema = {"$ref": "urn:openapi#" + quote(pointer, safe="/~")}
    return validator_class(schema, registry=registry, format_checker=_format_checker())


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


# A compiled fast path for the common case. jsonschema walks the schema for every request
# (~45 us per instruction of a semantic patch, most of a small PATCH's cost); the closures
# below answer only "valid or not", with the same semantics as Draft202012Validator for the
# keywords they support. A schema that uses any other keyword that jsonschema implements,
# a non-local $ref, $id/$anchor/$schema below the root, or an OpenAPI 3.0 document gets no
# fast path. A body the fast path rejects is validated again by jsonschema, which names the
# error (and has the last word, should the two ever disagree).

_Check = Callable[[Any], bool]


class _NoFastPath(Exception):
    pass


def _is_integer(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and value.is_integer())


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Number) and not isinstance(value, bool)


_TYPE_CHECKS: dict[str, _Check] = {
    "string": lambda value: isinstance(value, str),
    "integer": _is_integer,
    "number": _is_number,
    "object": lambda value: isinstance(value, dict),
    "array": lambda value: isinstance(value, list),
    "boolean": lambda value: isinstance(value, bool),
    "null": lambda value: value is None,
}

_FORMAT_RANGES = {"int32": 32, "int64": 64}  # the only formats _format_checker() checks
_RESOLUTION_KEYWORDS = frozenset({"$id", "$anchor", "$dynamicAnchor", "$schema", "$vocabulary"})


def _json_equal(one: Any, two: Any) -> bool:
    """jsonschema's equality: ``True`` is not ``1``, containers compare element-wise."""
    if one is two:
        return True
    if isinstance(one, str) or isinstance(two, str):
        return bool(one == two)
    if isinstance(one, list) and isinstance(two, list):
        return len(one) == len(two) and all(_json_equal(a, b) for a, b in zip(one, two))
    if isinstance(one, dict) and isinstance(two, dict):
        return one.keys() == two.keys() and all(_json_equal(one[k], two[k]) for k in one)
    if isinstance(one, bool) or isinstance(two, bool):
        return isinstance(one, bool) and isinstance(two, bool) and one == two
    return bool(one == two)


def _all_of(checks: list[_Check]) -> _Check:
    if not checks:
        return lambda value: True
    if len(checks) == 1:
        return checks[0]
    frozen = tuple(checks)

    def check(value: Any) -> bool:
        for each in frozen:
            if not each(value):
                return False
        return True

    return check


def _integer_in(low: int, high: int) -> _Check:
    def check(value: Any) -> bool:
        if type(value) is int:
            return low <= value <= high
        return _is_integer(value) and low <= value <= high

    return check


def _object(
    properties: dict[str, _Check], required: frozenset[str], extra: _Check | None
) -> _Check:
    """type object, properties, required and additionalProperties (None: any) at once."""
    get = properties.get

    def check(value: Any) -> bool:
        if not isinstance(value, dict) or not value.keys() >= required:
            return False
        for name, item in value.items():
            each = get(name)
            if each is None:
                if extra is not None and not extra(item):
                    return False
            elif not each(item):
                return False
        return True

    return check


class _FastCompiler:
    """Compiles the schema at a pointer of the document into one ``value -> bool``."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.compiled: dict[int, list[_Check | None]] = {}
        from jsonschema import Draft202012Validator  # type: ignore[import-untyped,unused-ignore]

        self.implemented = frozenset(Draft202012Validator.VALIDATORS)

    def resolve(self, ref: str) -> Any:
        if not ref.startswith("#"):
            raise _NoFastPath(ref)
        node: Any = self.document
        for token in unquote(ref[1:]).split("/")[1:]:
            token = token.replace("~1", "/").replace("~0", "~")
            if isinstance(node, list) and token.isdigit():
                node = node[int(token)]
            elif isinstance(node, dict) and token in node:
                node = node[token]
            else:
                raise _NoFastPath(ref)
        return node

    def node(self, schema: Any) -> _Check:
        if schema is True:
            return lambda value: True
        if schema is False:
            return lambda value: False
        if not isinstance(schema, dict):
            raise _NoFastPath(repr(schema))
        known = self.compiled.get(id(schema))
        if known is not None:
            done = known[0]
            if done is not None:
                return done
            return lambda value: known[0](value) if known[0] is not None else True  # recursion
        cell: list[_Check | None] = [None]
        self.compiled[id(schema)] = cell
        checks: dict[str, _Check | None] = {}
        for keyword, argument in schema.items():
            if keyword in _RESOLUTION_KEYWORDS:
                raise _NoFastPath(keyword)
            if keyword not in self.implemented:
                continue  # an annotation (description, example, discriminator, x-...)
            build = getattr(self, "k_" + keyword.lstrip("$"), None)
            if build is None:
                raise _NoFastPath(keyword)
            checks[keyword] = build(argument, schema)
        self.fuse(schema, checks)
        compiled = _all_of([c for c in checks.values() if c is not None])
        cell[0] = compiled
        return compiled

    def fuse(self, schema: dict[str, Any], checks: dict[str, _Check | None]) -> None:
        """Replace the commonest keyword combinations by one check each, in place: every
        check is a Python call, and an instruction object costs some twenty of them."""
        kind = schema.get("type")
        enum = schema.get("enum")
        if kind == "string" and isinstance(enum, list) and all(isinstance(e, str) for e in enum):
            checks.pop("type")  # the enum check tests for a string itself
        elif kind == "integer" and schema.get("format") in _FORMAT_RANGES:
            bits = _FORMAT_RANGES[schema["format"]]
            checks["type"] = _integer_in(-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
            checks.pop("format")
        elif kind == "object" and checks.keys() & {"properties", "required"}:
            properties = {name: self.node(sub) for name, sub in
                          (schema.get("properties") or {}).items()}
            extra = schema.get("additionalProperties", True)
            checks["type"] = _object(
                properties, frozenset(schema.get("required") or ()),
                None if extra is True else self.node(extra),
            )
            for keyword in ("properties", "required", "additionalProperties"):
                checks.pop(keyword, None)

    # keywords: each returns a check, or None when it constrains nothing

    def k_ref(self, ref: Any, _: dict[str, Any]) -> _Check:
        if not isinstance(ref, str):
            raise _NoFastPath("$ref")
        return self.node(self.resolve(ref))

    def k_type(self, types: Any, _: dict[str, Any]) -> _Check:
        names = [types] if isinstance(types, str) else list(types)
        try:
            checks = tuple(_TYPE_CHECKS[name] for name in names)
        except (KeyError, TypeError):
            raise _NoFastPath(f"type {types!r}") from None
        if len(checks) == 1:
            return checks[0]
        return lambda value: any(check(value) for check in checks)

    def k_enum(self, options: Any, _: dict[str, Any]) -> _Check:
        if not isinstance(options, list):
            raise _NoFastPath("enum")
        if all(isinstance(option, str) for option in options):
            strings = frozenset(options)
            return lambda value: isinstance(value, str) and value in strings
        return lambda value: any(_json_equal(option, value) for option in options)

    def k_const(self, constant: Any, _: dict[str, Any]) -> _Check:
        return lambda value: _json_equal(constant, value)

    def k_properties(self, properties: Any, _: dict[str, Any]) -> _Check | None:
        checks = {name: self.node(sub) for name, sub in properties.items()}
        if not checks:
            return None

        def check(value: Any) -> bool:
            if isinstance(value, dict):
                for name, item in value.items():
                    each = checks.get(name)
                    if each is not None and not each(item):
                        return False
            return True

        return check

    def k_required(self, required: Any, _: dict[str, Any]) -> _Check | None:
        names = tuple(required)
        if not names:
            return None

        def check(value: Any) -> bool:
            if isinstance(value, dict):
                for name in names:
                    if name not in value:
                        return False
            return True

        return check

    def k_additionalProperties(self, extra: Any, schema: dict[str, Any]) -> _Check | None:
        if extra is True:
            return None
        known = frozenset(schema.get("properties", {}))
        if extra is False:
            return lambda value: not isinstance(value, dict) or value.keys() <= known
        each = self.node(extra)

        def check(value: Any) -> bool:
            if isinstance(value, dict):
                for name, item in value.items():
                    if name not in known and not each(item):
                        return False
            return True

        return check

    def k_items(self, items: Any, schema: dict[str, Any]) -> _Check | None:
        if "prefixItems" in schema:
            raise _NoFastPath("prefixItems")
        if items is True:
            return None
        if items is False:
            return lambda value: not isinstance(value, list) or not value
        each = self.node(items)

        def check(value: Any) -> bool:
            if isinstance(value, list):
                for item in value:
                    if not each(item):
                        return False
            return True

        return check

    def k_allOf(self, schemas: Any, _: dict[str, Any]) -> _Check:
        return _all_of([self.node(sub) for sub in schemas])

    def k_anyOf(self, schemas: Any, _: dict[str, Any]) -> _Check:
        checks = tuple(self.node(sub) for sub in schemas)
        return lambda value: any(check(value) for check in checks)

    def k_oneOf(self, schemas: Any, _: dict[str, Any]) -> _Check:
        checks = tuple(self.node(sub) for sub in schemas)
        return lambda value: sum(1 for check in checks if check(value)) == 1

    def k_not(self, schema: Any, _: dict[str, Any]) -> _Check:
        check = self.node(schema)
        return lambda value: not check(value)

    def k_format(self, name: Any, _: dict[str, Any]) -> _Check | None:
        bits = _FORMAT_RANGES.get(name)
        if bits is None:
            return None
        low, high = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
        return lambda value: (
            isinstance(value, bool) or not isinstance(value, (int, float)) or low <= value <= high
        )

    def _bound(self, limit: Any, ok: Callable[[Any, Any], bool]) -> _Check:
        if not _is_number(limit):
            raise _NoFastPath("bound")
        return lambda value: not _is_number(value) or ok(value, limit)

    def k_minimum(self, limit: Any, _: dict[str, Any]) -> _Check:
        return self._bound(limit, lambda value, limit: value >= limit)

    def k_maximum(self, limit: Any, _: dict[str, Any]) -> _Check:
        return self._bound(limit, lambda value, limit: value <= limit)

    def k_exclusiveMinimum(self, limit: Any, _: dict[str, Any]) -> _Check:
        return self._bound(limit, lambda value, limit: value > limit)

    def k_exclusiveMaximum(self, limit: Any, _: dict[str, Any]) -> _Check:
        return self._bound(limit, lambda value, limit: value < limit)

    def _size(self, kind: type[Sized], limit: Any, at_least: bool) -> _Check:
        if not _is_integer(limit):
            raise _NoFastPath("size")
        if at_least:
            return lambda value: not isinstance(value, kind) or len(value) >= limit
        return lambda value: not isinstance(value, kind) or len(value) <= limit

    def k_minLength(self, limit: Any, _: dict[str, Any]) -> _Check:
        return self._size(str, limit, True)

    def k_maxLength(self, limit: Any, _: dict[str, Any]) -> _Check:
        return self._size(str, limit, False)

    def k_minItems(self, limit: Any, _: dict[str, Any]) -> _Check:
        return self._size(list, limit, True)

    def k_maxItems(self, limit: Any, _: dict[str, Any]) -> _Check:
        return self._size(list, limit, False)

    def k_minProperties(self, limit: Any, _: dict[str, Any]) -> _Check:
        return self._size(dict, limit, True)

    def k_maxProperties(self, limit: Any, _: dict[str, Any]) -> _Check:
        return self._size(dict, limit, False)

    def k_pattern(self, pattern: Any, _: dict[str, Any]) -> _Check:
        regex = re.compile(pattern)
        return lambda value: not isinstance(value, str) or regex.search(value) is not None


def _schema_pointer(operation: Operation, media_type: str) -> str:
    method = operation.method.lower()
    pointer = f"/paths/{_escape(operation.path)}/{method}/requestBody"
    node = _document()["paths"][operation.path][method]["requestBody"]
    if "$ref" in node:  # components/requestBodies/<name>
        pointer = node["$ref"].lstrip("#")
    return pointer + "/content/" + _escape(media_type) + "/schema"


@cache
def _fast_validator(operation_id: str, media_type: str) -> _Check | None:
    """``value -> bool`` for the operation's request schema, or None (no fast path)."""
    document = _document()
    if str(document.get("openapi", "")).startswith("3.0"):
        return None
    compiler = _FastCompiler(document)
    pointer = _schema_pointer(OPERATIONS[operation_id], media_type)
    try:
        return compiler.node(compiler.resolve("#" + quote(pointer, safe="/~")))
    except _NoFastPath:
        return None


def _validate(operation: Operation, media_type: str, value: Any, as_model: bool) -> Any:
    fast = _fast_validator(operation.operation_id, media_type)
    if fast is None or not fast(value):
        from jsonschema.exceptions import best_match  # type: ignore[import-untyped,unused-ignore]

        errors = _validator(operation.operation_id, media_type).iter_errors(value)
        error = best_match(itertools.islice(errors, _MAX_SCHEMA_ERRORS))
        if error is not None:
            raise _invalid(f"request body {error.json_path}: {error.message}")
    schema_name = operation.request_schemas.get(media_type)
    class_name = MODEL_NAMES.get(schema_name) if schema_name and as_model else None
    if class_name is None:
        return value
    model: type[BaseModel] = getattr(models, class_name)
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in first["loc"])
        raise _invalid(f"request body ${where}: {first['msg']}") from None


# -- request and response ---------------------------------------------------------------------


def parameter(
    raw: Any, location: str, name: str, convert: TypeAdapter[Any] | None, required: bool
) -> Any:
    """A parameter's value: ``raw`` (text, a list of texts, or None when absent) converted
    by ``convert`` (None: keep the text); a missing required or unconvertible value is a 400
    naming the parameter."""
    if raw is None or raw == []:
        if required:
            raise _invalid(f"missing required {location} parameter {name!r}")
        return None
    if convert is None:
        return raw
    try:
        return convert.validate_python(raw)
    except ValidationError as exc:
        message = exc.errors()[0]["msg"]
        raise _invalid(f"invalid {location} parameter {name!r}: {message}") from None


async def _read_limited(request: Request) -> bytes:
    """The body, refused beyond the app's limit (``create_app(max_body_bytes=...)``), else
    :data:`MAX_BODY_BYTES` as it is at the time of the request."""
    state = getattr(request.scope.get("app"), "state", None)
    limit = getattr(state, "max_body_bytes", None) or MAX_BODY_BYTES
    too_large = f"request body is larger than the limit of {limit} bytes"
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _invalid(too_large)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _invalid(too_large)
        chunks.append(chunk)
    return b"".join(chunks)


async def read_body(request: Request, operation_id: str, *, as_model: bool = True) -> Any:
    """The operation's request body, checked and parsed, or an ``ApiError`` 400.

    Returns the pydantic model of the matched media type's schema (``as_model``), else the
    plain JSON value, checked against the same schema; the raw bytes for non-JSON media types;
    None when an optional body is absent.
    """
    operation = OPERATIONS[operation_id]
    raw = await _read_limited(request)
    if not raw:
        if operation.request_required:
            expected = " or ".join(repr(m) for m in operation.request_media_types)
            raise _invalid(f"request body is required ({expected})")
        return None
    media_type = match_media_type(
        request.headers.get("content-type"), operation.request_media_types
    )
    if not is_json_media_type(media_type):
        return raw
    return _validate(operation, media_type, parse_json_body(raw), as_model)


_ORJSON_OPTIONS = (  # everything but plain JSON data goes through pydantic, as it always did
    orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_SUBCLASS
)


def _jsonable(value: object) -> Any:
    return to_jsonable_python(value, by_alias=True, exclude_none=True)


def _json_bytes(content: object) -> bytes:
    """Compact UTF-8 JSON: orjson for plain data (~50x faster than ``json.dumps`` on a list of
    10,000 schedules), pydantic's conversion for everything else (models, dataclasses, dates),
    ``json`` for what orjson refuses (integers beyond 64 bits). NaN and infinities become
    ``null``, as pydantic writes them."""
    try:
        return orjson.dumps(content, default=_jsonable, option=_ORJSON_OPTIONS)
    except orjson.JSONEncodeError:
        return json.dumps(
            _jsonable(content), ensure_ascii=False, allow_nan=False, separators=(",", ":")
        ).encode()


def to_response(result: object, status: int) -> Response:
    """A backend's return value as the response: models as JSON by alias without nulls."""
    if result is None:
        return Response(status_code=status)
    if isinstance(result, (bytes, bytearray)):
        return Response(bytes(result), status_code=status, media_type="application/octet-stream")
    if isinstance(result, BaseModel):
        content = result.model_dump_json(by_alias=True, exclude_none=True).encode()
    else:
        content = _json_bytes(result)
    return Response(content, status_code=status, media_type="application/json")


# -- error answers ----------------------------------------------------------------------------

_HTTP_CODES = {
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    429: "rate_limited",
}


def error_body(code: str, message: str) -> bytes:
    """The API's error envelope ``{"code": code, "message": message}`` as compact UTF-8 JSON:
    the body of every error answer, the runtime's and the servers' around it."""
    return json.dumps({"code": code, "message": message}, ensure_ascii=False,
                      separators=(",", ":")).encode()


def error_response(
    status: int, code: str, message: str, headers: Mapping[str, str] | None = None
) -> Response:
    """An error answer of the app: ``status`` with :func:`error_body`."""
    return Response(error_body(code, message), status_code=status,
                    headers=dict(headers or {}), media_type="application/json")


async def _api_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.code, exc.message, exc.headers)


async def _http_exception(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    fallback = "invalid_request" if exc.status_code < 500 else "internal_error"
    code = _HTTP_CODES.get(exc.status_code, fallback)
    return error_response(exc.status_code, code, str(exc.detail), exc.headers)


class InternalErrors:
    """The 500 guard: any other exception becomes a 500 ``internal_error`` body, never a
    traceback (which goes to the log); an answer already started is left to the server."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception as exc:
            if started:
                raise
            _log.exception("unhandled error in %s %s", scope.get("method"), scope.get("path"))
            response = error_response(500, "internal_error",
                                      f"internal error ({type(exc).__name__})")
            await response(scope, receive, send)


def install_exception_handlers(app: Starlette) -> None:
    """``{code, message}`` bodies for every error: ApiError (bad parameters and bodies among
    them), unknown routes and methods, and unexpected exceptions."""
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(HTTPException, _http_exception)
    app.add_middleware(InternalErrors)
