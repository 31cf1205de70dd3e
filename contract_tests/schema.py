"""The bundled OpenAPI document (generated/openapi.json), for the parts the checks need."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from generated.operations import SEMANTIC_PATCH_MEDIA_TYPE, Operation

__all__ = ["BUNDLE_PATH", "bundle", "instruction_schema"]

BUNDLE_PATH = Path(__file__).resolve().parents[1] / "generated" / "openapi.json"


@cache
def bundle() -> dict[str, Any]:
    return json.loads(BUNDLE_PATH.read_text())  # type: ignore[no-any-return]


def _component(name: str) -> dict[str, Any]:
    return bundle()["components"]["schemas"][name]  # type: ignore[no-any-return]


def instruction_schema(operation: Operation) -> dict[str, Any]:
    """The schema of one instruction of a semantic-patch operation's body."""
    name = operation.request_schemas[SEMANTIC_PATCH_MEDIA_TYPE]
    assert name is not None
    items = _component(name)["properties"]["instructions"]["items"]
    while "$ref" in items:
        items = _component(items["$ref"].rsplit("/", 1)[-1])
    return items
