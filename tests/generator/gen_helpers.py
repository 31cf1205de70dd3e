"""Helpers of the generator tests: run the generator as users do, hash output trees."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

__all__ = ["FIXTURE_SPEC", "REFERENCE_SPEC", "ROOT", "run_generator", "tree_digest"]

ROOT = Path(__file__).resolve().parents[2]
FIXTURE_SPEC = ROOT / "tests" / "fixtures" / "spec"
REFERENCE_SPEC = ROOT.parent / "shared" / "reference" / "launchdarkly-openapi.yaml"


def run_generator(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """``python -m generator ARGS`` from the project root, as ``make generate`` runs it."""
    return subprocess.run(
        [sys.executable, "-m", "generator", *map(str, args)],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )


def tree_digest(root: Path) -> dict[str, str]:
    """sha256 of every file under ``root`` (byte-code caches aside), by relative path."""
    if not root.exists():
        return {}
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }
