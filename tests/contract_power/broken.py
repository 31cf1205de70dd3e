"""Deliberately broken servers: each is the kit's mock with exactly one rule broken.

`pytest contract_tests --app tests.contract_power.broken:<name>` runs the whole contract suite
in-process against one of them; `test_broken_servers_are_caught.py` does that for every one.
Behaviour breaks patch the mock's domain functions, its middleware's helpers or the generated
runtime's validation (each run is its own process); wire-level breaks rewrite requests or
responses in an ASGI middleware.
"""

from __future__ import annotations

import functools
import json
import unicodedata
from collections.abc import Callable
from dataclasses import replace
from typing import Any
from urllib.parse import unquote

from contract_tests.families import FAMILIES
from contract_tests.recorder import operation_for
from contract_tests.targets import mock_app
from generated.operations import OPERATIONS, SEMANTIC_PATCH_MEDIA_TYPE
from mock_server.storage.records import NO_VARIATION

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


def _lagging(lags: Callable[[str], bool]) -> Callable[[], Any]:
    """The mock, except that the GETs of the operations `lags` picks answer with the previous
    answer for the same URL (a lagging cache)."""

    def build() -> Any:
        previous: dict[str, Any] = {}

        class Lagging(RewriteResponses):
            async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
                self._path = scope.get("path", "")
                await super().__call__(scope, receive, send)

        def rewrite(operation: str, status: int, body: Any) -> tuple[int, Any]:
            if status != 200 or not lags(operation):
                return status, body
            path = lagging._path
            stale = previous.get(path, body)
            previous[path] = body
            return status, stale

        lagging = Lagging(mock_app(), rewrite)
        return lagging

    return build


def ignored_versions() -> Any:
    from mock_server import expiring

    expiring._check_version = lambda *args, **kwargs: None  # type: ignore[assignment]
    return mock_app()


def no_precondition() -> Any:
    from mock_server import expiring

    expiring._Schedules.has_target = lambda *args, **kwargs: True  # type: ignore[method-assign,assignment]
    return mock_app()


def _loose_keys(normalize: Callable[[str], str]) -> Callable[[], Any]:
    """The mock, except that an add finds a context's individual target by its key as
    `normalize` sees it, so a near miss of a targeted key passes for it."""

    def build() -> Any:
        from mock_server import expiring

        def has_target(view: Any, res: Any, slots: Any, kind: str, key: str,
                       variation: int = NO_VARIATION) -> bool:
            wanted = normalize(key)
            return any(row.slot in slots and row.context_kind == kind
                       and row.variation == variation and normalize(row.context_key) == wanted
                       for row in view.tx.targets(res))

        expiring._Schedules.has_target = has_target  # type: ignore[method-assign,assignment]
        return mock_app()

    return build


keys_matched_case_insensitively = _loose_keys(str.casefold)
keys_trimmed = _loose_keys(str.strip)
keys_unicode_normalized = _loose_keys(functools.partial(unicodedata.normalize, "NFC"))


def schedules_ignore_context_kind() -> Any:
    """A schedule is found by context key (and list or flag) alone: an org and a user with the
    same key share one schedule."""
    from mock_server import expiring

    find = expiring._Schedules.find

    def kind_blind(view: Any, res: Any, kind: str, key: str, target_type: str) -> Any:
        own = find(view, res, kind, key, target_type)
        if own is not None:
            return own
        for (r, _, k, t), schedule in view.current.items():  # written by this PATCH
            if schedule is not None and (r, k, t) == (res, key, target_type):
                return schedule
        stored = {s.context_kind for s in view.tx.schedules_for(res)
                  if s.context_key == key and s.target_type == target_type}
        found = (find(view, res, other, key, target_type) for other in sorted(stored))
        return next((f for f in found if f is not None), None)

    expiring._Schedules.find = kind_blind  # type: ignore[method-assign,assignment]
    return mock_app()


def long_keys_truncated() -> Any:
    """Schedules keep a context key's first 255 characters (a VARCHAR(255) column)."""
    from mock_server import expiring

    put = expiring._Schedules.put

    def truncating(view: Any, schedule: Any) -> None:
        schedule.context_key = schedule.context_key[:255]
        put(view, schedule)

    expiring._Schedules.put = truncating  # type: ignore[method-assign,assignment]
    return mock_app()


def dates_truncated_to_seconds() -> Any:
    """Expiry dates are stored in whole seconds: the milliseconds are dropped."""
    from mock_server import expiring

    date = expiring._Change._date
    expiring._Change._date = lambda self: date(self) // 1000 * 1000  # type: ignore[method-assign]
    return mock_app()


def failed_update_still_applies() -> Any:
    """An update whose version does not match is reported failed, but its date is kept."""
    from mock_server import expiring
    from mock_server.errors import InstructionFailed

    check = expiring._check_version

    def half_applied(instruction: dict[str, Any], kind: str, spec: Any, schedule: Any,
                     *resource: Any) -> None:
        try:
            check(instruction, kind, spec, schedule, *resource)
        except InstructionFailed:
            schedule.expiration_date = int(instruction["value"])
            raise

    expiring._check_version = half_applied  # type: ignore[assignment]
    return mock_app()


def removes_do_nothing() -> Any:
    """A remove answers success and leaves the schedule where it was."""
    from mock_server import expiring

    apply = expiring._Change.apply

    def ignoring_removes(change: Any, action: str, *rest: Any) -> bool:
        return False if action == "remove" else apply(change, action, *rest)

    expiring._Change.apply = ignoring_removes  # type: ignore[method-assign]
    return mock_app()


def older_versions_accepted() -> Any:
    """Only a version newer than the current one is a mismatch: an older one passes."""
    from mock_server import expiring
    from mock_server.instructions import version_refers_to_resource

    check = expiring._check_version

    def one_way(instruction: dict[str, Any], kind: str, spec: Any, schedule: Any,
                resource_kind: str, resource_version: int) -> None:
        version = instruction.get("version")
        current = resource_version if version_refers_to_resource(spec) else schedule.version
        if not (isinstance(version, int) and version < current):
            check(instruction, kind, spec, schedule, resource_kind, resource_version)

    expiring._check_version = one_way  # type: ignore[assignment]
    return mock_app()


def all_or_nothing() -> Any:
    """When any instruction fails for a semantic reason, none takes effect, though the
    answer reports only the failed ones."""
    from mock_server import expiring
    from mock_server.errors import InstructionFailed

    run = expiring._run

    def transactional(view: Any, instructions: Any, kinds: Any, apply: Any,
                  policy: Any) -> Any:
        failed = []

        def tracked(*args: Any) -> Any:
            try:
                return apply(*args)
            except InstructionFailed:
                failed.append(True)
                raise

        flush = view.flush

        def flush_unless_failed() -> Any:
            if not failed:
                return flush()
            view.current = {}
            return {}, set()

        view.flush = flush_unless_failed
        return run(view, instructions, kinds, tracked, policy)

    expiring._run = transactional  # type: ignore[assignment]
    return mock_app()


def _untargeting(picks: Callable[[str], bool]) -> Callable[[], Any]:
    """The mock, except that an instruction whose kind `picks` also takes the context whose
    schedule it changed out of the individual targets it was scheduled to leave."""

    def build() -> Any:
        from mock_server import expiring
        from mock_server.representations import FLAG_SLOTS
        from mock_server.segments import segment_slots

        run = expiring._run

        def state(view: Any) -> dict[Any, Any]:
            return {k: None if s is None else (s.id, s.expiration_date, s.version)
                    for k, s in view.current.items()}

        def untargeting(view: Any, instructions: Any, kinds: Any, apply: Any,
                policy: Any) -> Any:
            changed: list[Any] = []

            def tracked(instruction: dict[str, Any], kind: str, spec: Any) -> Any:
                before = state(view)
                result = apply(instruction, kind, spec)
                if picks(kind):
                    changed.extend(k for k, v in state(view).items() if v != before.get(k))
                return result

            outcome = run(view, instructions, kinds, tracked, policy)
            for res, context_kind, context_key, target_type in changed:
                slots = (segment_slots(target_type, context_kind) if res.kind == "segment"
                         else FLAG_SLOTS)
                view.tx.remove_targets(res, slots, context_kind, context_key)
            return outcome

        expiring._run = untargeting  # type: ignore[assignment]
        return mock_app()

    return build


# The user endpoints' remove (removeExpireUserTargetDate) also untargets the user.
remove_drops_user_target = _untargeting(lambda kind: kind == "removeExpireUserTargetDate")
# An update is a remove and an add, the remove untargeting: the schedule outlives its target.
update_drops_target = _untargeting(lambda kind: kind.startswith("update"))


def patch_items_show_state_before() -> Any:
    """A PATCH answer lists each schedule it updated as it was before the PATCH."""
    from mock_server import expiring

    run = expiring._run

    def as_before(view: Any, schedule: Any) -> Any:
        key = (schedule.resource, schedule.context_kind, schedule.context_key,
               schedule.target_type)
        initial = view.initial.get(key)
        if initial is None or initial[0] != schedule.id:
            return schedule
        _, variation_id, version, date = initial
        return replace(schedule, variation_id=variation_id, version=version,
                       expiration_date=date)

    def stale_answer(view: Any, instructions: Any, kinds: Any, apply: Any,
                 policy: Any) -> Any:
        outcome = run(view, instructions, kinds, apply, policy)
        outcome.schedules = [as_before(view, s) for s in outcome.schedules]
        outcome.written = {}  # the items are rendered from the schedules above
        return outcome

    expiring._run = stale_answer  # type: ignore[assignment]
    return mock_app()


def _runtime_without(keyword: str) -> Callable[[], Any]:
    """The mock, except that request bodies are validated without the schemas' `keyword`
    (the mock's own instruction checks then fail such an instruction alone: 200)."""

    def build() -> Any:
        from generated import _validation

        document = _validation._document()

        def stripped(node: Any) -> Any:
            if isinstance(node, dict):
                return {k: stripped(v) for k, v in node.items() if k != keyword}
            return [stripped(v) for v in node] if isinstance(node, list) else node

        lenient = stripped(document)
        _validation._document = lambda: lenient  # type: ignore[assignment]
        _validation._root.cache_clear()
        _validation._validator.cache_clear()
        return mock_app()

    return build


# Integers outside int64 (`format: int64`) pass validation.
int64_unchecked = _runtime_without("format")
# `kind` and `targetType` outside their enums pass validation.
enums_unchecked = _runtime_without("enum")


def rate_limit_without_retry_after() -> Any:
    """429 answers carry no Retry-After (the X-Ratelimit-* headers stay)."""
    from mock_server import access

    send_error = access.send_error

    async def without_retry_after(send: Any, status: int, code: str, message: str,
                                  headers: Any = ()) -> None:
        kept = [(k, v) for k, v in headers if not (status == 429 and k == b"retry-after")]
        await send_error(send, status, code, message, kept)

    access.send_error = without_retry_after  # type: ignore[assignment]
    return mock_app()


def user_key_decoded_twice() -> Any:
    """A router that percent-decodes the user endpoints' paths once more: a user key holding
    `%20` names another user."""
    app = mock_app()

    async def decoding(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope.get("path", "").startswith("/api/v2/users/"):
            scope = {**scope, "path": unquote(scope["path"])}
        await app(scope, receive, send)

    return decoding


def ignored_auth() -> Any:
    """The access-control layer is gone: any token, or none, may read and write."""
    from mock_server.access import AccessControl

    layer = mock_app().app
    while not isinstance(layer, AccessControl):  # outer layers (the request counter) go too
        layer = layer.app
    return layer.app  # AccessControl wraps everything else


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


def _refusing(refuse: Callable[[str | None, bytes], bool], status: int, content: bytes,
              content_type: bytes = b"application/json") -> Callable[[], Any]:
    """The mock, except that a request whose operation and body `refuse` picks is answered
    `status` with `content` before the mock sees it."""

    def build() -> Any:
        app = mock_app()

        async def gate(scope: dict[str, Any], receive: Any, send: Any) -> None:
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
            if refuse(operation_for(scope.get("method", ""), scope.get("path", "")), body):
                await send({"type": "http.response.start", "status": status,
                            "headers": [(b"content-type", content_type)]})
                await send({"type": "http.response.body", "body": content})
                return

            async def replay() -> dict[str, Any]:
                return messages.pop(0) if messages else {"type": "http.disconnect"}

            await app(scope, replay, send)

        return gate

    return build


def _not_ascii(operation: str | None, body: bytes) -> bool:
    """A PATCH of expiring targets whose body is not plain ASCII."""
    return operation in FAMILIES and (any(byte > 127 for byte in body) or b"\\u" in body)


def _schedule_patch(operation: str | None, body: bytes) -> dict[str, Any] | None:
    """The JSON body of a PATCH of expiring targets, else None."""
    if operation not in FAMILIES:
        return None
    try:
        parsed = json.loads(body)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


def _has_comment(operation: str | None, body: bytes) -> bool:
    parsed = _schedule_patch(operation, body)
    return parsed is not None and "comment" in parsed


def _has_unknown_instruction_property(operation: str | None, body: bytes) -> bool:
    """An instruction of a known kind carries a field its kind does not define."""
    parsed = _schedule_patch(operation, body)
    instructions = parsed.get("instructions") if parsed else None
    kinds = OPERATIONS[operation].instructions if operation else {}
    for instruction in instructions if isinstance(instructions, list) else []:
        kind = instruction.get("kind") if isinstance(instruction, dict) else None
        spec = kinds.get(kind) if isinstance(kind, str) else None
        if spec is not None and set(instruction) - {"kind", *spec.required, *spec.optional}:
            return True
    return False


_INVALID = json.dumps({"code": "invalid_request", "message": "unknown field"}).encode()
# Crashes (500) on a PATCH of expiring targets whose body is not plain ASCII (the setup
# operations cope).
server_error_on_unicode = _refusing(_not_ascii, 500, b"Internal Server Error", b"text/plain")
# A strict decoder: the optional request `comment` is refused (400).
rejects_comment = _refusing(_has_comment, 400, _INVALID)
# A strict decoder: an instruction property its kind does not define is refused (400),
# although the instruction schemas let unknown properties through.
rejects_unknown_instruction_properties = _refusing(_has_unknown_instruction_property, 400,
                                                   _INVALID)


wrong_counts = _rewriting(_wrong_counts)
wrong_indices = _rewriting(_wrong_indices)
dropped_errors = _rewriting(_dropped_errors)
rejects_partial_failure = _rewriting(_400_instead_of_200_with_errors)
missing_required_field = _rewriting(_missing_required_field)
versions_never_move = _rewriting(_versions_never_move)
users_diverge_from_contexts = _rewriting(_users_diverge_from_contexts)
# Every schedule listing lags: a PATCH seems not to take effect.
stale_reads = _lagging(lambda operation: operation.startswith("getExpiring"))
# Only the per-user listing (getExpiringFlagsForUser) lags behind the flag's own.
user_listing_lags = _lagging(lambda operation: operation == "getExpiringFlagsForUser")

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
    # the unicode keys of the setup meet it before Schemathesis does: a 500 to a
    # well-formed PATCH
    "server_error_on_unicode": ("Server error", "[instruction-counts]"),
    "remove_drops_user_target": ("[remove-keeps-target]",),
    "update_drops_target": ("[views-agree]",),
    "failed_update_still_applies": ("[successful-take-effect]",),
    "removes_do_nothing": ("[successful-take-effect]",),
    "all_or_nothing": ("[successful-take-effect]",),
    "dates_truncated_to_seconds": ("[successful-take-effect]",),
    "long_keys_truncated": ("[successful-take-effect]",),
    "schedules_ignore_context_kind": ("[successful-take-effect]",),
    "keys_matched_case_insensitively": ("[individual-target-required]",),
    "keys_trimmed": ("[individual-target-required]",),
    "keys_unicode_normalized": ("[individual-target-required]",),
    "older_versions_accepted": ("[version-mismatch-fails]",),
    "rejects_comment": ("[instruction-counts]", "Schema-valid request rejected"),
    "rejects_unknown_instruction_properties": ("[instruction-counts]",
                                               "Schema-valid request rejected"),
    "int64_unchecked": ("[well-formed-or-400]", "Schema-violating request accepted"),
    "enums_unchecked": ("[well-formed-or-400]", "Schema-violating request accepted"),
    "rate_limit_without_retry_after": ("[rate-limit]",),
    "patch_items_show_state_before": ("[views-agree]",),
    "user_listing_lags": ("[users-are-contexts]",),
    "user_key_decoded_twice": ("[instruction-counts]", "[successful-take-effect]"),
}
