"""Render the package's files from the operation model with small Jinja templates."""

from __future__ import annotations

import json
from typing import Any

import jinja2

from generator.config import GENERATOR_DIR
from generator.model import ApiView

__all__ = ["STATIC_FILES", "TEMPLATES", "dump_openapi", "render_package", "template_environment"]

TEMPLATES_DIR = GENERATOR_DIR / "templates"
# rendered module -> template
TEMPLATES = {
    "__init__.py": "__init__.py.jinja",
    "operations.py": "operations.py.jinja",
    "backends.py": "backends.py.jinja",
    "routers.py": "routers.py.jinja",
    "app.py": "app.py.jinja",
    "client.py": "client.py.jinja",
}
STATIC_FILES = (
    "_runtime.py", "_errors.py", "_media_types.py", "_json_body.py", "_validation.py",
    "_responses.py", "_http.py",
)


def _py(value: Any) -> str:
    """A Python literal: strings in double quotes, tuples with their trailing comma."""
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (tuple, list)):
        items = [_py(v) for v in value]
        return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"
    if value is None or isinstance(value, (bool, int)):
        return repr(value)
    raise TypeError(f"no Python literal for {type(value).__name__}")


def _doc(text: str) -> str:
    """Text that is safe inside a triple-quoted docstring."""
    return text.replace("\\", "\\\\").replace('"""', '\\"\\"\\"').rstrip(".")


def template_environment() -> jinja2.Environment:
    """The Jinja environment with every template compiled: the pipeline does it while the
    models are still being generated (its cost: docs/generator.md, Speed)."""
    env = _environment()
    for template in TEMPLATES.values():
        env.get_template(template)  # cached by the environment
    return env


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,  # Python source, not HTML
    )
    env.filters["py"] = _py
    env.filters["doc"] = _doc
    return env


def dump_openapi(document: dict[str, Any]) -> bytes:
    """The bundled document as stable JSON: indent 1, UTF-8, trailing newline. The standard
    library's encoder, rather than a hand-written one kept byte-compatible with it."""
    return (json.dumps(document, indent=1, ensure_ascii=False) + "\n").encode()


def render_package(
    api: ApiView, openapi_json: bytes, models_source: str, env: jinja2.Environment | None = None
) -> dict[str, bytes]:
    """Every file of the generated package (the manifest aside), by relative name."""
    env = env or _environment()
    annotations = [p.annotation for op in api.operations for p in op.parameters]
    context = {
        "api": api,
        "families": {f.tag: f for f in api.families},
        "uses_literal": any("Literal[" in a for a in annotations),
        "converters": api.converters,
        "uses_parameter": any(
            not p.is_token and (p.location != "path" or p.needs_conversion)
            for op in api.operations for p in op.parameters
        ),
    }
    files = {name: env.get_template(template).render(context).encode()
             for name, template in TEMPLATES.items()}
    for name in STATIC_FILES:
        files[name] = (TEMPLATES_DIR / name).read_bytes()
    files["models.py"] = models_source.encode()
    files["openapi.json"] = openapi_json
    files["py.typed"] = b""
    return dict(sorted(files.items()))
