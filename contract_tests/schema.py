"""The bundled OpenAPI document (generated/openapi.json), for the parts the checks need."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from generated.operations import SEMANTIC_PATCH_MEDIA_TYPE, Operation

__all__ = ["BUNDLE_PATH", "body_properties", "bundle", "instruction_schema"]

BUNDLE_PATH = Path(__file__).resolve().parents[1] / "generated" / "openapi.json"


@cache
def bundle() -> dict[str, Any]:
    return json.loads(BUNDLE_PATH.read_text())  # type: ignore[no-any-return]


def _component(name: str) -> dict[str, Any]:
    return bundle()["components"]["schemas"][name]  # type: ignore[no-any-return]


def _resolved(schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = _component(schema["$ref"].rsplit("/", 1)[-1])
    return schema


def body_properties(operation: Operation) -> dict[str, bool]:
    """The top-level properties of the operation's object request bodies (over every media
    type, and every object branch of a oneOf/anyOf) -> whether it is required there."""
    found: dict[str, bool] = {}
    pending = [_component(name) for name in operation.request_schemas.values() if name]
    while pending:
        schema = _resolved(pending.pop())
        pending += schema.get("oneOf", []) + schema.get("anyOf", [])
        required = set(schema.get("required", ()))
        for name in schema.get("properties", {}):
            found[name] = found.get(name, False) or name in required
    return found


def instruction_schema(operation: Operation) -> dict[str, Any]:
    """The schema of one instruction of a semantic-patch operation's body."""
    name = operation.request_schemas[SEMANTIC_PATCH_MEDIA_TYPE]
    assert name is not None
    return _resolved(_component(name)["properties"]["instructions"]["items"])
