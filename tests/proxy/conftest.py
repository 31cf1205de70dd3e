"""Fixtures of the proxy and fidelity tests: processes killed when their test ends, the kit's
mock as a process."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from proxy_helpers import Processes, mock_config

from mock_server.process import MockProcess


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    started = Processes(tmp_path)
    try:
        yield started
    finally:
        started.stop_all()


@pytest.fixture
def mock_factory(tmp_path: Path,
                 start_mock: Callable[[Path | str, Path, Path], MockProcess],
                 ) -> Callable[..., MockProcess]:
    """``mock_factory(name, **config changes)``: a started mock process, killed at the end."""
    def make(name: str = "mock", **changes: Any) -> MockProcess:
        return start_mock(tmp_path / f"{name}.sqlite3",
                          mock_config(tmp_path / f"{name}-config.yaml", **changes),
                          tmp_path / f"{name}.log")

    return make


@pytest.fixture
def mock(mock_factory: Callable[..., MockProcess]) -> MockProcess:
    return mock_factory()
