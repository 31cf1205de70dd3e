"""The generator's stages in order: fingerprint -> load -> bundle -> validate (while the
models are generated in a child process) -> operation model -> render -> write."""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from generator.config import MANIFEST_NAME, Options
from generator.errors import GenerationFailed, Problem
from generator.manifest import build_manifest, freshness

if TYPE_CHECKING:
    import jinja2

    from generator.bundler import Bundle
    from generator.models_gen import ModelsJob, ModelsResult

__all__ = ["Result", "StaleOutput", "run"]

_SPEC_SUFFIXES = (".yaml", ".yml", ".json")
# Specs smaller than this parse faster than the models worker's warm-up costs.
_WARM_UP_BYTES = 512 * 1024


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
    # (stage, start, end), seconds since the run started, for --verbose; the models worker's
    # stages overlap the parent's
    stages: tuple[tuple[str, float, float], ...] = field(default=(), compare=False)


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


class _Stages:
    """Start and end of each stage, for ``--verbose``."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.mark = self.start
        self.done: list[tuple[str, float, float]] = []

    def __call__(self, name: str) -> None:
        """The stage ``name`` ended now (it began where the previous one ended)."""
        now = time.perf_counter()
        self.done.append((name, self.mark - self.start, now - self.start))
        self.mark = now

    def add(self, timings: tuple[tuple[str, float, float], ...]) -> None:
        """Stages timed elsewhere, in time.perf_counter() seconds."""
        self.done.extend((n, a - self.start, b - self.start) for n, a, b in timings)

    def result(self, skipped: bool, written: bool, operations: int, schemas: int,
               families: int, files: int) -> Result:
        return Result(skipped, written, operations, schemas, families, files,
                      time.perf_counter() - self.start,
                      tuple(sorted(self.done, key=lambda s: (s[1], s[2]))))


@contextmanager
def _gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while the big spec trees are alive: PyYAML's composer
    spends most of its time in collections over its growing node tree otherwise, and a run
    creates little cyclic garbage. The models worker inherits the setting."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def run(options: Options) -> Result:
    """Generate (or, with ``options.check``, verify) the package; raises GenerationFailed
    with every problem found, or StaleOutput."""
    stages = _Stages()
    spec_paths = _discover(options)
    specs = {name: path.read_bytes() for name, path in spec_paths.items()}
    state = freshness(options.out, specs, _resolver(options))
    stages("fingerprint")
    if options.check:
        if not state.fresh:
            raise StaleOutput(f"{options.display(options.out)}/ is stale: {state.reason}")
        return _skipped(state.manifest, stages)
    if state.fresh and not options.force:
        return _skipped(state.manifest, stages)
    with _gc_paused():
        return _generate(options, spec_paths, specs, stages)


def _skipped(manifest: dict[str, Any] | None, stages: _Stages) -> Result:
    manifest = manifest or {}
    summary = manifest.get("summary", {})
    return stages.result(True, False, summary.get("operations", 0), summary.get("schemas", 0),
                         summary.get("families", 0), len(manifest.get("outputs", {})) + 1)


def _generate(
    options: Options, spec_paths: dict[str, Path], specs: dict[str, bytes], stages: _Stages
) -> Result:
    from generator.models_gen import ModelsJob

    # Started first: the worker imports and warms up datamodel-code-generator while this
    # process parses and bundles the spec (when that takes long enough).
    job = ModelsJob(warm_up=sum(map(len, specs.values())) >= _WARM_UP_BYTES)
    stages("start the models worker")
    try:
        models, bundle, openapi_json, env, loaded = _models_and_bundle(
            options, spec_paths, specs, stages, job)
    except BaseException:
        job.cancel()
        raise
    stages.add(models.timings)

    from generator.model import build_api
    from generator.render import render_package

    api = build_api(bundle.document, models.class_names)
    stages("operation model")
    files = render_package(api, openapi_json, models.source, env)
    stages("render")
    summary = {
        "operations": len(api.operations),
        "schemas": len((bundle.document.get("components") or {}).get("schemas") or {}),
        "families": len(api.families),
    }
    files[MANIFEST_NAME] = build_manifest(loaded, dict(files), summary)
    stages("manifest")
    written = _write(options, files)
    stages("write")
    return stages.result(False, written, summary["operations"], summary["schemas"],
                         summary["families"], len(files))


def _models_and_bundle(
    options: Options, spec_paths: dict[str, Path], specs: dict[str, bytes], stages: _Stages,
    job: ModelsJob,
) -> tuple[ModelsResult, Bundle, bytes, jinja2.Environment, dict[str, bytes]]:
    """Parse, bundle, hand the bundle to the models worker, validate and dump it meanwhile,
    then wait for the models; problems come back located in their files."""
    from generator.bundler import bundle_documents
    from generator.loader import Document, load_document, locate, parse_document

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
        stages("load")
        bundle = bundle_documents(docs, load)
        stages("bundle")
        job.submit(bundle.document, docs[0].name)
        stages("hand the bundle to the models worker")
        from generator.render import dump_openapi, template_environment
        from generator.validate import check_contract, check_openapi

        problems = check_contract(bundle)
        stages("validate: contract")
        problems = problems or check_openapi(bundle)
        stages("validate: openapi-spec-validator")
        if problems:
            raise GenerationFailed(problems)
        openapi_json = dump_openapi(bundle.document)
        stages("dump openapi.json")
        env = template_environment()
        stages("compile the templates")
        models = job.result()
        stages("wait for the models")
    except GenerationFailed as exc:
        raise GenerationFailed(
            replace(p, location=locate(loaded[p.file], p.pointer) or "")
            if p.pointer and not p.location and p.file in loaded else p
            for p in exc.problems
        ) from None
    return models, bundle, openapi_json, env, loaded


def _write(options: Options, files: dict[str, bytes]) -> bool:
    from generator.writer import write_package

    return write_package(options.out, files, MANIFEST_NAME)
