"""The request-body parser's fast path (orjson) reads every body exactly as the strict one
(``json`` with its checks) does, or leaves it to the strict one: same value, or the same 400."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from generated._errors import ApiError
from generated._json_body import _plain_json, _strict_json, parse_json_body

# Keys and strings with the characters that matter: ':' (counted), quotes and backslashes
# (escaped), surrogate escapes are added as raw text below.
TEXT = st.text(st.sampled_from('ab:"\\\u00e9\U0001f600 '), max_size=4)
NUMBERS = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(["1e400", "-1e400", "NaN", "Infinity", "-0", "1E5", "0.1"]),
)


SCALARS = st.one_of(
    NUMBERS.map(lambda n: n if isinstance(n, str) else json.dumps(n)),
    TEXT.map(json.dumps),
    st.sampled_from(['"\\ud800"', '"\\udc00x"', '"\\ud83d\\ude00"', "true", "null"]),
)


def _object(pairs: list[tuple[str, str]]) -> str:
    return "{" + ",".join(f"{json.dumps(k)}:{v}" for k, v in pairs) + "}"


# JSON text whose objects may repeat a key (keys come from a small alphabet)
BODIES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4).map(lambda items: "[" + ",".join(items) + "]"),
        st.lists(st.tuples(st.sampled_from(["a", "b", "a:b", 'q"']), inner), max_size=4).map(_object),
    ),
    max_leaves=12,
)


def _outcome(parse: Any, raw: bytes) -> tuple[str, Any]:
    try:
        return "value", repr(parse(raw))  # repr: 2**64 as an int is not 2.0**64
    except ApiError as exc:
        return "error", (exc.status, exc.message)


@settings(max_examples=400, deadline=None)
@given(text=BODIES)
@example(text='{"a":1,"a":2}')
@example(text='{"a:b":1}')
@example(text='[18446744073709551617]')
@example(text='{"a":{"b":1,"b":2}}')
def test_the_fast_path_agrees_with_the_strict_parser(text: str) -> None:
    raw = text.encode()
    assert _outcome(parse_json_body, raw) == _outcome(_strict_json_then_depth, raw)


def _strict_json_then_depth(raw: bytes) -> Any:
    """The parser without its fast path."""
    import generated._json_body as json_body

    original = json_body._plain_json
    json_body._plain_json = lambda _raw: json_body._NOT_PLAIN
    try:
        return parse_json_body(raw)
    finally:
        json_body._plain_json = original


@pytest.mark.parametrize("text", ['{"a":1,"a":2}', '{"a:b":1}', "[18446744073709551617]",
                                  '"\\ud800"', "NaN", "1e400", '{"a":1', "\ufeff{}"])
def test_what_the_fast_path_leaves_to_the_strict_parser(text: str) -> None:
    from generated._json_body import _NOT_PLAIN

    assert _plain_json(text.encode()) is _NOT_PLAIN


def test_a_plain_instruction_list_takes_the_fast_path() -> None:
    raw = b'{"instructions":[{"kind":"addExpiringTarget","contextKey":"u1","value":1700000000000}]}'
    assert _plain_json(raw) == _strict_json(raw) == json.loads(raw)
