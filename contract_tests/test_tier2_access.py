"""Tier 2: content types, malformed bodies, access control and rate limits, from the metadata.

Every case is derived from `generated.operations` (methods, paths, parameters, media types,
instruction kinds) and the bundled request schemas: one parametrized test per (operation, case),
nothing listed per operation by hand. Refused requests must change nothing: each case compares
the GETs that show what the request would have changed, before and after.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from generated.client import Client
from generated.operations import OPERATIONS, SEMANTIC_PATCH_MEDIA_TYPE, Operation, RuleId

from .actions import reset_schedules
from .checks import (
    ContractViolation,
    check_counts,
    check_error_body,
    check_error_indices,
    check_status,
    checked,
)
from .conftest import Suite
from .families import FAMILIES, Family
from .observe import call
from .plans import DAY_MS
from .provisioning import Provisioned
from .raw import path_values, raw_request
from .recorder import RecordingTransport
from .schema import bundle
from .transport import SyncASGITransport

pytestmark = pytest.mark.tier2

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
SEMANTIC_ONLY = sorted(op_id for op_id, family in FAMILIES.items()
                       if family.operation.request_media_types == (SEMANTIC_PATCH_MEDIA_TYPE,))


# -- the suite's own resources, and requests built from the metadata -------------------------


@pytest.fixture(scope="module")
def own(suite: Suite) -> Provisioned:
    """A segment and flag for this module only (its writes never disturb other tests)."""
    return suite.provisioning.create()


@pytest.fixture
def unscheduled(suite: Suite, own: Provisioned) -> Iterator[Provisioned]:
    """`own` without schedules, before and after the test."""
    resources = {f.resource: f for f in FAMILIES.values() if f.resource != "user"}
    for family in resources.values():
        reset_schedules(suite.api, family, own)
    yield own
    for family in resources.values():
        reset_schedules(suite.api, family, own)


def _path_parameters(op: Operation) -> list[str]:
    return [param.name for param in op.parameters if param.location == "path"]


def _python_names(op: Operation, values: dict[str, str]) -> dict[str, str]:
    return {param.python_name: values[param.name] for param in op.parameters
            if param.location == "path"}


def _add_instruction(family: Family, p: Provisioned, now_ms: int) -> dict[str, Any]:
    """An add for the family's first slot: a change, if the server let it through."""
    slot = family.slots(p)[0]
    return {"kind": family.add.name, **family.address(slot, p, family.add),
            "value": now_ms + 30 * DAY_MS}


def _required_top_level(op: Operation, media_type: str) -> list[str]:
    name = op.request_schemas.get(media_type)
    return list(bundle()["components"]["schemas"][name].get("required", [])) if name else []


def _valid_body(op: Operation, p: Provisioned, new_key: str) -> Any:
    """A well-formed body for `op` that would change something on the suite's resources."""
    now = int(time.time() * 1000)
    if op.operation_id in FAMILIES:
        return {"instructions": [_add_instruction(FAMILIES[op.operation_id], p, now)]}
    media = SEMANTIC_PATCH_MEDIA_TYPE if SEMANTIC_PATCH_MEDIA_TYPE in op.request_media_types else (
        op.request_media_types[0])
    fill = {"environmentKey": p.environment, "contextKind": "user", "values": [new_key],
            "variationId": p.variation_ids[0], "key": new_key, "name": new_key}
    if op.instructions:  # a setup semantic patch: its first add kind, targeting a new key
        kind = next(k for k in op.instructions.values() if k.action == "add")
        instruction = {"kind": kind.name, **{f: fill[f] for f in kind.required}}
        top = {f: fill[f] for f in _required_top_level(op, media) if f != "instructions"}
        return {**top, "instructions": [instruction]}
    return {f: fill[f] for f in _required_top_level(op, media)}


@dataclass(frozen=True)
class Call:
    """One request of a case: the operation, its path values and its body."""

    op: Operation
    values: dict[str, str]
    body: Any

    def send(self, client: Client) -> Any:
        kwargs: dict[str, Any] = _python_names(self.op, self.values)
        if self.op.request_media_types:
            kwargs["body"] = self.body
        return call(client, self.op, **kwargs)


def _observers(op: Operation) -> list[tuple[Operation, str | None]]:
    """The GETs that show what `op` changes: the GET on its path, the context GET of its
    resource, and for a create the GET of the created item (bound to the body's key)."""
    found: list[tuple[Operation, str | None]] = [
        (o, None) for o in OPERATIONS.values() if o.method == "GET" and o.path == op.path
    ]
    if op.operation_id in FAMILIES:
        state_get = FAMILIES[op.operation_id].state_get
        if state_get.path != op.path:
            found.append((state_get, None))
    if op.method == "POST":
        for o in OPERATIONS.values():
            rest = o.path.removeprefix(op.path + "/")
            if o.method == "GET" and rest != o.path and "/" not in rest:
                found.append((o, rest.strip("{}")))
    return found


def _snapshot(api: Client, request: Call) -> list[tuple[str, int, Any]]:
    seen = []
    for get, bound_to_key in _observers(request.op):
        values = dict(request.values)
        if bound_to_key is not None:
            values[bound_to_key] = request.body["key"]
        response = call(api, get, **_python_names(get, values))
        seen.append((get.operation_id, response.status_code,
                     response.json() if response.content else None))
    return seen


def _check_unchanged(rule: RuleId, before: Any, after: Any, what: str) -> None:
    checked(rule)
    if before != after:
        changed = [b[0] for b, a in zip(before, after, strict=True) if b != a]
        raise ContractViolation(rule, f"{what} changed what {', '.join(changed)} shows")


def _error_body(suite: Suite, rule: RuleId, response: Any, example: str) -> None:
    """An error answer is {code, message} (the seeds' error schemas require both). Which `code`
    is open: the reference spec shows each only as an `example`, so another string passes, and
    the report shows which the server sent."""
    code = check_error_body(rule, response)
    suite.target.recorder.record_choice(
        f"`code` of an HTTP {response.status_code} answer",
        f"{code} (the reference's example)" if code == example else code)


# -- semantic-content-type -------------------------------------------------------------------


def _media_variants() -> dict[str, tuple[str, bool]]:
    """The semantic media type spelt differently -> (Content-Type, whether it must be taken).
    Type, subtype and parameter names are case-insensitive and whitespace may surround `;`
    (RFC 9110, sections 8.3.1 and 5.6.6): those must be accepted. A parameter's *value* "might
    or might not be case-sensitive, depending on the semantics of the parameter name" (5.6.6),
    and the documents say nothing of `domain-model`'s: either answer passes, and is reported."""
    essence, parameter = (part.strip() for part in SEMANTIC_PATCH_MEDIA_TYPE.split(";"))
    name, _, value = parameter.partition("=")
    return {
        "upper-spaced": (f"{essence.upper()} ; {name.upper()}={value}", True),
        "title-double-spaced": (f"{essence.title()}  ;  {name.title()}={value}", True),
        "value-upper": (f"{essence}; {name}={value.upper()}", False),
        "value-mixed-case": (f"{essence};{name.title()}={value.swapcase()}", False),
    }


MEDIA_VARIANTS = _media_variants()


@pytest.mark.parametrize("content_type", ["application/json", None],
                         ids=["plain-json", "no-content-type"])
@pytest.mark.parametrize("operation_id", SEMANTIC_ONLY)
def test_semantic_patch_needs_its_media_type(
    suite: Suite, unscheduled: Provisioned, operation_id: str, content_type: str | None
) -> None:
    op, p = OPERATIONS[operation_id], unscheduled
    request = Call(op, path_values(p), _valid_body(op, p, "unused"))
    before = _snapshot(suite.api, request)
    response = raw_request(suite.target, op, p, json.dumps(request.body).encode(), content_type)
    check_status("semantic-content-type", response, 400,
                 f"a valid semantic patch sent with Content-Type {content_type!r}")
    _error_body(suite, "semantic-content-type", response, "invalid_request")
    _check_unchanged("semantic-content-type", before, _snapshot(suite.api, request),
                     f"a refused request (Content-Type {content_type!r})")


@pytest.mark.parametrize("variant", sorted(MEDIA_VARIANTS))
@pytest.mark.parametrize("operation_id", SEMANTIC_ONLY)
def test_media_type_matched_case_insensitively(
    suite: Suite, unscheduled: Provisioned, operation_id: str, variant: str
) -> None:
    op, p = OPERATIONS[operation_id], unscheduled
    content_type, must_accept = MEDIA_VARIANTS[variant]
    request = Call(op, path_values(p), _valid_body(op, p, "unused"))
    before = _snapshot(suite.api, request)
    response = raw_request(suite.target, op, p, json.dumps(request.body).encode(), content_type)
    if not must_accept and response.status_code == 400:  # an allowed reading: value exact
        _error_body(suite, "semantic-content-type", response, "invalid_request")
        _check_unchanged("semantic-content-type", before, _snapshot(suite.api, request),
                         f"a refused request (Content-Type {content_type!r})")
        suite.target.recorder.record_choice("`domain-model` value in another case", "400")
        return
    check_status("semantic-content-type", response, 200,
                 f"a valid semantic patch sent with Content-Type {content_type!r}")
    if not must_accept:
        suite.target.recorder.record_choice("`domain-model` value in another case", "accepted")
    checked("successful-take-effect")
    if response.json().get("errors"):  # the body the refusals above reuse
        raise ContractViolation("successful-take-effect",
                                f"an add for a targeted, unscheduled context failed: "
                                f"{response.json().get('errors')}")


# -- well-formed-or-400 ----------------------------------------------------------------------


def _resolved(schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = {**bundle()["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]],
                  **{k: v for k, v in schema.items() if k != "$ref"}}
    return schema


# A value of the wrong JSON type for each declared type (True is not an integer in JSON Schema).
WRONG_TYPES: dict[str, list[Any]] = {
    "string": [12345],
    "integer": ["12345", 1.5, True],
    "number": ["1.5"],
    "boolean": ["true"],
    "array": ["not-an-array"],
    "object": ["not-an-object"],
}
INT64 = (-(2**63), 2**63 - 1)



def _json_type(value: Any) -> str:
    return {bool: "boolean", int: "integer", float: "number", str: "string", list: "array",
            type(None): "null"}[type(value)]


Mutation = Callable[[dict[str, Any]], Any]  # a valid body -> a malformed one (JSON) or bytes
_MISSING = object()


def _field(name: str, value: Any = _MISSING) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """Set a field of an object to `value`, or drop it."""
    def change(obj: dict[str, Any]) -> dict[str, Any]:
        kept = {k: v for k, v in obj.items() if k != name}
        return kept if value is _MISSING else {**kept, name: value}
    return change


def _in_instruction(change: Callable[[dict[str, Any]], dict[str, Any]]) -> Mutation:
    return lambda body: {**body, "instructions": [change(body["instructions"][0])]}


def _appended(item: Any) -> Mutation:
    return lambda body: {**body, "instructions": [*body["instructions"], item]}


def _malformations(op: Operation) -> dict[str, Mutation]:
    """Bodies that do not validate against the operation's request schema, named."""
    schemas = bundle()["components"]["schemas"]
    top = _resolved(schemas[op.request_schemas[SEMANTIC_PATCH_MEDIA_TYPE]])
    item = _resolved(top["properties"]["instructions"]["items"])
    cases: dict[str, Mutation] = {
        "not-json": lambda body: json.dumps(body).encode()[:-3],
        "empty-body": lambda body: b"",
        "bare-array": lambda body: json.dumps(body["instructions"]).encode(),
    }
    for name in top.get("required", []):
        cases[f"no-{name}"] = _field(name)
    for name, prop in top.get("properties", {}).items():
        for wrong in WRONG_TYPES.get(_resolved(prop).get("type", ""), []):
            cases[f"{name}-as-{_json_type(wrong)}"] = _field(name, wrong)
    if item.get("type") == "object":
        for wrong in (42, "instruction", None, []):
            cases[f"instruction-as-{_json_type(wrong)}"] = _appended(wrong)
    for name in item.get("required", []):
        cases[f"instruction-no-{name}"] = _in_instruction(_field(name))
    for name, prop in item.get("properties", {}).items():
        prop = _resolved(prop)
        if "enum" in prop:
            cases[f"{name}-outside-enum"] = _in_instruction(_field(name, "notInTheEnum"))
        for wrong in WRONG_TYPES.get(prop.get("type", ""), []):
            cases[f"{name}-as-{_json_type(wrong)}"] = _in_instruction(_field(name, wrong))
        if prop.get("format") == "int64":
            cases[f"{name}-above-int64"] = _in_instruction(_field(name, INT64[1] + 1))
            cases[f"{name}-below-int64"] = _in_instruction(_field(name, INT64[0] - 1))
    return cases


MALFORMED = [(op_id, case) for op_id in sorted(FAMILIES)
             for case in _malformations(OPERATIONS[op_id])]


@pytest.mark.parametrize(("operation_id", "case"), MALFORMED,
                         ids=[f"{op_id}-{case}" for op_id, case in MALFORMED])
def test_malformed_body_is_refused(
    suite: Suite, unscheduled: Provisioned, operation_id: str, case: str
) -> None:
    op, p = OPERATIONS[operation_id], unscheduled
    request = Call(op, path_values(p), _valid_body(op, p, "unused"))
    malformed = _malformations(op)[case](request.body)
    content = malformed if isinstance(malformed, bytes) else json.dumps(malformed).encode()
    before = _snapshot(suite.api, request)
    response = Call(op, request.values, content).send(suite.api)
    check_status("well-formed-or-400", response, 400,
                 f"{case}: {content[:160].decode('utf-8', 'replace')}")
    _error_body(suite, "well-formed-or-400", response, "invalid_request")
    _check_unchanged("well-formed-or-400", before, _snapshot(suite.api, request),
                     f"a refused request ({case})")


# -- access-control --------------------------------------------------------------------------


def _access_cases(op: Operation) -> list[str]:
    return ["no-token", "unknown-token", "read-only",
            *(f"unknown-{name}" for name in _path_parameters(op))]


ACCESS = [(op_id, case) for op_id in sorted(OPERATIONS)
          for case in _access_cases(OPERATIONS[op_id])]


def _request_for(suite: Suite, op: Operation, p: Provisioned) -> Call:
    """The request of a case: on the module's resources; a delete gets a throwaway to delete."""
    values = path_values(p)
    if op.method == "DELETE":
        last = _path_parameters(op)[-1]
        make = {"segmentKey": suite.provisioning.throwaway_segment,
                "featureFlagKey": suite.provisioning.throwaway_flag}[last]
        values[last] = make()
    new_key = f"{p.segment_key}-new-{secrets.token_hex(3)}"
    return Call(op, values, _valid_body(op, p, new_key) if op.request_media_types else None)


def _undo_create(suite: Suite, request: Call, response: Any) -> None:
    """A create that should have been refused made something: delete it again."""
    if request.op.method != "POST" or not response.status_code < 300:
        return
    for get, key_name in _observers(request.op):
        delete = next(o for o in OPERATIONS.values()
                      if o.method == "DELETE" and o.path == get.path)
        call(suite.api, delete, **_python_names(delete, {**request.values,
                                                         key_name or "": request.body["key"]}))


@pytest.mark.parametrize(("operation_id", "case"), ACCESS,
                         ids=[f"{op_id}-{case}" for op_id, case in ACCESS])
def test_access_control(suite: Suite, own: Provisioned, operation_id: str, case: str) -> None:
    op = OPERATIONS[operation_id]
    write = op.method in WRITE_METHODS
    request = _request_for(suite, op, own)
    code: str | None
    if case == "no-token":
        client, expected, code = suite.target.client(anonymous=True), 401, "unauthorized"
    elif case == "unknown-token":
        client = suite.target.client(token=f"api-unknown-{secrets.token_hex(16)}")
        expected, code = 401, "unauthorized"
    elif case == "read-only":
        if suite.settings.readonly_token is None:
            pytest.skip("no read-only token (LD_API_TOKEN_READONLY)")
        client = suite.target.client(token=suite.settings.readonly_token)
        expected, code = (403, "forbidden") if write else (200, None)
    else:
        name = case.removeprefix("unknown-")
        request = Call(op, {**request.values, name: f"ct-unknown-{name}-{secrets.token_hex(4)}"},
                       request.body)
        if name == "userKey":
            _check_unknown_user(suite, request)
            return
        client, expected, code = suite.api, 404, "not_found"
    before = _snapshot(suite.api, request) if write and expected != 404 else None
    response = request.send(client)
    if case == "read-only" and write and response.status_code == 401:
        # the reference's 401: "Requestor is unauthorized or does not have permission for this
        # API call"; its 403: "does not have access to this resource". Both readings pass.
        expected, code = 401, "unauthorized"
    try:
        check_status("access-control", response, expected, f"{op.method} {op.path} ({case})")
    finally:
        _undo_create(suite, request, response)
    if case == "read-only" and write:
        suite.target.recorder.record_choice("a read-only token on a write", str(expected))
    if code is not None:
        _error_body(suite, "access-control", response, code)
    if before is not None:
        _check_unchanged("access-control", before, _snapshot(suite.api, request),
                         f"a refused {op.method} ({case})")


def _check_unknown_user(suite: Suite, request: Call) -> None:
    """A user key that nothing targets. The documents list 404 for the user endpoints but never
    say when a user is unknown (no operation creates users), so 404 `not_found` and 200 with no
    schedules (a PATCH: every instruction failed, nothing changed) are both readings."""
    op = request.op
    before = _snapshot(suite.api, request) if op.method in WRITE_METHODS else None
    response = request.send(suite.api)
    what = f"{op.method} {op.path} for a user key nothing targets"
    if response.status_code == 404:
        _error_body(suite, "access-control", response, "not_found")
        suite.target.recorder.record_choice("user key that nothing targets", "404")
    else:
        check_status("access-control", response, 200, f"{what} (404 or 200 allowed)")
        body = response.json()
        if op.method == "GET" and body.get("items"):
            raise ContractViolation("access-control",
                                    f"{what}: lists schedules {body['items']!r:.200}")
        if op.method != "GET":
            sent = len(request.body["instructions"])
            check_counts(body, sent)
            failed = check_error_indices(body, sent)
            checked("individual-target-required")
            if failed != set(range(sent)):
                raise ContractViolation("individual-target-required",
                                        f"{what}: instructions {sorted(set(range(sent)) - failed)}"
                                        " succeeded for a user no flag targets")
        suite.target.recorder.record_choice("user key that nothing targets", "200, no schedules")
    if before is not None:
        _check_unchanged("access-control", before, _snapshot(suite.api, request),
                         f"a PATCH for an unknown user ({what})")


# -- rate-limit (the kit's mock in-process only: it needs a second app with a tiny limit) ----


RATE_LIMIT = 3
WINDOW_START_MS = 1_700_000_000_000  # a multiple of the 10-second window


@pytest.fixture
def limited(suite: Suite) -> Iterator[Any]:
    """A second in-process mock whose tokens may make `RATE_LIMIT` requests per window."""
    if not suite.settings.in_process:
        pytest.skip("needs the kit's mock in-process (a second app with a tiny rate limit)")
    from mock_server import create_mock_app
    from mock_server.clock import SettableClock
    from mock_server.config import load_config

    app = create_mock_app(load_config().with_overrides(admin=True, rate_limit=RATE_LIMIT))
    assert isinstance(app.clock, SettableClock)
    app.clock.set(WINDOW_START_MS + 1_000)
    inner = SyncASGITransport(app)
    yield app, RecordingTransport(inner, suite.target.recorder)  # clients do not close `inner`
    inner.close()
    app.close()


def _int_header(response: Any, name: str) -> int:
    value = response.headers.get(name)
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ContractViolation("rate-limit", f"{name} is {value!r}, not an integer") from None


def test_rate_limit(suite: Suite, limited: Any) -> None:
    app, transport = limited
    writer, reader = (next(t for t, g in app.config.tokens.items() if g.can_write == w)
                      for w in (True, False))
    get = next(o for o in OPERATIONS.values() if o.method == "GET")
    values = {name: "default" if name == "projectKey" else "test" if name == "environmentKey"
              else "anything" for name in _path_parameters(get)}
    params = _python_names(get, values)

    def client(token: str, retries: int) -> Client:
        return Client("http://limited.local", token, transport=transport, max_retries=retries,
                      max_retry_wait=60.0)

    with client(writer, 0) as api:
        allowed = [call(api, get, **params) for _ in range(RATE_LIMIT)]
        remaining = [_int_header(r, "X-Ratelimit-Global-Remaining") for r in allowed]
        if remaining != sorted(remaining, reverse=True) or remaining[-1] != 0:
            raise ContractViolation("rate-limit", f"X-Ratelimit-Global-Remaining {remaining}")
        refused = call(api, get, **params)
        check_status("rate-limit", refused, 429, f"request {RATE_LIMIT + 1} in one window")
        check_error_body("rate-limit", refused, "rate_limited")
        retry_after = _int_header(refused, "Retry-After")
        reset = _int_header(refused, "X-Ratelimit-Reset")
        _int_header(refused, "X-Ratelimit-Global-Remaining")
        now = app.clock.now_ms()
        if retry_after < 1 or reset <= now or now + retry_after * 1000 < reset:
            raise ContractViolation("rate-limit", f"Retry-After {retry_after} s, "
                                    f"X-Ratelimit-Reset {reset}, now {now}")
    with client(reader, 0) as other:
        response = call(other, get, **params)
        if response.status_code == 429:
            raise ContractViolation("rate-limit", "another token was limited too")
    waits: list[float] = []

    def fake_sleep(seconds: float) -> None:  # the mock's clock moves instead of real time
        waits.append(seconds)
        app.clock.advance(int(seconds * 1000))

    with client(writer, 2) as patient:
        patient._sleep = fake_sleep
        response = call(patient, get, **params)
        if response.status_code == 429 or len(waits) != 1 or waits[0] < retry_after:
            raise ContractViolation(
                "rate-limit", f"the client retried after {waits} s (Retry-After {retry_after}) "
                f"and got {response.status_code}")
