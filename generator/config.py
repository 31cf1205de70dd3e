"""Every knob of the generator in one place, so the input hash can cover all of them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "GENERATOR_DIR",
    "MANIFEST_NAME",
    "MODELS_OPTIONS",
    "PROJECT_ROOT",
    "SEMANTIC_PATCH_MEDIA_TYPE",
    "Options",
]

GENERATOR_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = GENERATOR_DIR.parent
MANIFEST_NAME = "MANIFEST.json"
SEMANTIC_PATCH_MEDIA_TYPE = "application/json; domain-model=launchdarkly.semanticpatch"

# Options passed to datamodel_code_generator.generate (enum values by name, so this module
# stays importable without importing datamodel-code-generator on the no-op path).
# ruff-format makes models.py readable at a small cost; `builtin` and black+isort are far
# slower, so neither is used (the figures: docs/generator.md, Speed).
MODELS_OPTIONS: dict[str, Any] = {
    "input_file_type": "openapi",
    "output_model_type": "pydantic_v2.BaseModel",
    "target_python_version": "3.11",
    "disable_timestamp": True,
    "use_annotated": True,
    "field_constraints": True,
    "use_standard_collections": True,
    "use_union_operator": True,
    "use_double_quotes": True,
    # Literal instead of Enum classes: StrEnum members named like str methods (a JSON-patch
    # op `replace`) fail type checking, and plain strings are simpler to compare and build.
    "enum_field_as_literal": "all",
    "formatters": ["ruff-format"],
}


@dataclass(frozen=True)
class Options:
    """One generator run: which specs, where to, and how."""

    specs: tuple[Path, ...]
    out: Path
    check: bool = False
    force: bool = False
    verbose: bool = False  # print each stage's timing (stderr)

    def display(self, path: Path) -> str:
        """Name a file the way messages and the manifest show it: relative to the project."""
        try:
            return path.resolve().relative_to(self.out.resolve().parent).as_posix()
        except ValueError:
            return path.resolve().as_posix()
