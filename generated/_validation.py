"""Request bodies checked against their operation's schema in the bundled ``openapi.json``.

jsonschema-rs compiles each request schema once (per operation and media type, on first
use) and checks a body natively, where the pure-Python jsonschema walks the
schema again for every request. The document is the root schema, so every ``$ref`` resolves
inside it: OpenAPI 3.1 is JSON Schema 2020-12; OpenAPI 3.0 is Draft 4 with ``nullable: true``
read as "or null".

Formats are annotations except the integer ranges ``int32`` and ``int64`` (asserting the
others, e.g. ``date-time``, would tighten the contract). jsonschema-rs hands its ``formats=``
checkers strings only, so the ranges are a custom ``format`` keyword that replaces the
built-in one.

A rejected body is named by one error, chosen and worded as jsonschema's ``best_match`` does
(what the generated server has always answered): the error highest up in the body, for
``oneOf``/``anyOf`` the deepest error of the alternatives; values written as Python writes
them (``'bogus' is not one of [...]``).
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable, Iterable
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jsonschema_rs
from pydantic import BaseModel, ValidationError

from . import models
from ._errors import invalid_request
from .operations import MODEL_NAMES, OPERATIONS, Operation

__all__ = ["validate_body"]

#: Errors ranked to name a rejected body, and the items of each array they are looked for in:
#: jsonschema-rs collects every error before it hands over the first (for 100,000 empty
#: instructions, seconds and most of a GiB), and the first ones are enough to name the problem.
_MAX_SCHEMA_ERRORS = 1000
_MAX_ITEMS = 1000
_PLAIN_NAME = re.compile("^[a-zA-Z][a-zA-Z0-9_]*$")
_WEAK = frozenset({"anyOf", "oneOf"})
_IS_TYPE: dict[str, Callable[[Any], bool]] = {  # jsonschema's type checker
    "string": lambda value: isinstance(value, str),
    "integer": lambda value: type(value) is int or (type(value) is float and value.is_integer()),
    "number": lambda value: type(value) in (int, float),
    "object": lambda value: isinstance(value, dict),
    "array": lambda value: isinstance(value, list),
    "boolean": lambda value: isinstance(value, bool),
    "null": lambda value: value is None,
}


class _IntegerRange:
    """The ``format`` keyword: ``int32``/``int64`` bound numbers, any other format passes."""

    __slots__ = ("bounds", "name")

    def __init__(self, _parent: dict[str, Any], name: Any, _path: list[str | int]) -> None:
        bits = {"int32": 32, "int64": 64}.get(name) if isinstance(name, str) else None
        self.name = name
        self.bounds = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if bits else None

    def validate(self, instance: Any) -> None:
        bounds = self.bounds
        if bounds is None or type(instance) not in (int, float):  # bool is not a number
            return
        if not bounds[0] <= instance <= bounds[1]:
            raise ValueError(f"{instance!r} is not a {self.name!r}")


@cache
def _document() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(
        Path(__file__).with_name("openapi.json").read_bytes()
    )
    return document


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def _schema_pointer(operation: Operation, media_type: str) -> str:
    method = operation.method.lower()
    pointer = f"/paths/{_escape(operation.path)}/{method}/requestBody"
    node = _document()["paths"][operation.path][method]["requestBody"]
    if "$ref" in node:  # components/requestBodies/<name>
        pointer = node["$ref"].lstrip("#")
    return pointer + "/content/" + _escape(media_type) + "/schema"


def _nullable_as_type(node: Any) -> Any:
    """OpenAPI 3.0's ``nullable: true`` beside a ``type`` as a Draft 4 type list."""
    if isinstance(node, list):
        return [_nullable_as_type(item) for item in node]
    if not isinstance(node, dict):
        return node
    result = {key: _nullable_as_type(value) for key, value in node.items()}
    if result.get("nullable") is True and isinstance(result.get("type"), str):
        result["type"] = [result["type"], "null"]
    return result


@cache
def _root() -> tuple[type[jsonschema_rs.Validator], dict[str, Any]]:
    document = _document()
    if str(document.get("openapi", "")).startswith("3.0"):
        return jsonschema_rs.Draft4Validator, _nullable_as_type(document)
    return jsonschema_rs.Draft202012Validator, document


@cache
def _validator(operation_id: str, media_type: str) -> jsonschema_rs.Validator:
    """Compiled once per operation and media type, on first use."""
    validator_class, document = _root()
    pointer = _schema_pointer(OPERATIONS[operation_id], media_type)
    return validator_class(
        {**document, "$ref": "#" + quote(pointer, safe="/~")},
        keywords={"format": _IntegerRange},
    )


def _at(node: Any, path: Iterable[str | int]) -> Any:
    for token in path:
        node = node[int(token)] if isinstance(node, list) else node[str(token)]
    return node


def _locate(node: Any, path: Iterable[str | int]) -> tuple[tuple[str | int, ...], Any]:
    """An error's instance path, with an array's indices as ints and an object's keys as
    strings (jsonschema-rs gives a key that reads as a number, ``{"3": ...}``, as an int),
    and the value it names (None past the body: a keyword's own name)."""
    typed: list[str | int] = []
    for token in path:
        token = int(token) if isinstance(node, list) else str(token)
        typed.append(token)
        try:
            node = node[token]
        except (KeyError, IndexError, TypeError):
            node = None
    return tuple(typed), node


class _Ranking:
    """jsonschema's ``best_match`` over jsonschema-rs errors: the error highest up in the
    body, then into the alternatives of a ``oneOf``/``anyOf``. Values are read from the body
    itself (jsonschema-rs hands back objects with their keys sorted)."""

    def __init__(self, body: Any) -> None:
        self.body = body

    def path(self, error: jsonschema_rs.ValidationError) -> tuple[str | int, ...]:
        return _locate(self.body, error.instance_path)[0]

    def value(self, error: jsonschema_rs.ValidationError) -> Any:
        return _locate(self.body, error.instance_path)[1]

    def matches_type(self, error: jsonschema_rs.ValidationError) -> bool:
        """Whether the value has the type its failing schema names (the last tie-breaker)."""
        expected = _at(_root()[1], error.schema_path[:-1]).get("type")
        if expected is None:
            return False
        names = [expected] if isinstance(expected, str) else expected
        value = self.value(error)
        return any(_IS_TYPE.get(name, lambda _: False)(value) for name in names)

    def position(self, error: jsonschema_rs.ValidationError) -> int:
        """Where the failing keyword stands in its schema: jsonschema reports a schema's
        errors in the order of its keywords, and the first of equally relevant ones wins."""
        keyword = error.schema_path[-1]
        return list(_at(_root()[1], error.schema_path[:-1])).index(keyword)

    def relevance(self, error: jsonschema_rs.ValidationError) -> tuple[Any, ...]:
        path = self.path(error)
        return (-len(path), path, error.kind.name not in _WEAK,
                not self.matches_type(error))

    def best(
        self, errors: Iterable[jsonschema_rs.ValidationError]
    ) -> jsonschema_rs.ValidationError | None:
        best = max(errors, key=lambda e: (self.relevance(e), -self.position(e)), default=None)
        while best is not None and (context := _context(best)):
            smallest = sorted(context, key=lambda e: (self.relevance(e), self.position(e)))[:2]
            if len(smallest) == 2 and self.relevance(smallest[0]) == self.relevance(smallest[1]):
                break
            best = smallest[0]
        return best

    def message(self, error: jsonschema_rs.ValidationError) -> str:
        """The error as jsonschema words it; jsonschema-rs's own words for the rest."""
        kind, kinds = error.kind, jsonschema_rs.ValidationErrorKind
        if isinstance(kind, kinds.Type):
            expected = ", ".join(repr(name) for name in kind.types)
            return f"{self.value(error)!r} is not of type {expected}"
        if isinstance(kind, kinds.Required):
            return f"{kind.property!r} is a required property"
        if isinstance(kind, kinds.Enum):
            return f"{self.value(error)!r} is not one of {kind.options!r}"
        if isinstance(kind, kinds.AdditionalProperties):
            extras = sorted(kind.unexpected, key=str)
            verb = "was" if len(extras) == 1 else "were"
            names = ", ".join(repr(extra) for extra in extras)
            return f"Additional properties are not allowed ({names} {verb} unexpected)"
        if isinstance(kind, (kinds.AnyOf, kinds.OneOfNotValid)):
            return f"{self.value(error)!r} is not valid under any of the given schemas"
        return error.message


def _cut(value: Any) -> Any:
    """``value`` with every array cut to its first ``_MAX_ITEMS`` items."""
    if isinstance(value, list):
        return [_cut(item) for item in value[:_MAX_ITEMS]]
    if isinstance(value, dict):
        return {key: _cut(item) for key, item in value.items()}
    return value


def _errors(validator: jsonschema_rs.Validator, value: Any) -> list[jsonschema_rs.ValidationError]:
    """The first errors of an invalid ``value``, found in its arrays' first items; the first
    error of the whole value when those items are all valid."""
    found = list(itertools.islice(validator.iter_errors(_cut(value)), _MAX_SCHEMA_ERRORS))
    if not found:
        try:
            validator.validate(value)
        except jsonschema_rs.ValidationError as error:
            found.append(error)
    return found


def _context(error: jsonschema_rs.ValidationError) -> list[jsonschema_rs.ValidationError]:
    kind = error.kind
    if isinstance(kind, (jsonschema_rs.ValidationErrorKind.AnyOf,
                         jsonschema_rs.ValidationErrorKind.OneOfNotValid)):
        return [each for alternative in kind.context for each in alternative]
    return []


def _json_path(path: Iterable[str | int]) -> str:
    """jsonschema's JSONPath of an error: ``$.instructions[0].kind``, ``$['_id']``."""
    text = "$"
    for token in path:
        if isinstance(token, int):
            text += f"[{token}]"
        elif _PLAIN_NAME.match(token):
            text += "." + token
        else:
            text += "['" + token.replace("\\", "\\\\").replace("'", "\\'") + "']"
    return text


def validate_body(operation: Operation, media_type: str, value: Any, as_model: bool) -> Any:
    """``value`` checked against the operation's schema for ``media_type``, as the pydantic
    model of that schema (``as_model``, when the schema has one) or as it is; a 400 naming
    the first problem otherwise."""
    validator = _validator(operation.operation_id, media_type)
    if not validator.is_valid(value):
        ranking = _Ranking(value)
        error = ranking.best(_errors(validator, value))
        if error is not None:
            where = _json_path(ranking.path(error))
            raise invalid_request(f"request body {where}: {ranking.message(error)}")
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
        raise invalid_request(f"request body ${where}: {first['msg']}") from None
