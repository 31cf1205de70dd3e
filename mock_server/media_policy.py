"""``policy: media_type_value: exact``: the semantic-patch parameter value matched as documented.

RFC 9110 makes media types and parameter names case-insensitive but leaves the case of a
parameter's value to the parameter; the documents spell ``domain-model=launchdarkly.semanticpatch``
and say no more. The reference mock (and the generated runtime) accept the value in any case; under
this policy a value that differs only in case is refused like any other media type (400), before
the generated app sees the request.
"""

from __future__ import annotations

from typing import Any

from generated.operations import SEMANTIC_PATCH_MEDIA_TYPE

from .responses import send_error

__all__ = ["ExactMediaTypeValue"]

_NAME, _, _VALUE = SEMANTIC_PATCH_MEDIA_TYPE.partition(";")[2].strip().partition("=")


def _differs_in_case_only(content_type: str) -> bool:
    for parameter in content_type.split(";")[1:]:
        name, _, value = parameter.partition("=")
        value = value.strip().strip('"')
        if name.strip().lower() == _NAME and value != _VALUE and value.lower() == _VALUE:
            return True
    return False


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
