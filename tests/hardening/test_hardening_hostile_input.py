"""Hostile input on the five expiring-targets PATCH endpoints.

Extends ``tests/mock_server/test_mock_http.py::test_arbitrary_instructions_never_cause_a_server_error``
(60 examples of instruction lists, 4 endpoints, status only) to: arbitrary JSON documents and
arbitrary bytes on all five endpoints, in-process (Hypothesis), checking that the answer is a
200 whose counts add up or a 400 ``{code, message}``, within 5 s, and that a refused request
changed nothing (every GET of the world before == after). Then the classics against a real
server process, each on all five endpoints: invalid UTF-8, unpaired surrogates, 10 MB bodies
(declared and chunked), 100,000 instructions, 1,501 instructions, nesting 10,000 deep, huge
integers, NaN/Infinity, duplicate keys, NUL and right-to-left-override characters in keys and
values, CR/LF in keys, values, the path and the Content-Type. Every one: no 500, a 400 naming
the problem (or, where the contract says so, a 200 whose instructions all failed), within 5 s,
nothing stored changed, and the server's RSS (VmRSS) stays bounded across two rounds.
"""

from __future__ import annotations

import contextlib
import json
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hardening_helpers import (
    ENV,
    HOST,
    PROJECT,
    SEMANTIC,
    WRITER,
    expiring_patches,
    headers,
    instruction_of,
    path_of,
    provision_world,
    record,
    rss_kib,
    snapshot,
    write_config,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contract_tests.checks import check_counts, check_error_body, check_error_indices
from contract_tests.transport import SyncASGITransport
from mock_server.process import MockProcess

T0 = 1_700_000_000_000
BOUND_S = 5.0
PATCHES = expiring_patches()
FIELDS = sorted({f for op in PATCHES for k in op.instructions.values()
                 for f in (*k.required, *k.optional)} | {"kind"})
KINDS = sorted({name for op in PATCHES for name in op.instructions})


def check_answer(response: httpx.Response, elapsed: float, before: Any, after: Any,
                 sent: Any = None) -> None:
    """The rules every hostile request must keep."""
    assert elapsed < BOUND_S, f"answered after {elapsed:.1f} s"
    assert response.status_code in (200, 400), (response.status_code, response.text[:300])
    assert response.headers["content-type"].startswith("application/json")
    assert not any("injected" in name.lower() for name in response.headers), response.headers
    body = response.json()
    if response.status_code == 400:
        check_error_body("well-formed-or-400", response, "invalid_request")
        assert before == after, "a refused request changed what the GETs show"
    else:  # only a well-formed semantic patch gets 200: its counts must add up
        assert isinstance(sent, dict) and isinstance(sent.get("instructions"), list), body
        check_counts(body, len(sent["instructions"]))
        check_error_indices(body, len(sent["instructions"]))


# -- Hypothesis, in-process -------------------------------------------------------------------


@pytest.fixture(scope="module")
def world() -> Iterator[tuple[httpx.Client, dict[str, str]]]:
    from mock_server import create_mock_app, load_config
    from mock_server.clock import SettableClock

    app = create_mock_app(load_config().with_overrides(rate_limit=None),
                          clock=SettableClock(T0), validate_responses=True)
    transport = SyncASGITransport(app)
    http = httpx.Client(transport=transport, base_url="http://mock")
    try:
        yield http, provision_world(http, "", now_ms=T0)
    finally:
        http.close()
        transport.close()
        app.close()


_tricky_text = st.sampled_from([
    "", "\x00", "\u202e", "\u202eresu", "\r\nX-Injected: yes", "user", "included", "u", "d",
    "device", "\ufeff", "\U0001f600", "a" * 300, "\ud800", "\udfff\ud800", *KINDS])
_scalars = (st.none() | st.booleans() | st.integers()
            | st.sampled_from([2**63 - 1, 2**63, -(2**63) - 1, 2**64, 10**400, -0, T0 + 86_400_000])
            | st.floats(allow_nan=False, allow_infinity=False)
            | st.text(max_size=12) | _tricky_text)
_keys = st.sampled_from([*FIELDS, "instructions", "comment"]) | st.text(max_size=8) | _tricky_text
_json = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
    _keys, inner, max_size=5), max_leaves=20)
_instruction = (st.dictionaries(_keys, _json, max_size=7)
                | st.fixed_dictionaries({"kind": st.sampled_from(KINDS)},
                                        optional={f: _scalars for f in FIELDS if f != "kind"}))
_bodies = st.one_of(
    _json,
    st.builds(lambda i: {"instructions": i}, st.lists(_instruction, max_size=5)),
    st.builds(lambda i, extra: {**extra, "instructions": i},
              st.lists(_instruction, max_size=3) | _json, st.dictionaries(_keys, _json, max_size=3)),
)


def _send(http: httpx.Client, op: Any, values: dict[str, str], content: Any,
          content_type: Any = SEMANTIC) -> tuple[httpx.Response, float]:
    started = time.perf_counter()
    response = http.patch(path_of(op, values), content=content,
                          headers=headers(content_type=content_type))
    return response, time.perf_counter() - started


FUZZ = settings(max_examples=150, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@FUZZ
@given(op=st.sampled_from(PATCHES), body=_bodies, ascii_only=st.booleans())
def test_arbitrary_json_is_answered_200_or_400(world, op, body, ascii_only) -> None:
    http, values = world
    # ensure_ascii=False writes unpaired surrogates raw: invalid UTF-8, which must be a 400 too
    content = json.dumps(body, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")
    before = snapshot(http, values)
    response, elapsed = _send(http, op, values, content)
    check_answer(response, elapsed, before, snapshot(http, values), body)


def _valid_content(op: Any, values: dict[str, str]) -> bytes:
    return json.dumps({"instructions": [instruction_of(op, "remove", values)]}).encode()


@FUZZ
@given(op=st.sampled_from(PATCHES), data=st.data())
def test_arbitrary_bytes_are_answered_200_or_400(world, op, data) -> None:
    http, values = world
    if data.draw(st.booleans()):
        content = data.draw(st.binary(max_size=400))
    else:  # a valid body with a few bytes inserted, replaced or cut
        content = bytearray(_valid_content(op, values))
        for _ in range(data.draw(st.integers(1, 4))):
            at = data.draw(st.integers(0, len(content)))
            byte = data.draw(st.binary(min_size=1, max_size=3))
            action = data.draw(st.sampled_from(["insert", "replace", "cut"]))
            if action == "insert":
                content[at:at] = byte
            elif action == "replace":
                content[at:at + len(byte)] = byte
            else:
                del content[at:at + len(byte)]
        content = bytes(content)
    try:
        sent = json.loads(content)
    except ValueError:
        sent = None
    before = snapshot(http, values)
    response, elapsed = _send(http, op, values, content)
    check_answer(response, elapsed, before, snapshot(http, values), sent)


# -- the classics, against a real process -----------------------------------------------------


Body = Callable[[Any, dict[str, str]], Any]  # (operation, world) -> bytes, an iterator, or JSON


def _raw(text: bytes) -> Body:
    return lambda op, values: text


def _with_instruction(prefix: str, **changes: Any) -> Body:
    return lambda op, values: {"instructions": [instruction_of(op, prefix, values, **changes)]}


def _renamed_keys(op: Any, values: dict[str, str]) -> Any:
    """Every required field's key with a NUL appended, plus a key that is 'kind' reversed by an
    RLO: the required fields are missing."""
    instruction = instruction_of(op, "add", values)
    return {"instructions": [{"kind": instruction["kind"], "\u202ekind": "x",
                              **{f"{k}\x00": v for k, v in instruction.items() if k != "kind"}}]}


def _nul_rlo_values(op: Any, values: dict[str, str]) -> Any:
    instruction = instruction_of(op, "add", values)
    for name in ("userKey", "contextKey", "flagKey", "variationId"):
        if name in instruction:
            instruction[name] = f"{instruction[name]}\x00\u202e\r\nX-Injected: yes"
    return {"instructions": [instruction]}


def _crlf(op: Any, values: dict[str, str]) -> Any:
    instruction = instruction_of(op, "add", values)
    return {"instructions": [{
        **{f"{k}\r\nX-Injected: yes": v for k, v in instruction.items()},
        "kind": "x\r\nX-Injected: yes\r\n\r\n<html>"}]}


def _chunked_10mb(op: Any, values: dict[str, str]) -> Iterator[bytes]:
    yield b'{"instructions": ['
    for _ in range(160):  # 160 x 64 KiB, no Content-Length
        yield b" " * 65_536
    yield b"]}"


def _many(count: int, prefix: str | None) -> Body:
    def body(op: Any, values: dict[str, str]) -> bytes:
        one = json.dumps(instruction_of(op, prefix, values) if prefix else {}).encode()
        return b'{"instructions": [' + b",".join([one] * count) + b"]}"
    return body


VALUE_OF_2_64 = b"18446744073709551616"


def _number(literal: bytes) -> Body:
    """An update whose value is ``literal``, spliced into the JSON text."""
    def body(op: Any, values: dict[str, str]) -> bytes:
        text = json.dumps({"instructions": [instruction_of(op, "update", values, value=0)]})
        return text.replace('"value": 0', '"value": ' + literal.decode()).encode()
    return body


# name -> (body, needles: one must be in the 400 message or a 200's errors, 200 allowed)
CLASSICS: dict[str, tuple[Body, tuple[str, ...], bool]] = {
    "invalid-utf8": (_raw(b'{"instructions": [{"kind": "\xff\xfe\xc0\xaf"}]}'), ("UTF-8",), False),
    "utf8-encoded-surrogate": (_raw(b'{"instructions": [{"kind": "\xed\xa0\x80"}]}'),
                               ("UTF-8",), False),
    "unpaired-surrogate-escape": (_with_instruction("add", contextKey="\ud800", userKey="\udfff",
                                                    flagKey="\ud800", variationId="\ud800"),
                                  ("surrogate",), False),
    "body-10MB": (_raw(b'{"instructions": [' + b" " * 10_000_000 + b"]}"), ("bytes",), False),
    "body-10MB-chunked": (_chunked_10mb, ("bytes",), False),
    "100000-instructions-9MB": (_many(100_000, "remove"), ("bytes",), False),
    "100000-empty-instructions": (_many(100_000, None), ("instructions",), False),
    "1501-instructions": (_many(1501, "remove"), ("too many instructions",), False),
    "nesting-10000-arrays": (_raw(b'{"instructions": [' + b"[" * 10_000 + b"]" * 10_000 + b"]}"),
                             ("nesting",), False),
    "nesting-10000-objects": (_raw(b'{"instructions": [' + b'{"a":' * 10_000 + b"1"
                                   + b"}" * 10_000 + b"]}"), ("nesting",), False),
    "int-2**64": (_number(VALUE_OF_2_64), ("int64", "64-bit"), True),
    "int-10**400": (_number(b"1" + b"0" * 400), ("int64", "64-bit"), True),
    "int-5000-digits": (_number(b"9" * 5000), ("digits", "integer"), False),
    "float-1e400": (_number(b"1e400"), ("out of range",), False),
    "NaN": (_number(b"NaN"), ("NaN",), False),
    "Infinity": (_number(b"Infinity"), ("Infinity",), False),
    "-Infinity": (_number(b"-Infinity"), ("Infinity",), False),
    "duplicate-top-level-key": (_raw(b'{"instructions": [], "instructions": []}'),
                                ("duplicate object key",), False),
    "duplicate-instruction-key": (_raw(b'{"instructions": [{"kind": "a", "kind": "b"}]}'),
                                  ("duplicate object key",), False),
    "NUL-and-RLO-keys": (_renamed_keys, ("Key", "variationId", "targetType"), True),
    "NUL-RLO-CRLF-values": (_nul_rlo_values, (), True),
    "CRLF-in-keys-and-kind": (_crlf, (), True),
}


@pytest.fixture(scope="module")
def real_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("hostile")
    server = MockProcess(tmp / "hostile.sqlite3", write_config(tmp, rate_limit=None),
                         tmp / "server.log")
    try:
        server.start()
        http = httpx.Client(base_url=server.base_url, timeout=30.0)
        values = provision_world(http, "")
        http.get(path_of(PATCHES[0], values), headers=headers())  # warm
        yield {"server": server, "http": http, "values": values, "figures": {},
               "rss_start_kib": rss_kib(server.pid)}
        http.close()
    finally:
        server.kill()


def _classic(world: dict[str, Any], name: str) -> dict[str, Any]:
    body, needles, allow_200 = CLASSICS[name]
    http, values = world["http"], world["values"]
    slowest, statuses = 0.0, []
    for op in PATCHES:
        made = body(op, values)
        sent = made if isinstance(made, (dict, list)) else None
        content = json.dumps(made).encode() if sent is not None else made
        if sent is None and isinstance(content, bytes) and len(content) < 100_000:
            try:  # what the server could have read (for a 200's counts)
                sent = json.loads(content)
            except (ValueError, RecursionError):
                pass
        before = snapshot(http, values)
        response, elapsed = _send(http, op, values, content)
        after = snapshot(http, values)
        check_answer(response, elapsed, before, after, sent)
        slowest = max(slowest, elapsed)
        statuses.append(response.status_code)
        if response.status_code == 200:
            assert allow_200, f"{op.operation_id}: {response.text[:300]}"
            answer = response.json()
            assert answer["successfulInstructions"] == 0, answer
            assert before == after
            text = " ".join(e["message"] for e in answer["errors"])
        else:
            text = response.json()["message"]
        assert not needles or any(n.lower() in text.lower() for n in needles), (
            op.operation_id, text)
    return {"statuses": sorted(set(statuses)), "slowest_ms": round(slowest * 1000, 1),
            "rss_kib": rss_kib(world["server"].pid)}


@pytest.mark.parametrize("name", list(CLASSICS))
def test_classic(real_world, name) -> None:
    real_world["figures"][name] = _classic(real_world, name)


def test_header_injection_in_path_and_content_type(real_world) -> None:
    http, values = real_world["http"], real_world["values"]
    before = snapshot(http, values)
    op = PATCHES[0]
    hostile = {**values, "segmentKey": "seg\r\nX-Injected: yes", "featureFlagKey": "\x00\u202e",
               "userKey": "u\r\n\r\n<html>"}
    for target in PATCHES:
        response = http.patch(path_of(target, hostile), headers=headers(content_type=SEMANTIC),
                              content=json.dumps({"instructions": []}).encode())
        assert response.status_code == 404, response.text
        check_error_body("access-control", response, "not_found")
        assert not any("injected" in n.lower() for n in response.headers)
    for path in (f"/api/v2/segments/{PROJECT}/{ENV}/%FF%FE", f"/api/v2/segments/{PROJECT}/%ED%A0%80/x"):
        response = http.get(path, headers=headers())
        assert response.status_code == 404, response.text
    for content_type in ("application/json; domain-model=\u00ff\u202e".encode("latin-1", "replace"),
                         b"text/plain; x=" + b"a" * 8_000,
                         (SEMANTIC + "; domain-model=other").encode()):
        response, elapsed = _send(http, op, values,
                                  json.dumps({"instructions": []}).encode(), content_type)
        assert response.status_code == 400 and "Content-Type" in response.json()["message"]
        assert elapsed < BOUND_S
    # a control character in a header value: uvicorn's parser refuses it (plain-text 400)
    response, _ = _send(http, op, values, b"{}", b"application/json; x=\x7f")
    assert response.status_code == 400
    assert snapshot(http, values) == before


def _raw_get(server: MockProcess, target: str) -> httpx.Response:
    with socket.create_connection((HOST, server.port), timeout=BOUND_S) as sock:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # refused early
            sock.sendall(f"GET {target} HTTP/1.1\r\nHost: {HOST}\r\n"
                         f"Authorization: {WRITER}\r\n\r\n".encode())
        received = b""
        while chunk := sock.recv(65_536):
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    status = int(head.split()[1])
    pairs = [line.split(b": ", 1) for line in head.split(b"\r\n")[1:]]
    return httpx.Response(status, content=body, headers=[(p[0], p[-1]) for p in pairs])


@pytest.mark.parametrize("size", [1_000_000, 20_000_000])
def test_oversized_request_head_is_refused_without_buffering_it(real_world, size) -> None:
    """``max_body_bytes`` bounds the body; the request line and headers have their own cap
    (mock_server/http_limits.py, 64 KiB): before it, a 50 MB header was buffered whole."""
    http, values, server = real_world["http"], real_world["values"], real_world["server"]
    before, rss_before = snapshot(http, values), rss_kib(server.pid)
    for where in ("header", "url"):
        started = time.perf_counter()
        if where == "header":
            response = http.patch(path_of(PATCHES[0], values), content=b"{}", headers={
                **headers(content_type=SEMANTIC), "X-Padding": "a" * size})
        else:  # a request line that long: httpx refuses to send it, so a socket does
            response = _raw_get(server, path_of(PATCHES[0], values) + "?pad=" + "a" * size)
        elapsed = time.perf_counter() - started
        assert response.status_code == 400, response.text[:200]
        assert "headers exceed" in response.json()["message"]
        assert elapsed < BOUND_S
    rss_after = rss_kib(server.pid)
    real_world["figures"][f"request-head-{size}"] = {
        "statuses": [400], "slowest_ms": round(elapsed * 1000, 1), "rss_kib": rss_after}
    assert rss_after - rss_before < 16 * 1024, (rss_before, rss_after)
    assert snapshot(http, values) == before


def test_memory_stays_bounded(real_world) -> None:
    """The whole battery again: RSS after the second round is about that after the first."""
    server = real_world["server"]
    after_first = rss_kib(server.pid)
    started = time.perf_counter()
    for name in CLASSICS:
        _classic(real_world, name)
    after_second = rss_kib(server.pid)
    status = {line.split(":")[0]: line.split()[1] for line in
              Path(f"/proc/{server.pid}/status").read_text().splitlines()
              if line.startswith(("VmRSS", "VmHWM"))}
    record("hostile_input", {
        "cases": len(CLASSICS), "endpoints": len(PATCHES),
        "per_case": real_world["figures"],
        "rss_start_kib": real_world["rss_start_kib"],
        "rss_after_round_1_kib": after_first,
        "rss_after_round_2_kib": after_second,
        "peak_rss_kib": int(status["VmHWM"]),
        "round_2_seconds": round(time.perf_counter() - started, 1),
        "fuzz_examples": 2 * FUZZ.max_examples,
    })
    assert after_second - after_first < 32 * 1024, "RSS grew by more than 32 MiB in a round"
    assert int(status["VmHWM"]) - real_world["rss_start_kib"] < 256 * 1024
