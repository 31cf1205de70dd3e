"""Fixtures shared by the test directories: a real PostgreSQL server for the session."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from pg_cluster import PgCluster, PgUnavailable


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
