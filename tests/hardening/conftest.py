"""Hardening tests of the mock server: concurrency, crashes, hostile input, access, rate limits.

The helpers live in ``hardening_helpers.py``; here: the ``slow`` marker and the fixture that
starts real server processes (each killed when its test ends, also on failure).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hardening_helpers import write_config

from mock_server.process import MockProcess


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "slow: a bounded load or crash test (seconds, real processes); CI runs them")


@pytest.fixture
def mock_process(tmp_path: Path) -> Iterator[Any]:
    """``mock_process(db=None, **config_options)``: a started :class:`MockProcess` (on
    ``tmp_path/mock.sqlite3`` unless ``db`` says otherwise); all killed at the end."""
    started: list[MockProcess] = []

    def make(db: Path | str | None = None, **options: Any) -> MockProcess:
        config = write_config(tmp_path, **options)
        server = MockProcess(db or tmp_path / "mock.sqlite3", config,
                             tmp_path / f"server-{len(started)}.log")
        started.append(server)
        server.start()
        return server

    try:
        yield make
    finally:
        for server in started:
            server.kill()


@pytest.fixture(params=["sqlite", "postgres"])
def replica_db(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Path | str, int]:
    """(database, replicas) of each store the load tests run on: one process on a SQLite file,
    or two processes (two ports) over one PostgreSQL schema, the clients spread over both."""
    if request.param == "sqlite":
        return tmp_path / "mock.sqlite3", 1
    return request.getfixturevalue("pg_url"), 2


