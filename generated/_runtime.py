"""Server-side runtime of the generated package: what a generated route calls.

Copied verbatim by the generator (not rendered): everything operation-specific comes from
``operations.py``, ``models.py`` and the bundled ``openapi.json`` next to this file. This
module reads requests (``read_body``, ``parameter``) and holds the limits they apply; it is
also the one import surface of the runtime, so routes, backends and applications need not
know which small module does which job (``_errors``, ``_media_types``, ``_json_body``,
``_validation``, ``_responses``).
"""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter, ValidationError
from starlette.requests import Request

from ._errors import (
    ApiError,
    InternalErrors,
    error_body,
    error_response,
    install_exception_handlers,
    invalid_request,
)
from ._json_body import parse_json_body
from ._media_types import (
    is_json_media_type,
    match_media_type,
    media_type_matches,
    parse_media_type,
)
from ._responses import to_response
from ._validation import validate_body
from .operations import OPERATIONS

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

#: Largest request body ``read_body`` accepts, in bytes; set the module attribute to change it.
MAX_BODY_BYTES = 1 << 20
#: Deepest JSON nesting ``read_body`` accepts (the top-level value is depth 1); the same.
MAX_DEPTH = 64


def parameter(
    raw: Any, location: str, name: str, convert: TypeAdapter[Any] | None, required: bool
) -> Any:
    """A parameter's value: ``raw`` (text, a list of texts, or None when absent) converted
    by ``convert`` (None: keep the text); a missing required or unconvertible value is a 400
    naming the parameter."""
    if raw is None or raw == []:
        if required:
            raise invalid_request(f"missing required {location} parameter {name!r}")
        return None
    if convert is None:
        return raw
    try:
        return convert.validate_python(raw)
    except ValidationError as exc:
        message = exc.errors()[0]["msg"]
        raise invalid_request(f"invalid {location} parameter {name!r}: {message}") from None


async def _read_limited(request: Request) -> bytes:
    """The body, refused beyond the app's limit (``create_app(max_body_bytes=...)``), else
    :data:`MAX_BODY_BYTES` as it is at the time of the request."""
    state = getattr(request.scope.get("app"), "state", None)
    limit = getattr(state, "max_body_bytes", None) or MAX_BODY_BYTES
    too_large = f"request body is larger than the limit of {limit} bytes"
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise invalid_request(too_large)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise invalid_request(too_large)
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
            raise invalid_request(f"request body is required ({expected})")
        return None
    media_type = match_media_type(
        request.headers.get("content-type"), operation.request_media_types
    )
    if not is_json_media_type(media_type):
        return raw
    return validate_body(operation, media_type, parse_json_body(raw, MAX_DEPTH), as_model)
