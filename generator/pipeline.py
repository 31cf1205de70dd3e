"""The generator's stages in order: fingerprint -> load -> bundle -> validate (while the
models are generated in a child process) -> operation model -> render -> write."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from generator.config import MANIFEST_NAME, Options
from generator.errors import GenerationFailed, Problem
from generator.manifest import build_manifest, freshness

__all__ = ["Result", "StaleOutput", "run"]

_SPEC_SUFFIXES = (".yaml", ".yml", ".json")


@dataclass(frozen=True)
class Result:
    """What a run did, for the one-line summary."""

    skipped: bool
    written: bool
    operations: int
    schemas: int
    families: int
    files: int
    seconds: float


class StaleOutput(Exception):
    """``--check`` found the package out of date; the message says why."""


def _discover(options: Options) -> dict[str, Path]:
    found: dict[str, Path] = {}
    problems = []
    for spec in options.specs:
        if spec.is_dir():
            paths = sorted(p for p in spec.iterdir() if p.suffix in _SPEC_SUFFIXES and p.is_file())
            if not paths:
                problems.append(Problem(options.display(spec), "", "no spec files (*.yaml) here"))
        elif spec.is_file():
            paths = [spec]
        else:
            problems.append(Problem(options.display(spec), "", "no such file or directory"))
            continue
        for path in paths:
            found.setdefault(options.display(path), path)
    if problems:
        raise GenerationFailed(problems)
    return found


def _resolver(options: Options) -> Callable[[str], Path]:
    """Manifest names are relative to the project (the output's parent) or absolute."""
    root = options.out.resolve().parent
    return lambda name: root / name


def run(options: Options) -> Result:
    """Generate (or, with ``options.check``, verify) the package; raises GenerationFailed
    with every problem found, or StaleOutput."""
    start = time.perf_counter()
    spec_paths = _discover(options)
    specs = {name: path.read_bytes() for name, path in spec_paths.items()}
    state = freshness(options.out, specs, _resolver(options))
    if options.check:
        if not state.fresh:
            raise StaleOutput(f"{options.display(options.out)}/ is stale: {state.reason}")
        return _skipped(state.manifest, start)
    if state.fresh and not options.force:
        return _skipped(state.manifest, start)
    return _generate(options, spec_paths, specs, start)


def _skipped(manifest: dict[str, Any] | None, start: float) -> Result:
    manifest = manifest or {}
    summary = manifest.get("summary", {})
    return Result(True, False, summary.get("operations", 0), summary.get("schemas", 0),
                  summary.get("families", 0), len(manifest.get("outputs", {})) + 1,
                  time.perf_counter() - start)


def _generate(
    options: Options, spec_paths: dict[str, Path], specs: dict[str, bytes], start: float
) -> Result:
    from generator.bundler import bundle_documents
    from generator.loader import Document, load_document, locate, parse_document
    from generator.models_gen import ModelsJob

    loaded: dict[str, bytes] = dict(specs)

    def load(path: Path) -> Document:
        doc = load_document(path, options.display(path))
        loaded[doc.name] = doc.raw
        return doc

    try:
        docs = []
        problems: list[Problem] = []
        for name, path in spec_paths.items():
            try:
                docs.append(parse_document(path, name, specs[name]))
            except GenerationFailed as exc:
                problems.extend(exc.problems)
        if problems:
            raise GenerationFailed(problems)
        bundle = bundle_documents(docs, load)
        job = ModelsJob(bundle.document, docs[0].name)
        try:
            from generator.render import dump_openapi
            from generator.validate import check_contract, check_openapi

            problems = check_contract(bundle) or check_openapi(bundle)
            if problems:
                raise GenerationFailed(problems)
            openapi_json = dump_openapi(bundle.document)
            models = job.result()
        except BaseException:
            job.cancel()
            raise
    except GenerationFailed as exc:
        raise GenerationFailed(
            replace(p, location=locate(loaded[p.file], p.pointer) or "")
            if p.pointer and not p.location and p.file in loaded else p
            for p in exc.problems
        ) from None

    from generator.model import build_api
    from generator.render import render_package

    api = build_api(bundle.document, models.class_names)
    files = render_package(api, openapi_json, models.source)
    summary = {
        "operations": len(api.operations),
        "schemas": len((bundle.document.get("components") or {}).get("schemas") or {}),
        "families": len(api.families),
    }
    files[MANIFEST_NAME] = build_manifest(loaded, dict(files), summary)
    written = _write(options, files)
    return Result(False, written, summary["operations"], summary["schemas"],
                  summary["families"], len(files), time.perf_counter() - start)


def _write(options: Options, files: dict[str, bytes]) -> bool:
    from generator.writer import write_package

    return write_package(options.out, files, MANIFEST_NAME)
