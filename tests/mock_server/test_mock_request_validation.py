"""The generated runtime's compiled request-schema check agrees with jsonschema.

``generated._runtime`` validates request bodies with closures compiled from the bundled
``openapi.json`` (jsonschema has the last word only on bodies they reject, to name the
error). A body the fast path accepted and jsonschema would reject would slip past the
contract, so: for every request schema of the mock server's operations, on generated
near-valid bodies, the two must answer alike.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from generated import _runtime
from generated.operations import OPERATIONS

CASES = [(op.operation_id, media_type) for op in OPERATIONS.values()
         for media_type in op.request_media_types if _runtime.is_json_media_type(media_type)]

TRICKY = [None, True, False, 0, 1, -1, 1.0, 1.5, 2**63 - 1, 2**63, -(2**63), -(2**63) - 1,
          2**31, 9.3e18, 1e30, "", "x", "user", [], {}, [1], {"kind": None}]


def _junk() -> st.SearchStrategy[Any]:
    scalars = st.one_of(st.sampled_from(TRICKY), st.text(max_size=3),
                        st.integers(-(2**65), 2**65), st.floats(allow_nan=False))
    return st.recursive(
        scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
            st.sampled_from(["kind", "values", "value", "x"]), inner, max_size=3),
        max_leaves=6)


def _strategy(document: dict[str, Any], schema: Any, depth: int = 0) -> st.SearchStrategy[Any]:
    """Mostly valid values of ``schema``, with junk in one node out of eight."""
    if not isinstance(schema, dict) or depth > 8:
        return _junk()
    if "$ref" in schema:
        return _strategy(document, _resolve(document, schema["$ref"]), depth + 1)
    for combinator in ("oneOf", "anyOf", "allOf"):
        if combinator in schema:
            return st.one_of([_strategy(document, sub, depth + 1) for sub in schema[combinator]])
    kind = schema.get("type")
    valid: st.SearchStrategy[Any]
    if "enum" in schema:
        valid = st.sampled_from(schema["enum"])
    elif kind == "object":
        properties = {name: _strategy(document, sub, depth + 1)
                      for name, sub in schema.get("properties", {}).items()}
        required = set(schema.get("required", ()))
        valid = st.fixed_dictionaries(
            {n: s for n, s in properties.items() if n in required},
            optional={**{n: s for n, s in properties.items() if n not in required},
                      "extraProperty": _junk()},
        )
    elif kind == "array":
        valid = st.lists(_strategy(document, schema.get("items", {}), depth + 1), max_size=3)
    elif kind == "string":
        valid = st.text(max_size=4)
    elif kind == "integer":
        valid = st.integers(-(2**64), 2**64) | st.sampled_from([3.0, -0.0, 2.0**63])
    elif kind == "number":
        valid = st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    elif kind == "boolean":
        valid = st.booleans()
    else:
        valid = _junk()
    return st.integers(0, 7).flatmap(lambda i: _junk() if i == 0 else valid)


def _resolve(document: dict[str, Any], ref: str) -> Any:
    node: Any = document
    for token in ref.lstrip("#/").split("/"):
        node = node[token.replace("~1", "/").replace("~0", "~")]
    return node


def _jsonschema_valid(operation_id: str, media_type: str, value: Any) -> bool:
    return next(iter(_runtime._validator(operation_id, media_type).iter_errors(value)), None) is None


def _schema(operation_id: str, media_type: str) -> Any:
    document = _runtime._document()
    return _resolve(document, _runtime._schema_pointer(OPERATIONS[operation_id], media_type))


@pytest.mark.parametrize(("operation_id", "media_type"), CASES)
def test_every_request_schema_has_a_fast_path(operation_id: str, media_type: str) -> None:
    assert _runtime._fast_validator(operation_id, media_type) is not None


@pytest.mark.parametrize(("operation_id", "media_type"), CASES)
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_fast_path_agrees_with_jsonschema(operation_id: str, media_type: str, data: Any) -> None:
    fast = _runtime._fast_validator(operation_id, media_type)
    assert fast is not None
    value = data.draw(_strategy(_runtime._document(), _schema(operation_id, media_type)))
    assert fast(value) == _jsonschema_valid(operation_id, media_type, value), value


@pytest.mark.parametrize(("value", "valid"), [
    ({"instructions": []}, True),
    ({"instructions": [], "comment": "c", "extra": [None]}, True),  # extras are allowed
    ({}, False),
    ({"instructions": {}}, False),
    ({"instructions": [{"kind": "removeExpiringTarget", "contextKind": "user",
                        "contextKey": "a", "targetType": "included"}]}, True),
    ({"instructions": [{"kind": "removeExpiringTarget", "contextKind": "user",
                        "contextKey": "a"}]}, False),  # targetType missing
    ({"instructions": [{"kind": "nope", "contextKind": "user", "contextKey": "a",
                        "targetType": "included"}]}, False),
    ({"instructions": [{"kind": "addExpiringTarget", "contextKind": "user", "contextKey": "a",
                        "targetType": "included", "value": 5.0}]}, True),  # 5.0 is an integer
    ({"instructions": [{"kind": "addExpiringTarget", "contextKind": "user", "contextKey": "a",
                        "targetType": "included", "value": True}]}, False),
    ({"instructions": [{"kind": "addExpiringTarget", "contextKind": "user", "contextKey": "a",
                        "targetType": "included", "value": 2**63}]}, False),  # int64
    ({"instructions": [{"kind": "addExpiringTarget", "contextKind": "user", "contextKey": "a",
                        "targetType": "included", "value": 2**63 - 1}]}, True),
])
def test_fast_path_on_known_bodies(value: Any, valid: bool) -> None:
    operation_id = "patchExpiringTargetsForSegment"
    media_type = OPERATIONS[operation_id].request_media_types[0]
    fast = _runtime._fast_validator(operation_id, media_type)
    assert fast is not None
    assert fast(value) is valid
    assert _jsonschema_valid(operation_id, media_type, value) is valid


def test_a_schema_with_an_unsupported_keyword_has_no_fast_path() -> None:
    compiler = _runtime._FastCompiler({"components": {"schemas": {
        "A": {"type": "object", "properties": {"a": {"$ref": "#/components/schemas/B"}}},
        "B": {"type": "array", "uniqueItems": True},
        "C": {"description": "annotations are ignored", "x-extension": 1, "type": "string"},
        "R": {"type": "object", "properties": {"next": {"$ref": "#/components/schemas/R"}}},
    }}})
    with pytest.raises(_runtime._NoFastPath):
        compiler.node(compiler.resolve("#/components/schemas/A"))
    string = compiler.node(compiler.resolve("#/components/schemas/C"))
    assert string("x") and not string(1)
    recursive = compiler.node(compiler.resolve("#/components/schemas/R"))
    assert recursive({"next": {"next": {}}}) and not recursive({"next": {"next": 1}})
