"""Client-side runtime of the generated package: requests, 429 retries, typed responses.

Copied verbatim by the generator (not rendered): paths, methods and response models come from
``operations.py`` and ``models.py``. Needs httpx and pydantic only, not Starlette.
"""

from __future__ import annotations

import asyncio
import email.utils
import itertools
import json
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from types import TracebackType
from typing import Any, Generic, Self, TypedDict, TypeVar, Unpack
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ValidationError
from pydantic_core import to_jsonable_python

from . import models
from .operations import MODEL_NAMES, OPERATIONS

__all__ = ["ApiResponse", "AsyncClientBase", "SyncClientBase", "UnexpectedStatus", "retry_after"]

T = TypeVar("T")
_Http = TypeVar("_Http", httpx.Client, httpx.AsyncClient)
_Transport = TypeVar("_Transport", httpx.BaseTransport, httpx.AsyncBaseTransport)
_JITTER = 0.25  # seconds, at most, added to each 429 wait
_EXCERPT = 200


class UnexpectedStatus(Exception):
    """``ApiResponse.value`` was asked for, but the status is not the documented success."""

    def __init__(self, operation_id: str, status_code: int, excerpt: str) -> None:
        self.operation_id = operation_id
        self.status_code = status_code
        super().__init__(f"{operation_id}: HTTP {status_code}: {excerpt}")


class ApiResponse(Generic[T]):
    """A response: raw parts plus ``parsed``, the documented model for its status or None."""

    __slots__ = ("_secrets", "content", "headers", "operation_id", "parsed", "status_code",
                 "success_status")

    def __init__(
        self,
        operation_id: str,
        status_code: int,
        headers: httpx.Headers,
        content: bytes,
        parsed: Any,
        success_status: int,
        secrets: tuple[str, ...] = (),
    ) -> None:
        self.operation_id = operation_id
        self.status_code = status_code
        self.headers = headers
        self.content = content
        self.parsed = parsed
        self.success_status = success_status
        self._secrets = secrets

    def json(self) -> Any:
        """The body as JSON (raises ValueError if it is not)."""
        return json.loads(self.content)

    @property
    def ok(self) -> bool:
        """Whether the status is the operation's documented success status."""
        return self.status_code == self.success_status

    @property
    def value(self) -> T:
        """The success body (model, plain JSON value or None); else raises UnexpectedStatus."""
        if not self.ok:
            excerpt = self.content[:_EXCERPT].decode("utf-8", "replace")
            for secret in self._secrets:
                excerpt = excerpt.replace(secret, "***")
            raise UnexpectedStatus(self.operation_id, self.status_code, excerpt)
        if self.parsed is not None or not self.content:
            return self.parsed  # type: ignore[no-any-return]
        return self.json()  # type: ignore[no-any-return]

    def __repr__(self) -> str:
        return f"ApiResponse({self.operation_id!r}, status_code={self.status_code})"


class _Secret:
    """Holds the token so that no repr, str or traceback shows it."""

    __slots__ = ("value",)

    def __init__(self, value: str) -> None:
        self.value = value

    def __repr__(self) -> str:
        return "'***'"


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def retry_after(headers: Mapping[str, str]) -> float:
    """Seconds to wait after a 429, never negative: ``Retry-After`` (seconds or HTTP date), else
    ``X-Ratelimit-Reset`` (epoch milliseconds), else one second. ``headers`` must look names up
    case-insensitively (httpx's and requests' do). The kit's one parser of these headers."""
    value = (headers.get("retry-after") or "").strip()
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            try:
                return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - time.time())
            except (TypeError, ValueError):
                pass
    reset = (headers.get("x-ratelimit-reset") or "").strip()
    try:
        return max(0.0, float(reset) / 1000 - time.time())
    except ValueError:
        return 1.0


class _RequestParts(TypedDict, total=False):
    """What a generated method passes to ``_call`` besides the operation, each part by name."""

    path: Mapping[str, object] | None
    query: Mapping[str, object] | None
    header: Mapping[str, object] | None
    cookie: Mapping[str, object] | None
    body: object
    content_type: str | None


class _ClientCore(Generic[_Http, _Transport]):
    """What the sync and async clients share: their options, the token, building a request,
    the 429 policy and typed responses; a subclass opens the httpx client and sends."""

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        *,
        transport: _Transport | None = None,
        timeout: float = 10.0,
        max_retries: int = 3,
        max_retry_wait: float = 30.0,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self._token = _Secret(token) if token else None
        self.max_retries = max_retries
        self.max_retry_wait = max_retry_wait
        self._random = random.Random()
        self._http: _Http = self._open(base_url, transport, timeout, dict(headers or {}))

    def _open(self, base_url: str, transport: _Transport | None, timeout: float,
              headers: dict[str, str]) -> _Http:
        """The httpx client the requests go through: the subclass's, sync or async."""
        raise NotImplementedError

    def _build(self, operation_id: str, parts: _RequestParts) -> httpx.Request:
        operation = OPERATIONS[operation_id]
        url = operation.path
        for name, value in (parts.get("path") or {}).items():
            url = url.replace("{" + name + "}", quote(_text(value), safe=""))
        params: list[tuple[str, str | int | float | bool | None]] = [
            (name, _text(item))
            for name, value in (parts.get("query") or {}).items()
            for item in (value if isinstance(value, (list, tuple)) else [value])
            if item is not None
        ]
        headers = {name: _text(value) for name, value in (parts.get("header") or {}).items()
                   if value is not None}
        if self._token is not None:
            headers["Authorization"] = self._token.value
        cookies = "; ".join(f"{k}={_text(v)}" for k, v in (parts.get("cookie") or {}).items()
                            if v is not None)
        if cookies:
            headers["Cookie"] = cookies
        content: bytes | None = None
        body, content_type = parts.get("body"), parts.get("content_type")
        if body is not None and content_type is not None:
            headers["Content-Type"] = content_type
            content = _encode(body)
        return self._http.build_request(operation.method, url, params=params, headers=headers,
                                        content=content)

    def _retry_delay(self, response: httpx.Response, attempt: int, waited: float) -> float | None:
        if response.status_code != 429 or attempt >= self.max_retries:
            return None
        delay = retry_after(response.headers) + self._random.uniform(0, _JITTER)
        return delay if waited + delay <= self.max_retry_wait else None

    def _response(self, operation_id: str, response: httpx.Response) -> ApiResponse[Any]:
        operation = OPERATIONS[operation_id]
        schema_name = operation.response_schemas.get(response.status_code)
        class_name = MODEL_NAMES.get(schema_name) if schema_name else None
        parsed: Any = None
        if class_name is not None and response.content:
            model: type[BaseModel] = getattr(models, class_name)
            try:
                parsed = model.model_validate_json(response.content)
            except ValidationError:
                parsed = None
        secrets = (self._token.value,) if self._token is not None else ()
        return ApiResponse(operation_id, response.status_code, response.headers,
                           response.content, parsed, operation.success_status, secrets)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={str(self._http.base_url)!r})"


def _encode(body: object) -> bytes:
    if isinstance(body, (bytes, bytearray)):
        return bytes(body)
    if isinstance(body, BaseModel):
        return body.model_dump_json(by_alias=True, exclude_none=True).encode()
    return json.dumps(body, default=to_jsonable_python, separators=(",", ":")).encode()


class SyncClientBase(_ClientCore[httpx.Client, httpx.BaseTransport]):
    """Synchronous transport and retry loop under the generated ``Client``."""

    _sleep: Callable[[float], None] = staticmethod(time.sleep)

    def _open(self, base_url: str, transport: httpx.BaseTransport | None, timeout: float,
              headers: dict[str, str]) -> httpx.Client:
        return httpx.Client(base_url=base_url, transport=transport, timeout=timeout,
                            headers=headers)

    def _call(self, operation_id: str, **parts: Unpack[_RequestParts]) -> ApiResponse[Any]:
        request = self._build(operation_id, parts)
        waited = 0.0
        for attempt in itertools.count():
            response = self._http.send(request)
            delay = self._retry_delay(response, attempt, waited)
            if delay is None:
                return self._response(operation_id, response)
            response.close()
            self._sleep(delay)
            waited += delay
        raise AssertionError("unreachable")

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class AsyncClientBase(_ClientCore[httpx.AsyncClient, httpx.AsyncBaseTransport]):
    """Asynchronous transport and retry loop under the generated ``AsyncClient``."""

    _sleep: Callable[[float], Awaitable[None]] = staticmethod(asyncio.sleep)

    def _open(self, base_url: str, transport: httpx.AsyncBaseTransport | None, timeout: float,
              headers: dict[str, str]) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=base_url, transport=transport, timeout=timeout,
                                 headers=headers)

    async def _call(self, operation_id: str, **parts: Unpack[_RequestParts]) -> ApiResponse[Any]:
        request = self._build(operation_id, parts)
        waited = 0.0
        for attempt in itertools.count():
            response = await self._http.send(request)
            delay = self._retry_delay(response, attempt, waited)
            if delay is None:
                return self._response(operation_id, response)
            await response.aclose()
            await self._sleep(delay)
            waited += delay
        raise AssertionError("unreachable")

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
