"""Pydantic models through datamodel-code-generator, run in a forked child process.

datamodel-code-generator is the slowest stage (~2 s on the reference spec); forking after the
bundle is built lets it run while the parent validates and renders. The child inherits the
bundle copy-on-write, so nothing big is pickled on the way in.
"""

from __future__ import annotations

import os
import pickle
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from generator.config import MODELS_OPTIONS
from generator.errors import GenerationFailed, Problem

__all__ = ["ModelsJob", "ModelsResult", "generate_models"]

_SCHEMA_PREFIX = "#/components/schemas/"


@dataclass(frozen=True)
class ModelsResult:
    source: str
    class_names: dict[str, str]  # component schema name -> generated class name


def generate_models(document: dict[str, Any]) -> ModelsResult:
    """Run datamodel-code-generator as a library; its warnings are silenced, not printed."""
    import warnings

    from datamodel_code_generator import generate

    with tempfile.TemporaryDirectory(prefix="dmcg-") as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        metadata_path = Path(tmp) / "metadata.json"
        source = generate(document, emit_model_metadata=metadata_path, **MODELS_OPTIONS)
        import json

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


class ModelsJob:
    """generate_models() in a forked child (in-process where fork is unavailable)."""

    def __init__(self, document: dict[str, Any], source_name: str) -> None:
        self._source_name = source_name
        self._inline: ModelsResult | None = None
        if not hasattr(os, "fork"):
            self._inline = self._run(document)
            return
        read_fd, write_fd = os.pipe()
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # child: never returns
            os.close(read_fd)
            self._child(document, write_fd)
        os.close(write_fd)
        self._pid = pid
        self._read_fd = read_fd

    def _run(self, document: dict[str, Any]) -> ModelsResult:
        try:
            return generate_models(document)
        except Exception as exc:  # noqa: BLE001 - any failure of the library is reported
            raise self._failure(f"{type(exc).__name__}: {exc}") from None

    def _failure(self, message: str) -> GenerationFailed:
        return GenerationFailed([Problem(self._source_name, "",
                                         f"datamodel-code-generator failed: {message}")])

    @staticmethod
    def _child(document: dict[str, Any], write_fd: int) -> None:
        status = 0
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)  # warnings and progress output must not reach the user
            payload: object = generate_models(document)
        except BaseException as exc:  # noqa: BLE001 - the parent reports whatever happened
            payload = f"{type(exc).__name__}: {exc}"
            status = 1
        try:
            with os.fdopen(write_fd, "wb") as pipe:
                pickle.dump(payload, pipe, protocol=pickle.HIGHEST_PROTOCOL)
        finally:
            os._exit(status)

    def result(self) -> ModelsResult:
        """Wait for the child and return its models, or raise GenerationFailed."""
        if self._inline is not None:
            return self._inline
        with os.fdopen(self._read_fd, "rb") as pipe:
            data = pipe.read()
        _, status = os.waitpid(self._pid, 0)
        try:
            payload = pickle.loads(data)  # our own child wrote it
        except Exception:  # noqa: BLE001 - a truncated pickle: the child died
            payload = f"child process died (wait status {status})"
        if isinstance(payload, ModelsResult):
            return payload
        raise self._failure(str(payload))

    def cancel(self) -> None:
        """Stop the child when a sibling stage failed."""
        if self._inline is None and self._read_fd >= 0:
            os.close(self._read_fd)
            self._read_fd = -1
            try:
                os.kill(self._pid, 9)
            except ProcessLookupError:
                pass
            os.waitpid(self._pid, 0)
