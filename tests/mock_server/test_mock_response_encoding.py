"""``generated._runtime.to_response``: orjson for plain data, the same JSON as before."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from typing import Any

import pytest
from pydantic_core import to_jsonable_python

from generated import models
from generated._runtime import to_response


@dataclasses.dataclass
class Point:
    x: int
    label: str | None = None


@pytest.mark.parametrize("content", [
    {"items": [{"_id": "a", "_version": 1, "expirationDate": 1_700_000_000_000,
                "contextKey": "é ✓ \u2028", "targetType": "included"}], "errors": []},
    [1, 2.5, True, None, "x"],
    {"big": 2**70, "small": -(2**63)},  # beyond orjson's 64 bits: the json fallback
    {"when": dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC), "point": Point(1)},
])
def test_plain_data_is_encoded_as_pydantic_then_json_would(content: Any) -> None:
    response = to_response(content, 200)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    expected = to_jsonable_python(content, by_alias=True, exclude_none=True)
    assert json.loads(response.body) == expected


def test_models_are_encoded_by_alias_without_nulls() -> None:
    error = models.ExpiringTargetError(instructionIndex=2, message="nope")
    response = to_response({"errors": [error]}, 200)
    assert json.loads(response.body) == {"errors": [{"instructionIndex": 2, "message": "nope"}]}
    item = models.ExpiringTargetError.model_validate({"instructionIndex": 1, "message": "m"})
    assert json.loads(to_response(item, 201).body) == {"instructionIndex": 1, "message": "m"}
    assert to_response(None, 204).body == b""
