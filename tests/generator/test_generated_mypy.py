"""Generated code type-checks with ``mypy --strict``: the fixture package, and generated/."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from gen_helpers import ROOT

SPECS = sorted((ROOT / "specs").glob("*.yaml"))


def _mypy(package: Path, cache: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--cache-dir", str(cache), package.name],
        cwd=package.parent, capture_output=True, text=True, timeout=300, check=False,
    )


def test_fixture_package_is_mypy_strict_clean(fixture_package: ModuleType,
                                              tmp_path: Path) -> None:
    result = _mypy(Path(fixture_package.__file__).parent, tmp_path / "cache")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.skipif(not SPECS, reason="specs/*.yaml not written yet")
def test_generated_package_is_current_and_mypy_strict_clean(tmp_path: Path) -> None:
    check = subprocess.run([sys.executable, "-m", "generator", "--check"], cwd=ROOT,
                           capture_output=True, text=True, timeout=120, check=False)
    assert check.returncode == 0, check.stderr
    result = _mypy(ROOT / "generated", tmp_path / "cache")
    assert result.returncode == 0, result.stdout + result.stderr
