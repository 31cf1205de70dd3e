"""A backend's return value as the HTTP answer: JSON by alias, without nulls.

orjson writes plain data (far faster than ``json.dumps`` on a listing of thousands of schedules);
pydantic converts everything else (models, dataclasses, dates) exactly as it always has, so
the bytes on the wire do not depend on which path wrote them.
"""

from __future__ import annotations

import json
from typing import Any

import orjson
from pydantic import BaseModel
from pydantic_core import to_jsonable_python
from starlette.responses import Response

__all__ = ["to_response"]

_ORJSON_OPTIONS = (  # everything but plain JSON data goes through pydantic, as it always did
    orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_SUBCLASS
)


def _jsonable(value: object) -> Any:
    return to_jsonable_python(value, by_alias=True, exclude_none=True)


def _json_bytes(content: object) -> bytes:
    """Compact UTF-8 JSON: orjson for plain data, pydantic's conversion for the rest, ``json``
    for what orjson refuses (integers beyond 64 bits). NaN and infinities become ``null``, as
    pydantic writes them."""
    try:
        return orjson.dumps(content, default=_jsonable, option=_ORJSON_OPTIONS)
    except orjson.JSONEncodeError:
        return json.dumps(
            _jsonable(content), ensure_ascii=False, allow_nan=False, separators=(",", ":")
        ).encode()


def to_response(result: object, status: int) -> Response:
    """A backend's return value as the response: models as JSON by alias without nulls."""
    if result is None:
        return Response(status_code=status)
    if isinstance(result, (bytes, bytearray)):
        return Response(bytes(result), status_code=status, media_type="application/octet-stream")
    if isinstance(result, BaseModel):
        content = result.model_dump_json(by_alias=True, exclude_none=True).encode()
    else:
        content = _json_bytes(result)
    return Response(content, status_code=status, media_type="application/json")
