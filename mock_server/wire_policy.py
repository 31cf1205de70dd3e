"""The policy switches that act on the wire: around the generated app and the access layer.

``media_type_value: exact`` (:class:`ExactMediaTypeValue`): RFC 9110 makes media types and parameter names case-insensitive but leaves the case of a
parameter's value to the parameter; the documents spell ``domain-model=launchdarkly.semanticpatch``
and say no more. The reference mock (and the generated runtime) accept the value in any case; under
this policy a value that differs only in case is refused like any other media type (400), before
the generated app sees the request.

``error_codes: alternative`` (:class:`AlternativeErrorCodes`): the documents require an error
body ``{code, message}`` but give each ``code`` only as an example; this rewrites the codes of
every error answer to other plausible ones (``conflict`` <-> ``optimistic_locking_error``, ...).
"""

from __future__ import annotations

import json
from typing import Any

from generated._runtime import error_body, media_type_matches, parse_media_type
from generated.operations import SEMANTIC_PATCH_MEDIA_TYPE

from .responses import send_error

__all__ = ["ALTERNATIVE_CODES", "AlternativeErrorCodes", "ExactMediaTypeValue"]

ALTERNATIVE_CODES = {
    "invalid_request": "bad_request",
    "unauthorized": "invalid_token",
    "forbidden": "access_denied",
    "not_found": "resource_not_found",
    "optimistic_locking_error": "conflict",
    "conflict": "optimistic_locking_error",
    "rate_limited": "too_many_requests",
    "method_not_allowed": "unsupported_method",
}

((_NAME, _VALUE),) = parse_media_type(SEMANTIC_PATCH_MEDIA_TYPE, fold_values=False)[1].items()


def _differs_in_case_only(content_type: str) -> bool:
    """The semantic-patch media type as the runtime matches it (any case), its parameter's
    value not as the documents spell it."""
    if not media_type_matches(content_type, SEMANTIC_PATCH_MEDIA_TYPE):
        return False
    return parse_media_type(content_type, fold_values=False)[1].get(_NAME) != _VALUE


class ExactMediaTypeValue:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            for name, value in scope.get("headers", ()):
                if name == b"content-type" and _differs_in_case_only(value.decode("latin-1")):
                    await send_error(send, 400, "invalid_request",
                                     f"unsupported Content-Type {value.decode('latin-1')!r}; "
                                     f"expected {SEMANTIC_PATCH_MEDIA_TYPE!r} (the "
                                     f"{_NAME} value is matched exactly)")
                    return
        await self.app(scope, receive, send)


class AlternativeErrorCodes:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def rewrite(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start" and message["status"] >= 400:
                start.update(message)  # held back until the body is complete
                return
            if not start or message["type"] != "http.response.body":
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body"):
                return
            body = _recoded(b"".join(chunks))
            headers = [(k, v) for k, v in start.get("headers", []) if k != b"content-length"]
            await send({**start, "headers": [*headers,
                                              (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, rewrite)


def _recoded(body: bytes) -> bytes:
    try:
        error = json.loads(body)
    except ValueError:
        return body
    if not isinstance(error, dict) or error.get("code") not in ALTERNATIVE_CODES:
        return body
    return error_body(ALTERNATIVE_CODES[error["code"]], str(error.get("message", "")))
