"""Pydantic models through datamodel-code-generator, run in a forked worker process.

datamodel-code-generator is the slowest stage, and importing it and filling its lazy caches
costs a good part of that again (docs/generator.md, Speed). The worker is forked before the
spec is parsed: it imports the library and warms it up on a tiny document while the parent
parses and bundles, then takes the bundle (pickled into an anonymous in-memory file, so the
parent never blocks on a pipe) and generates while the parent validates and renders.
"""

from __future__ import annotations

import importlib
import os
import pickle
import struct
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from generator.config import MODELS_OPTIONS
from generator.errors import GenerationFailed, Problem

__all__ = ["ModelsJob", "ModelsResult", "generate_models"]

_SCHEMA_PREFIX = "#/components/schemas/"
_LENGTH = struct.Struct("<Q")
# What generate() imports anyway: the worker imports it while the parent parses.
_PRELOADED = ("datamodel_code_generator.parser.openapi",
              "datamodel_code_generator.model.pydantic_v2")

# Exercises the code paths the real run takes (objects, refs, enums, arrays, constraints,
# nullable, oneOf/allOf), so the lazy imports and caches are filled before the bundle comes.
_WARM_UP: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "warm-up", "version": "1"},
    "paths": {},
    "components": {"schemas": {
        "Kind": {"type": "string", "enum": ["a", "b"]},
        "Base": {"type": "object", "required": ["id"], "properties": {
            "id": {"type": "string", "minLength": 1, "maxLength": 9, "pattern": "^x"},
            "n": {"type": "integer", "format": "int64", "minimum": 0, "nullable": True},
            "f": {"type": "number"},
            "b": {"type": "boolean", "default": False},
            "kind": {"$ref": "#/components/schemas/Kind"},
            "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 3},
            "map": {"type": "object", "additionalProperties": {"type": "integer"}},
            "any": {},
        }},
        "Child": {"allOf": [{"$ref": "#/components/schemas/Base"},
                            {"type": "object", "properties": {"extra": {"type": "string"}}}]},
        "Either": {"oneOf": [{"$ref": "#/components/schemas/Base"}, {"type": "string"}]},
        "List": {"type": "array", "items": {"$ref": "#/components/schemas/Child"}},
    }},
}


@dataclass(frozen=True)
class ModelsResult:
    source: str
    class_names: dict[str, str]  # component schema name -> generated class name
    # (stage, start, end) in time.perf_counter() seconds, for --verbose
    timings: tuple[tuple[str, float, float], ...] = field(default=(), compare=False)


def generate_models(document: dict[str, Any]) -> ModelsResult:
    """Run datamodel-code-generator as a library; its warnings are silenced, not printed."""
    import json
    import warnings

    from datamodel_code_generator import generate

    with tempfile.TemporaryDirectory(prefix="dmcg-") as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        metadata_path = Path(tmp) / "metadata.json"
        source = generate(document, emit_model_metadata=metadata_path, **MODELS_OPTIONS)
        metadata = json.loads(metadata_path.read_text(encoding="utf-8"))
    if not isinstance(source, str):
        raise TypeError(f"datamodel-code-generator returned {type(source).__name__}, not one module")
    class_names: dict[str, str] = {}
    for model in metadata["models"]:
        ref = model["source_ref"]
        if ref.startswith(_SCHEMA_PREFIX) and "/" not in ref[len(_SCHEMA_PREFIX):]:
            name = ref[len(_SCHEMA_PREFIX):].replace("~1", "/").replace("~0", "~")
            class_names[name] = model["class_name"]
    return ModelsResult(source, dict(sorted(class_names.items())))


def _read_exactly(fd: int, size: int) -> bytes:
    chunks = []
    while size:
        chunk = os.read(fd, size)
        if not chunk:
            break
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


class ModelsJob:
    """generate_models() in a forked worker (in-process where fork is unavailable).

    ``ModelsJob()`` starts the worker, ``submit()`` hands it the bundle, ``result()`` waits
    for the models, ``cancel()`` stops it.
    """

    def __init__(self, warm_up: bool = True) -> None:
        """``warm_up``: run the library on a tiny document while waiting for the bundle;
        worth its cost only when parsing the spec takes longer than the warm-up."""
        self._source_name = ""
        self._document: dict[str, Any] | None = None
        self._pid = 0
        if not hasattr(os, "fork"):
            return
        # the bundle goes through an in-memory file: writing it never waits for the reader
        if hasattr(os, "memfd_create"):
            self._data_fd = os.memfd_create("generator-bundle", os.MFD_CLOEXEC)
        else:  # pragma: no cover - other POSIX systems
            with tempfile.TemporaryFile() as handle:
                self._data_fd = os.dup(handle.fileno())
        go_read, self._go_write = os.pipe()  # the bundle's length, when it is there
        self._result_read, result_write = os.pipe()
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # worker: never returns
            os.close(self._go_write)
            os.close(self._result_read)
            self._worker(go_read, self._data_fd, result_write, warm_up)
        os.close(go_read)
        os.close(result_write)
        self._pid = pid

    # -- parent -----------------------------------------------------------------------------
    def submit(self, document: dict[str, Any], source_name: str) -> None:
        """Hand the worker the bundled document (reported against ``source_name``)."""
        self._source_name = source_name
        if not self._pid:
            self._document = document
            return
        data = pickle.dumps(document, protocol=pickle.HIGHEST_PROTOCOL)
        view = memoryview(data)
        while view:
            view = view[os.write(self._data_fd, view):]
        try:
            os.write(self._go_write, _LENGTH.pack(len(data)))
        except BrokenPipeError:  # the worker died: result() says so
            pass
        os.close(self._go_write)
        self._go_write = -1

    def result(self) -> ModelsResult:
        """Wait for the worker and return its models, or raise GenerationFailed."""
        if not self._pid:
            if self._document is None:
                raise RuntimeError("ModelsJob.result() before submit()")
            try:
                return generate_models(self._document)
            except Exception as exc:  # noqa: BLE001 - any failure of the library is reported
                raise self._failure(f"{type(exc).__name__}: {exc}") from None
        with os.fdopen(self._result_read, "rb") as pipe:
            self._result_read = -1
            data = pipe.read()
        status = self._reap()
        try:
            payload = pickle.loads(data)  # our own worker wrote it
        except Exception:  # noqa: BLE001 - a truncated pickle: the worker died
            payload = f"child process died (wait status {status})"
        if isinstance(payload, ModelsResult):
            return payload
        raise self._failure(str(payload))

    def cancel(self) -> None:
        """Stop the worker when a sibling stage failed."""
        if not self._pid:
            return
        try:
            os.kill(self._pid, 9)
        except ProcessLookupError:
            pass
        self._reap()

    def _reap(self) -> int:
        for name in ("_go_write", "_result_read", "_data_fd"):
            fd = getattr(self, name)
            if fd >= 0:
                os.close(fd)
                setattr(self, name, -1)
        _, status = os.waitpid(self._pid, 0)
        self._pid = 0
        return status

    def _failure(self, message: str) -> GenerationFailed:
        return GenerationFailed([Problem(self._source_name, "",
                                         f"datamodel-code-generator failed: {message}")])

    # -- worker -----------------------------------------------------------------------------
    @staticmethod
    def _worker(go_fd: int, data_fd: int, result_fd: int, warm_up: bool) -> None:
        status = 0
        timings: list[tuple[str, float, float]] = []
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)  # warnings and progress output must not reach the user
            start = time.perf_counter()
            try:
                for module in _PRELOADED:  # most of the warm-up's time
                    importlib.import_module(module)
                if warm_up:
                    generate_models(_WARM_UP)
            except Exception:  # noqa: BLE001, S110 - only a warm-up; the real run reports
                pass
            ready = time.perf_counter()
            timings.append(("models: import" + (" + warm-up" if warm_up else "") + " (worker)",
                            start, ready))
            header = _read_exactly(go_fd, _LENGTH.size)
            if len(header) != _LENGTH.size:  # the parent gave up before submitting
                os._exit(0)
            got = time.perf_counter()
            timings.append(("models: waiting for the bundle (worker)", ready, got))
            size, = _LENGTH.unpack(header)
            data = os.pread(data_fd, size, 0)
            while len(data) < size:
                data += os.pread(data_fd, size - len(data), len(data))
            document = pickle.loads(data)  # our own parent wrote it
            begin = time.perf_counter()
            timings.append(("models: unpickle the bundle (worker)", got, begin))
            result = generate_models(document)
            timings.append(("models: datamodel-code-generator (worker)", begin,
                            time.perf_counter()))
            payload: object = ModelsResult(result.source, result.class_names, tuple(timings))
        except BaseException as exc:  # noqa: BLE001 - the parent reports whatever happened
            payload = f"{type(exc).__name__}: {exc}"
            status = 1
        try:
            with os.fdopen(result_fd, "wb") as pipe:
                pickle.dump(payload, pipe, protocol=pickle.HIGHEST_PROTOCOL)
        finally:
            os._exit(status)
