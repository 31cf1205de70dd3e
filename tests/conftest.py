"""Fixtures shared by the test directories: a real PostgreSQL server for the session, and
mock server processes killed when their test ends."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pg_cluster import PgCluster, PgUnavailable

from mock_server.process import MockProcess

StartMock = Callable[[Path | str, Path, Path], MockProcess]  # (db, config, log) -> started


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    """A PostgreSQL server on a free loopback port for the whole session (tests/pg_cluster.py).
    Without PostgreSQL the tests that need it are skipped, naming the package; under CI (which
    installs it, .ci/run) they fail instead, so that a green CI always ran them."""
    try:
        cluster = PgCluster()
        cluster.start()
    except PgUnavailable as exc:
        if os.environ.get("CI"):
            pytest.fail(f"CI needs PostgreSQL for these tests: {exc}")
        pytest.skip(str(exc))
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def pg_url(pg_cluster: PgCluster) -> str:
    """The URL of an empty schema of its own on the session's PostgreSQL."""
    return pg_cluster.fresh_url()


@pytest.fixture
def start_mock() -> Iterator[StartMock]:
    """``start_mock(db, config, log)``: a started :class:`MockProcess`; every one a test
    started is killed when it ends, also on failure."""
    started: list[MockProcess] = []

    def start(db: Path | str, config: Path, log: Path) -> MockProcess:
        server = MockProcess(db, config, log)
        started.append(server)
        server.start()
        return server

    try:
        yield start
    finally:
        for server in started:
            server.kill()
