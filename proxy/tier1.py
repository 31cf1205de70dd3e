"""Tier 1 of one exchange: what the OpenAPI document says of an answer.

The status must be documented for the operation, the documented headers of that status present
and valid, the Content-Type one the status documents, and the body valid against its schema.
The rule ids are the names of the Schemathesis checks that tier 1 of the suite runs, so a
report of the proxy and one of the suite name the same failure the same way.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from generated._runtime import media_type_matches

from . import schemas
from .exchange import NOT_JSON, Exchange
from .routing import Route

__all__ = ["RULES", "check"]

RULES = {
    "not_a_server_error": "The server does not answer with a 5xx error.",
    "status_code_conformance": "The status code is one the operation documents.",
    "response_headers_conformance": "The headers the status documents are present and valid.",
    "content_type_conformance": "The Content-Type is one the status documents.",
    "response_schema_conformance": "The body validates against the schema of its status code.",
}

Finding = tuple[str, str]  # rule, message


def check(exchange: Exchange, route: Route) -> Iterator[Finding]:
    operation, status = route.operation, exchange.status_code
    if status >= 500:
        yield "not_a_server_error", f"HTTP {status}"
        return
    if status not in operation.status_codes:
        yield ("status_code_conformance", (f"HTTP {status} is not documented for "
               f"{operation.operation_id} (documented: "
               f"{', '.join(map(str, operation.status_codes))})"))
        return
    yield from _headers(exchange, route)
    media_types = schemas.response_content(operation, status)
    if not media_types or exchange.method.upper() == "HEAD":
        return
    content_type = exchange.response_header("content-type")
    media_type = next((m for m in media_types
                       if content_type and media_type_matches(content_type, m)), None)
    if media_type is None:
        yield ("content_type_conformance", (f"HTTP {status} with Content-Type {content_type!r}; "
               f"documented: {', '.join(media_types)}"))
        return
    body = exchange.response_json
    if body is NOT_JSON:
        yield "response_schema_conformance", f"HTTP {status} body is not JSON"
        return
    error = schemas.first_error(operation, status, media_type, body)
    if error is not None:
        yield "response_schema_conformance", f"HTTP {status} body {error}"


def _headers(exchange: Exchange, route: Route) -> Iterator[Finding]:
    documented = schemas.response_headers(route.operation, exchange.status_code)
    for name, (required, validator) in documented.items():
        value = exchange.response_header(name)
        if value is None:
            if required:
                yield ("response_headers_conformance",
                       (f"HTTP {exchange.status} has no {name} header, which it documents as "
                       "required"))
            continue
        if not validator.is_valid(_header_value(value)):
            yield ("response_headers_conformance",
                   f"header {name}: {value!r} does not match its schema")


def _header_value(value: str) -> Any:
    """A header as the JSON value its schema describes (headers are text on the wire)."""
    try:
        return int(value.strip())
    except ValueError:
        return value
