"""Server-side runtime of the generated package: API errors, media types, request bodies.

Copied verbatim by the generator (not rendered): everything operation-specific comes from
``operations.py``, ``models.py`` and the bundled ``openapi.json`` next to this file.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ValidationError
from pydantic_core import to_jsonable_python
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import models
from .operations import MODEL_NAMES, OPERATIONS, Operation

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_DEPTH",
    "ApiError",
    "install_exception_handlers",
    "is_json_media_type",
    "match_media_type",
    "media_type_matches",
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
    if len(message) > _MAX_MESSAGE:
        message = message[: _MAX_MESSAGE - 3] + "..."
    return ApiError(400, "invalid_request", message)


# -- media types ------------------------------------------------------------------------------


def parse_media_type(value: str) -> tuple[str, dict[str, str]]:
    """``"Application/JSON ; Domain-Model=X"`` -> ``("application/json", {"domain-model": "x"})``.

    Type, subtype, parameter names and values compare case-insensitively; quotes around a
    value are dropped.
    """
    essence, *raw_parameters = value.split(";")
    parameters = {}
    for raw in raw_parameters:
        name, _, parameter = raw.partition("=")
        parameter = parameter.strip()
        if len(parameter) >= 2 and parameter[0] == parameter[-1] == '"':
            parameter = parameter[1:-1]
        if name.strip():
            parameters[name.strip().lower()] = parameter.lower()
    return essence.strip().lower(), parameters


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


def parse_json_body(raw: bytes) -> Any:
    """Strict JSON: UTF-8 only, no NaN/Infinity, no duplicate keys, bounded nesting."""
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
        if isinstance(value, (dict, list)):
            _check_depth(value, MAX_DEPTH)
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

    operation = OPERATIONS[operation_id]
    document = _document()
    method = operation.method.lower()
    pointer = f"/paths/{_escape(operation.path)}/{method}/requestBody"
    node = document["paths"][operation.path][method]["requestBody"]
    if "$ref" in node:  # components/requestBodies/<name>
        pointer = node["$ref"].lstrip("#")
    pointer += "/content/" + _escape(media_type) + "/schema"
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


def _validate(operation: Operation, media_type: str, value: Any) -> Any:
    from jsonschema.exceptions import best_match  # type: ignore[import-untyped,unused-ignore]

    error = best_match(_validator(operation.operation_id, media_type).iter_errors(value))
    if error is not None:
        raise _invalid(f"request body {error.json_path}: {error.message}")
    schema_name = operation.request_schemas.get(media_type)
    class_name = MODEL_NAMES.get(schema_name) if schema_name else None
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


async def _read_limited(request: Request) -> bytes:
    limit = MAX_BODY_BYTES
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


async def read_body(request: Request, operation_id: str) -> Any:
    """The operation's request body, checked and parsed, or an ``ApiError`` 400.

    Returns the pydantic model of the matched media type's schema, the plain JSON value when
    that schema has no named model, the raw bytes for non-JSON media types, and None when an
    optional body is absent.
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
    return _validate(operation, media_type, parse_json_body(raw))


def to_response(result: object, status: int) -> Response:
    """A backend's return value as the response: models as JSON by alias without nulls."""
    if result is None:
        return Response(status_code=status)
    if isinstance(result, (bytes, bytearray)):
        return Response(bytes(result), status_code=status, media_type="application/octet-stream")
    if isinstance(result, BaseModel):
        content = result.model_dump(mode="json", by_alias=True, exclude_none=True)
    else:
        content = to_jsonable_python(result, by_alias=True, exclude_none=True)
    return JSONResponse(content, status_code=status)


# -- error answers ----------------------------------------------------------------------------

_HTTP_CODES = {
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    429: "rate_limited",
}


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse({"code": code, "message": message}, status_code=status, headers=headers)


async def _api_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return _error(exc.status, exc.code, exc.message, exc.headers)


async def _request_validation_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {}
    loc = [str(p) for p in first.get("loc", ())]
    where = f"{loc[0]} parameter {loc[-1]!r}" if len(loc) >= 2 else "request"
    if first.get("type") == "missing":
        return _error(400, "invalid_request", f"missing required {where}")
    return _error(400, "invalid_request", f"invalid {where}: {first.get('msg', 'invalid')}")


async def _http_exception(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    fallback = "invalid_request" if exc.status_code < 500 else "internal_error"
    code = _HTTP_CODES.get(exc.status_code, fallback)
    return _error(exc.status_code, code, str(exc.detail), dict(exc.headers or {}))


class _InternalErrors:
    """Any other exception becomes a 500 ``internal_error`` body, never a traceback; the
    traceback goes to the log."""

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
            response = _error(500, "internal_error", f"internal error ({type(exc).__name__})")
            await response(scope, receive, send)


def install_exception_handlers(app: FastAPI) -> None:
    """``{code, message}`` bodies for every error: ApiError, bad parameters, unknown routes
    and unexpected exceptions."""
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _request_validation_error)
    app.add_exception_handler(HTTPException, _http_exception)
    app.add_middleware(_InternalErrors)
