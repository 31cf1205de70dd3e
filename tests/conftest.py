"""Fixtures shared by the test directories: a generated fixture package to import and spec
copies (the generator tests), a real PostgreSQL server for the session (the store, hardening
and contract tests on PostgreSQL)."""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from gen_helpers import FIXTURE_SPEC, run_generator
from pg_cluster import PgCluster, PgUnavailable


@pytest.fixture(scope="session")
def fixture_package(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    """The fixture spec generated as the importable package ``fxpkg``."""
    base = tmp_path_factory.mktemp("fxgen")
    result = run_generator("--spec", FIXTURE_SPEC, "--out", base / "fxpkg")
    assert result.returncode == 0, result.stderr
    sys.path.insert(0, str(base))
    try:
        yield importlib.import_module("fxpkg")
    finally:
        sys.path.remove(str(base))


@pytest.fixture
def spec_copy(tmp_path: Path) -> Path:
    """A writable copy of the fixture spec directory."""
    target = tmp_path / "spec"
    target.mkdir()
    for source in FIXTURE_SPEC.iterdir():
        (target / source.name).write_bytes(source.read_bytes())
    return target


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
