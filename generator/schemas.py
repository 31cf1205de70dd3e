"""Every Schema Object of the document, checked against its JSON Schema dialect where it lives.

openapi-spec-validator checks the schemas it happens to reach (components/schemas, operation
parameters and bodies) but not, for instance, a header's, and it reports a schema's error at a
pointer relative to that schema (``#/properties/x/type``), which no file line can be found for.
Here the document's structure is walked to each Schema Object (reference objects are checked
where they point), and each is checked by the validator class openapi-spec-validator itself
uses for the document's version, so a problem keeps its full pointer and so its line.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from functools import cache
from typing import Any

from generator.bundler import HTTP_METHODS
from generator.errors import pointer

__all__ = ["draft4_fast_path", "iter_schemas", "schema_errors"]

Path = tuple[str, ...]


def _items(node: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(node, dict):
        yield from ((str(k), v) for k, v in node.items() if isinstance(v, dict))
    elif isinstance(node, list):
        yield from ((str(i), v) for i, v in enumerate(node) if isinstance(v, dict))


def _schema(node: Any, path: Path) -> Iterator[tuple[Path, Any]]:
    if isinstance(node, (dict, bool)):
        yield path, node


def _content(node: dict[str, Any], path: Path) -> Iterator[tuple[Path, Any]]:
    for media, media_type in _items(node.get("content")):
        here = (*path, "content", media)
        if "schema" in media_type:
            yield from _schema(media_type["schema"], (*here, "schema"))
        for name, encoding in _items(media_type.get("encoding")):
            for header, value in _items(encoding.get("headers")):
                yield from _parameter(value, (*here, "encoding", name, "headers", header))


def _parameter(node: dict[str, Any], path: Path) -> Iterator[tuple[Path, Any]]:
    """A parameter or a header: its `schema` or its `content`."""
    if "$ref" in node:
        return
    if "schema" in node:
        yield from _schema(node["schema"], (*path, "schema"))
    yield from _content(node, path)


def _response(node: dict[str, Any], path: Path) -> Iterator[tuple[Path, Any]]:
    if "$ref" in node:
        return
    for name, header in _items(node.get("headers")):
        yield from _parameter(header, (*path, "headers", name))
    yield from _content(node, path)


def _request_body(node: dict[str, Any], path: Path) -> Iterator[tuple[Path, Any]]:
    if "$ref" not in node:
        yield from _content(node, path)


def _operation(node: dict[str, Any], path: Path) -> Iterator[tuple[Path, Any]]:
    for index, parameter in _items(node.get("parameters")):
        yield from _parameter(parameter, (*path, "parameters", index))
    if isinstance(node.get("requestBody"), dict):
        yield from _request_body(node["requestBody"], (*path, "requestBody"))
    for status, response in _items(node.get("responses")):
        yield from _response(response, (*path, "responses", status))
    for name, callback in _items(node.get("callbacks")):
        for expression, item in _items(callback):
            yield from _path_item(item, (*path, "callbacks", name, expression))


def _path_item(node: dict[str, Any], path: Path) -> Iterator[tuple[Path, Any]]:
    if "$ref" in node:
        return
    for index, parameter in _items(node.get("parameters")):
        yield from _parameter(parameter, (*path, "parameters", index))
    for method in HTTP_METHODS:
        if isinstance(node.get(method), dict):
            yield from _operation(node[method], (*path, method))


_COMPONENTS = {
    "parameters": _parameter,
    "headers": _parameter,
    "responses": _response,
    "requestBodies": _request_body,
    "pathItems": _path_item,
}


def iter_schemas(document: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """(JSON pointer, schema) of every Schema Object that is not inside another one (those
    are checked with their parent), in document order."""
    found: list[tuple[Path, Any]] = []
    components = document.get("components")
    components = components if isinstance(components, dict) else {}
    for name, schema in (components.get("schemas") or {}).items():
        found.extend(_schema(schema, ("components", "schemas", name)))
    for section, walk in _COMPONENTS.items():
        for name, node in _items(components.get(section)):
            found.extend(walk(node, ("components", section, name)))
    for section in ("paths", "webhooks"):
        for name, item in _items(document.get(section)):
            found.extend(_path_item(item, (section, name)))
    for path, schema in found:
        yield pointer(*path), schema


def schema_errors(document: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(pointer of the offending node, message) for each schema its dialect rejects: the
    error that openapi-spec-validator would raise for it, with the schema's own pointer."""
    from jsonschema.exceptions import SchemaError  # type: ignore[import-untyped,unused-ignore]
    from jsonschema.validators import validator_for  # type: ignore[import-untyped,unused-ignore]
    from openapi_schema_validator import OAS30Validator
    from openapi_spec_validator.validation.keywords import (
        OAS31_BASE_DIALECT_ID,
        oas31_format_checker,
    )

    is_30 = str(document.get("openapi", "")).startswith("3.0")
    default = document.get("jsonSchemaDialect", OAS31_BASE_DIALECT_ID)
    passes = draft4_fast_path() if is_30 else None
    for ptr, schema in iter_schemas(document):
        if passes is not None and passes(schema):
            continue
        dialect = schema.get("$schema", default) if isinstance(schema, dict) else default
        validator = OAS30Validator if is_30 else validator_for({"$schema": dialect}, default=None)
        if validator is None:
            yield ptr, f"unknown JSON Schema dialect {dialect!r}"
            continue
        try:
            validator.check_schema(schema, format_checker=oas31_format_checker)
        except SchemaError as error:
            yield ptr + pointer(*error.absolute_path)[1:], str(error.message).split("\n", 1)[0]


@cache
def draft4_fast_path() -> Callable[[Any], bool]:
    """Whether a schema is valid against OAS 3.0's meta-schema (draft 4, its one format
    ``regex`` checked too), decided fast: jsonschema-rs, far faster than jsonschema's
    ``check_schema`` (docs/generator.md, Design figures, has the measurement), and Python's
    ``re`` for every ``pattern`` (jsonschema's ``regex`` format; the
    ECMA-262 one jsonschema-rs applies accepts some that ``re`` does not). ``False`` means
    only "check it with jsonschema", whose verdict and message are the ones that count."""
    import jsonschema_rs
    from openapi_schema_validator import OAS30Validator

    is_valid = jsonschema_rs.validator_for(OAS30Validator.META_SCHEMA,
                                           validate_formats=True).is_valid

    def passes(schema: Any) -> bool:
        return bool(is_valid(schema)) and _patterns_compile(schema)

    return passes


def _patterns_compile(node: Any) -> bool:
    """Every string under a ``pattern`` key compiles with ``re`` (a ``pattern`` inside an
    example or a default counts too: it only sends the schema to the slow check)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "pattern" and isinstance(value, str):
                try:
                    re.compile(value)
                except re.error:
                    return False
            elif not _patterns_compile(value):
                return False
    elif isinstance(node, list):
        return all(map(_patterns_compile, node))
    return True
