"""Fixtures of the generator tests: a generated fixture package to import, spec copies."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from gen_helpers import FIXTURE_SPEC, run_generator


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
