"""Input fingerprint and output hashes, so a no-op run and ``--check`` need no parsing.

Only the standard library is imported here: the no-op path must stay well under 0.3 s.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from generator.config import GENERATOR_DIR, MANIFEST_NAME, MODELS_OPTIONS
from generator.writer import current_files

__all__ = ["Freshness", "build_manifest", "freshness", "input_hash", "read_manifest"]

_FORMAT = 1
_TOOLS = ("datamodel-code-generator", "ruff")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _generator_sources() -> list[Path]:
    return sorted(
        p for p in GENERATOR_DIR.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix not in (".pyc", ".md")
    )


def _tool_version(name: str) -> str:
    """The installed version of distribution ``name`` ("" if none): the first
    ``<name>-<version>.dist-info`` on sys.path, as importlib.metadata would find it, without
    importing importlib.metadata (a third of a no-op run: docs/generator.md, Speed)."""
    prefix = name.replace("-", "_").lower() + "-"
    for entry in sys.path:
        try:
            names = sorted(os.listdir(entry or "."))
        except OSError:
            continue
        for found in names:
            if found.endswith(".dist-info") and found.lower().startswith(prefix):
                return found[len(prefix):-len(".dist-info")]
    from importlib import metadata  # other layouts (.egg-info, zip files)

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return ""


def input_hash(specs: Mapping[str, bytes]) -> str:
    """sha256 over the spec files, the generator's own source and templates, the pinned
    options and the versions of the tools whose output lands in the package."""
    digest = hashlib.sha256()

    def feed(label: str, data: bytes) -> None:
        digest.update(f"{label}\0{len(data)}\0".encode())
        digest.update(data)

    feed("format", str(_FORMAT).encode())
    for name, raw in sorted(specs.items()):
        feed(f"spec:{name}", raw)
    for path in _generator_sources():
        feed(f"source:{path.relative_to(GENERATOR_DIR).as_posix()}", path.read_bytes())
    feed("options", json.dumps(MODELS_OPTIONS, sort_keys=True).encode())
    for tool in _TOOLS:
        feed(f"tool:{tool}", _tool_version(tool).encode())
    return digest.hexdigest()


def build_manifest(
    specs: Mapping[str, bytes], files: Mapping[str, bytes], summary: Mapping[str, Any]
) -> bytes:
    """The manifest: input hash, every input's and output's sha256, and the run's counts."""
    manifest = {
        "format": _FORMAT,
        "generator": "python -m generator",
        "input_hash": input_hash(specs),
        "inputs": {name: _sha256(raw) for name, raw in sorted(specs.items())},
        "outputs": {name: _sha256(data) for name, data in sorted(files.items())},
        "summary": dict(summary),
    }
    return (json.dumps(manifest, indent=1) + "\n").encode()


def read_manifest(out: Path) -> dict[str, Any] | None:
    try:
        manifest = json.loads((out / MANIFEST_NAME).read_bytes())
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) and manifest.get("format") == _FORMAT else None


@dataclass(frozen=True)
class Freshness:
    fresh: bool
    reason: str  # why not, for messages
    manifest: dict[str, Any] | None


def freshness(out: Path, specs: Mapping[str, bytes], resolve: Any) -> Freshness:
    """Whether ``out`` was generated from exactly these inputs and not edited since.

    ``specs`` are the explicit spec files; files that only external refs named are taken from
    the manifest and read through ``resolve(name) -> Path``.
    """
    manifest = read_manifest(out)
    if manifest is None:
        return Freshness(False, f"{out.name}/{MANIFEST_NAME} is missing or unreadable", None)
    inputs = dict(specs)
    for name in manifest.get("inputs", {}):
        if name not in inputs:
            try:
                inputs[name] = resolve(name).read_bytes()
            except OSError:
                return Freshness(False, f"referenced spec {name} is gone", manifest)
    if input_hash(inputs) != manifest.get("input_hash"):
        changed = sorted(n for n, raw in inputs.items()
                         if manifest.get("inputs", {}).get(n) != _sha256(raw))
        what = ", ".join(changed) if changed else "the generator or its options"
        return Freshness(False, f"inputs changed since it was generated ({what})", manifest)
    outputs: dict[str, str] = manifest.get("outputs", {})
    present = current_files(out)
    for name, expected in outputs.items():
        if name not in present:
            return Freshness(False, f"{out.name}/{name} is missing", manifest)
        if _sha256(present[name].read_bytes()) != expected:
            return Freshness(False, f"{out.name}/{name} was edited by hand", manifest)
    extra = sorted(set(present) - set(outputs) - {MANIFEST_NAME})
    if extra:
        return Freshness(False, f"{out.name}/{extra[0]} is not a generated file", manifest)
    return Freshness(True, "", manifest)
