"""Fixtures for the mock server tests: a fixed clock, a service over each store (SQLite and
PostgreSQL: the parametrised ``store``), helpers."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from mock_server.clock import SettableClock
from mock_server.config import Config, load_config
from mock_server.service import MockService
from mock_server.storage import Store, open_store

T0 = 1_700_000_000_000  # the tests' "now", Unix ms
HOUR = 3_600_000
PROJECT, ENV = "default", "test"


def kinds(python_name: str) -> Any:
    """The instruction metadata of an operation, from the generated package."""
    from generated.operations import OPERATIONS

    for op in OPERATIONS.values():
        if op.python_name == python_name:
            return op.instructions
    raise KeyError(python_name)


@pytest.fixture
def config() -> Config:
    return load_config().with_overrides(admin=True)


@pytest.fixture
def clock() -> SettableClock:
    return SettableClock(T0)


STORES = ("sqlite", "postgres")


@pytest.fixture(params=STORES)
def new_store_url(request: pytest.FixtureRequest, tmp_path: Any) -> Callable[[], str]:
    """``new_store_url()``: the URL of a new, empty store of each kind (a SQLite file, a
    PostgreSQL schema); the kind is the test's parameter."""
    made = itertools.count()
    if request.param == "sqlite":
        return lambda: str(tmp_path / f"store-{next(made)}.sqlite3")
    cluster = request.getfixturevalue("pg_cluster")
    return cluster.fresh_url  # type: ignore[no-any-return]


@pytest.fixture
def store_url(new_store_url: Callable[[], str]) -> str:
    return new_store_url()


@pytest.fixture
def open_stores() -> Iterator[Any]:
    """``open_stores(url)``: another store over the same database (another process, as far as
    the database knows); all closed at the end."""
    opened: list[Store] = []

    def make(url: str) -> Store:
        opened.append(open_store(url))
        return opened[-1]

    yield make
    for store in opened:
        store.close()


@pytest.fixture
def store(store_url: str, open_stores: Any) -> Store:
    return open_stores(store_url)


@pytest.fixture
def service(config: Config, store: Store, clock: SettableClock) -> MockService:
    return MockService(config, store, clock)


class World:
    """Setup helpers over a service: segments and flags with individual targets."""

    def __init__(self, service: MockService) -> None:
        self.service = service

    def segment(self, key: str = "seg", included: list[str] = (), excluded: list[str] = (),
                contexts: dict[str, list[str]] | None = None, env: str = ENV) -> dict[str, Any]:
        self.service.post_segment(PROJECT, env, {"key": key, "name": key})
        instructions: list[dict[str, Any]] = []
        if included:
            instructions.append({"kind": "addIncludedUsers", "values": list(included)})
        if excluded:
            instructions.append({"kind": "addExcludedUsers", "values": list(excluded)})
        for kind, values in (contexts or {}).items():
            instructions.append({"kind": "addIncludedTargets", "contextKind": kind, "values": values})
        if not instructions:
            return self.service.get_segment(PROJECT, env, key)
        return self.service.patch_segment(
            PROJECT, env, key, {"instructions": instructions}, kinds("patch_segment")
        )

    def flag(self, key: str = "flag", targets: dict[int, list[str]] | None = None,
             contexts: dict[tuple[int, str], list[str]] | None = None,
             env: str = ENV) -> dict[str, Any]:
        flag = self.service.post_flag(PROJECT, {"key": key, "name": key})
        ids = [v["_id"] for v in flag["variations"]]
        instructions = [
            {"kind": "addUserTargets", "variationId": ids[i], "values": values}
            for i, values in (targets or {}).items()
        ] + [
            {"kind": "addTargets", "variationId": ids[i], "contextKind": kind, "values": values}
            for (i, kind), values in (contexts or {}).items()
        ]
        if instructions:
            flag = self.service.patch_flag(
                PROJECT, key, {"environmentKey": env, "instructions": instructions},
                kinds("patch_feature_flag"),
            )
        return flag


@pytest.fixture
def world(service: MockService) -> World:
    return World(service)


@pytest.fixture(name="kinds")
def kinds_fixture() -> Any:
    """``kinds(python_name)``: an operation's instruction metadata."""
    return kinds


WRITER = "api-writer-00000000-0000-0000-0000-000000000000"
READER = "api-reader-00000000-0000-0000-0000-000000000000"
SEMANTIC = "application/json; domain-model=launchdarkly.semanticpatch"


class Api:
    """Synchronous calls into an ASGI app through ``httpx.ASGITransport``."""

    def __init__(self, app: Any, token: str | None = WRITER) -> None:
        self.app = app
        self.token = token

    def __call__(self, method: str, path: str, *, json: Any = None, token: Any = "default",
                 content_type: str | None = None, content: bytes | None = None) -> Any:
        import asyncio

        import httpx

        headers = {}
        token = self.token if token == "default" else token
        if token is not None:
            headers["Authorization"] = token
        if content_type is not None:
            headers["Content-Type"] = content_type

        async def go() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://mock") as client:
                return await client.request(method, path, json=json, content=content, headers=headers)

        return asyncio.run(go())


@pytest.fixture
def server(config: Config, clock: SettableClock) -> Iterator[Any]:
    from mock_server.app import create_mock_app

    server = create_mock_app(config, clock=clock, validate_responses=True)
    yield server
    server.close()


@pytest.fixture
def api(server: Any) -> Api:
    return Api(server)


@pytest.fixture
def make_api(config: Config, clock: SettableClock) -> Iterator[Any]:
    """``make_api(store=None, **config_overrides)``: an :class:`Api` on a server of its own
    (over ``store``, if given; the server closes it)."""
    from mock_server.app import create_mock_app

    servers = []

    def make(store: Store | None = None, **overrides: Any) -> Api:
        server = create_mock_app(config.with_overrides(**overrides), store=store, clock=clock,
                                 validate_responses=True)
        servers.append(server)
        return Api(server)

    yield make
    for server in servers:
        server.close()
