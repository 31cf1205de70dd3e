"""Replace the output package atomically: all new files or all old ones, never a mix."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path

__all__ = ["current_files", "write_package"]

_IGNORED_DIRS = frozenset({"__pycache__"})


def current_files(out: Path) -> dict[str, Path]:
    """The package's files by relative name, ignoring byte-code caches."""
    if not out.is_dir():
        return {}
    found = {}
    for root, dirs, names in os.walk(out):
        dirs[:] = sorted(d for d in dirs if d not in _IGNORED_DIRS)
        for name in names:
            path = Path(root) / name
            found[path.relative_to(out).as_posix()] = path
    return dict(sorted(found.items()))


def write_package(out: Path, files: Mapping[str, bytes], manifest_name: str) -> bool:
    """Write ``files`` as the package at ``out``; returns False when only the manifest changed.

    Everything is rendered into a sibling temporary directory first, then swapped in with two
    renames, so an interrupted run leaves the old package in place.
    """
    existing = current_files(out)
    if set(existing) == set(files) and all(
        name == manifest_name or existing[name].read_bytes() == data
        for name, data in files.items()
    ):
        _replace_file(out / manifest_name, files[manifest_name])
        return False
    out.parent.mkdir(parents=True, exist_ok=True)
    mode = out.stat().st_mode & 0o7777 if out.is_dir() else 0o755
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.new-", dir=out.parent))
    retired = staging.with_name(staging.name.replace(".new-", ".old-"))
    try:
        for name, data in files.items():
            target = staging / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        os.chmod(staging, mode)
        if out.exists():
            os.rename(out, retired)
        try:
            os.rename(staging, out)
        except OSError:
            if retired.exists():
                os.rename(retired, out)
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    shutil.rmtree(retired, ignore_errors=True)
    return True


def _replace_file(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
