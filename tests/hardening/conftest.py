"""Hardening tests of the mock server: concurrency, crashes, hostile input, access, rate limits.

The helpers live in ``hardening_helpers.py``; here: the ``slow`` marker and the fixture that
starts real server processes (each killed when its test ends, also on failure).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hardening_helpers import write_config

from mock_server.process import MockProcess


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "slow: a bounded load or crash test (seconds, real processes); CI runs them")


@pytest.fixture
def mock_process(tmp_path: Path,
                 start_mock: Callable[[Path | str, Path, Path], MockProcess],
                 ) -> Callable[..., MockProcess]:
    """``mock_process(db=None, **config_options)``: a started :class:`MockProcess` (on
    ``tmp_path/mock.sqlite3`` unless ``db`` says otherwise); all killed at the end."""
    logs = itertools.count()

    def make(db: Path | str | None = None, **options: Any) -> MockProcess:
        return start_mock(db or tmp_path / "mock.sqlite3", write_config(tmp_path, **options),
                          tmp_path / f"server-{next(logs)}.log")

    return make


@pytest.fixture(params=["sqlite", "postgres"])
def replica_db(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Path | str, int]:
    """(database, replicas) of each store the load tests run on: one process on a SQLite file,
    or two processes (two ports) over one PostgreSQL schema, the clients spread over both."""
    if request.param == "sqlite":
        return tmp_path / "mock.sqlite3", 1
    return request.getfixturevalue("pg_url"), 2


