"""JSON Schema validators for the bodies and headers the bundled OpenAPI document describes.

Compiled once per schema location from `generated/openapi.json` with jsonschema-rs (Draft
2020-12, the dialect of OpenAPI 3.1; a few microseconds per body, where the pure-Python
jsonschema takes milliseconds: the proxy validates every answer on its way); `$ref`s resolve
inside the document. Formats are annotations, as 2020-12 has them by default: asserting them
would tighten the contract.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any
from urllib.parse import quote

import jsonschema_rs

from contract_tests.schema import bundle
from generated._runtime import media_type_matches
from generated.operations import OPERATIONS, Operation

__all__ = ["first_error", "request_media_type", "response_content", "response_headers", "warm"]

def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def _resolved(pointer: str) -> tuple[str, Any]:
    """The node at a JSON pointer, following a `$ref` at it; with the pointer it ends at."""
    node: Any = bundle()
    for token in pointer.strip("/").split("/"):
        node = node[token.replace("~1", "/").replace("~0", "~")]
    if isinstance(node, dict) and isinstance(node.get("$ref"), str):
        return _resolved(node["$ref"].lstrip("#"))
    return pointer, node


def _operation_pointer(operation: Operation) -> str:
    return f"/paths/{_escape(operation.path)}/{operation.method.lower()}"


def _response(operation: Operation, status: int) -> tuple[str, Mapping[str, Any]] | None:
    responses = bundle()["paths"][operation.path][operation.method.lower()]["responses"]
    if str(status) not in responses:
        return None
    return _resolved(f"{_operation_pointer(operation)}/responses/{status}")


def response_content(operation: Operation, status: int) -> tuple[str, ...]:
    """The media types documented for that status (empty: no body documented)."""
    found = _response(operation, status)
    return tuple(found[1].get("content") or {}) if found else ()


def response_headers(operation: Operation, status: int) -> Mapping[str, tuple[bool, Any]]:
    """Documented response headers of that status: lower-cased name -> (required, validator)."""
    found = _response(operation, status)
    if found is None:
        return {}
    pointer, response = found
    headers = {}
    for name in response.get("headers") or {}:
        header_pointer, header = _resolved(f"{pointer}/headers/{_escape(name)}")
        headers[name.lower()] = (bool(header.get("required")),
                                 _validator(f"{header_pointer}/schema"))
    return headers


def request_media_type(operation: Operation, content_type: str | None) -> str | None:
    """The declared request media type a Content-Type matches, if any."""
    if not content_type:
        return None
    return next((m for m in operation.request_media_types
                 if media_type_matches(content_type, m)), None)


@cache
def _validator(pointer: str) -> Any:
    """The schema at `pointer`, as the root of the document (so its `$ref`s resolve)."""
    return jsonschema_rs.Draft202012Validator({**bundle(), "$ref": "#" + quote(pointer, safe="/~")},
                                              validate_formats=False)


def _body_pointer(operation: Operation, status: int | None, media_type: str) -> str:
    if status is None:
        pointer, _ = _resolved(f"{_operation_pointer(operation)}/requestBody")
    else:
        found = _response(operation, status)
        assert found is not None
        pointer = found[0]
    return f"{pointer}/content/{_escape(media_type)}/schema"


def first_error(operation: Operation, status: int | None, media_type: str,
                value: Any) -> str | None:
    """Why `value` does not validate against the body schema of the request (`status` None)
    or of the answer with that status; None when it does."""
    validator = _validator(_body_pointer(operation, status, media_type))
    if validator.is_valid(value):
        return None
    error = next(iter(validator.iter_errors(value)))
    where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.instance_path)
    return f"${where}: {error.message}"[:500]


def warm() -> None:
    """Load the document and compile every validator now, not on first use: a server that
    freezes its long-lived objects for the garbage collector (proxy/serve.py) calls it first,
    so that the document's hundred thousand objects are not walked by every full collection
    (and no early answer waits for a compilation)."""
    for operation in OPERATIONS.values():
        for media_type in operation.request_media_types:
            _validator(_body_pointer(operation, None, media_type))
        for status in operation.status_codes:
            response_headers(operation, status)
            for media_type in response_content(operation, status):
                _validator(_body_pointer(operation, status, media_type))
