"""Deliberately broken servers: each is the kit's mock with exactly one rule broken.

`pytest contract_tests --app tests.contract_power.broken:<name>` runs the whole contract suite
in-process against one of them; `test_broken_servers_are_caught.py` does that for every one.
Behaviour breaks patch the mock's domain functions (each run is its own process); wire-level
breaks rewrite requests or responses in an ASGI middleware.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from contract_tests.recorder import operation_for
from contract_tests.targets import mock_app
from generated.operations import OPERATIONS, SEMANTIC_PATCH_MEDIA_TYPE

__all__ = ["BREAKS"]

Rewrite = Callable[[str, int, Any], tuple[int, Any]]  # (operation, status, body) -> new pair


class RewriteResponses:
    """Buffers JSON responses of the operations `rewrite` cares about and rewrites them."""

    def __init__(self, app: Any, rewrite: Rewrite) -> None:
        self.app = app
        self.rewrite = rewrite

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        operation = operation_for(scope.get("method", ""), scope.get("path", "")) if (
            scope["type"] == "http") else None
        if operation is None:
            await self.app(scope, receive, send)
            return
        start: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def capture(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                if not message.get("more_body"):
                    await self._send(send, operation, start, b"".join(chunks))

        await self.app(scope, receive, capture)

    async def _send(self, send: Any, operation: str, start: dict[str, Any], raw: bytes) -> None:
        status = start["status"]
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        if body is not None:
            status, body = self.rewrite(operation, status, body)
            raw = json.dumps(body).encode()
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(raw)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": raw})


def _semantic_patch_response(operation: str, status: int) -> bool:
    return status == 200 and SEMANTIC_PATCH_MEDIA_TYPE in OPERATIONS[operation].request_media_types


def _rewriting(rewrite: Rewrite) -> Callable[[], Any]:
    return lambda: RewriteResponses(mock_app(), rewrite)


def _wrong_counts(operation: str, status: int, body: Any) -> tuple[int, Any]:
    if _semantic_patch_response(operation, status) and "totalInstructions" in body:
        body["totalInstructions"] += 1
    return status, body


def _wrong_indices(operation: str, status: int, body: Any) -> tuple[int, Any]:
    if _semantic_patch_response(operation, status):
        for error in body.get("errors") or []:
            error["instructionIndex"] += 1
    return status, body


def _dropped_errors(operation: str, status: int, body: Any) -> tuple[int, Any]:
    if _semantic_patch_response(operation, status):
        body["errors"] = []
    return status, body


def _400_instead_of_200_with_errors(operation: str, status: int, body: Any) -> tuple[int, Any]:
    if _semantic_patch_response(operation, status) and body.get("errors"):
        return 400, {"code": "invalid_request", "message": "an instruction failed"}
    return status, body


def _missing_required_field(operation: str, status: int, body: Any) -> tuple[int, Any]:
    if status == 200 and isinstance(body, dict) and operation.startswith("get"):
        for item in body.get("items") or []:
            item.pop("_resourceId", None)
    return status, body


def _versions_never_move(operation: str, status: int, body: Any) -> tuple[int, Any]:
    if status == 200 and isinstance(body, dict):
        for item in body.get("items") or []:
            if "_version" in item:
                item["_version"] = 1
    return status, body


def _users_diverge_from_contexts(operation: str, status: int, body: Any) -> tuple[int, Any]:
    if status == 200 and operation in ("getExpiringUserTargetsForSegment",
                                       "getExpiringUserTargets", "getExpiringFlagsForUser"):
        for item in body.get("items") or []:
            item["expirationDate"] += 60_000
    return status, body


def stale_reads() -> Any:
    """GETs of schedules answer with the previous answer for the same URL (a lagging cache)."""
    previous: dict[str, Any] = {}
    app = mock_app()

    class Lagging(RewriteResponses):
        async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
            self._path = scope.get("path", "")
            await super().__call__(scope, receive, send)

    def rewrite(operation: str, status: int, body: Any) -> tuple[int, Any]:
        if status != 200 or not operation.startswith("getExpiring"):
            return status, body
        path = lagging._path
        stale = previous.get(path, body)
        previous[path] = body
        return status, stale

    lagging = Lagging(app, rewrite)
    return lagging


def ignored_versions() -> Any:
    from mock_server import expiring

    expiring._check_version = lambda *args, **kwargs: None  # type: ignore[assignment]
    return mock_app()


def no_precondition() -> Any:
    from mock_server import expiring

    expiring._Schedules.has_target = lambda *args, **kwargs: True  # type: ignore[method-assign]
    return mock_app()


def ignored_auth() -> Any:
    """The access-control layer is gone: any token, or none, may read and write (the layers
    around it, such as the admin request count, stay)."""
    from mock_server.access import AccessControl

    server = mock_app()
    if isinstance(server.app, AccessControl):
        return server.app.app
    outer = server.app
    while not isinstance(outer.app, AccessControl):
        outer = outer.app
    outer.app = outer.app.app
    return server


def plain_json_accepted() -> Any:
    """Semantic patches are accepted without their media type."""
    app = mock_app()

    async def relabel(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope.get("method") == "PATCH":
            headers = [(k, v) for k, v in scope["headers"] if k != b"content-type"]
            operation = operation_for("PATCH", scope.get("path", ""))
            if operation and OPERATIONS[operation].request_media_types == (
                    SEMANTIC_PATCH_MEDIA_TYPE,):
                headers.append((b"content-type", SEMANTIC_PATCH_MEDIA_TYPE.encode()))
                scope = {**scope, "headers": headers}
        await app(scope, receive, send)

    return relabel


def server_error_on_unicode() -> Any:
    """Crashes (500) on any request body that is not plain ASCII."""
    app = mock_app()

    async def fragile(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        messages = []
        while True:
            message = await receive()
            messages.append(message)
            if not message.get("more_body"):
                break
        body = b"".join(m.get("body", b"") for m in messages)
        if any(byte > 127 for byte in body) or b"\\u" in body:
            await send({"type": "http.response.start", "status": 500,
                        "headers": [(b"content-type", b"text/plain")]})
            await send({"type": "http.response.body", "body": b"Internal Server Error"})
            return

        async def replay() -> dict[str, Any]:
            return messages.pop(0) if messages else {"type": "http.disconnect"}

        await app(scope, replay, send)

    return fragile


wrong_counts = _rewriting(_wrong_counts)
wrong_indices = _rewriting(_wrong_indices)
dropped_errors = _rewriting(_dropped_errors)
rejects_partial_failure = _rewriting(_400_instead_of_200_with_errors)
missing_required_field = _rewriting(_missing_required_field)
versions_never_move = _rewriting(_versions_never_move)
users_diverge_from_contexts = _rewriting(_users_diverge_from_contexts)

# name -> what must appear in the suite's failure output (rule ids or Schemathesis checks)
BREAKS: dict[str, tuple[str, ...]] = {
    "wrong_counts": ("[instruction-counts]",),
    "wrong_indices": ("[error-indices]", "[individual-target-required]",
                      "[version-mismatch-fails]", "[successful-take-effect]",
                      "[instruction-counts]", "[one-variation-per-flag]"),
    "dropped_errors": ("[instruction-counts]",),
    "rejects_partial_failure": ("[instruction-counts]", "Schema-valid request rejected"),
    "missing_required_field": ("Response violates schema",),
    "versions_never_move": ("[update-increments-version]", "[version-mismatch-fails]",
                            "[successful-take-effect]"),
    "users_diverge_from_contexts": ("[users-are-contexts]",),
    # a lagging listing: a PATCH seems not to take effect, or the user listing lags the
    # context listing of the same schedules (whichever example meets it first)
    "stale_reads": ("[successful-take-effect]", "[users-are-contexts]"),
    "ignored_versions": ("[version-mismatch-fails]",),
    "no_precondition": ("[individual-target-required]", "[one-variation-per-flag]"),
    "ignored_auth": ("API accepts requests without authentication", "[access-control]"),
    "plain_json_accepted": ("[semantic-content-type]",),
    "server_error_on_unicode": ("Server error",),
}
