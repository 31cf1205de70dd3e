"""The suite's own YAML input files (coverage gate, known deviations), read with line numbers.

A mistake in such a file must stop the run before any request with one line that names the
file, the line and the problem (status 4, like the suite's other configuration errors), so
every mapping and list keeps the line of each of its entries.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from .settings import ConfigurationError

__all__ = ["FileProblem", "LineDict", "LineList", "load"]


class FileProblem(ConfigurationError):
    """One problem in one of the suite's input files: ``FILE:LINE: problem``."""

    def __init__(self, label: str, path: Path, line: int | None, problem: str) -> None:
        where = f"{path}:{line}" if line is not None else str(path)
        super().__init__(f"{label} {where}: {problem}")


class LineDict(dict[Any, Any]):
    """A YAML mapping; `line` is its own, `lines[key]` each key's (1-based)."""

    line: int = 0

    def __init__(self) -> None:
        super().__init__()
        self.lines: dict[Any, int] = {}


class LineList(list[Any]):
    """A YAML sequence; `line` is its own, `lines[i]` each item's (1-based)."""

    line: int = 0

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[int] = []


class _Loader(yaml.SafeLoader):
    pass


def _mapping(loader: _Loader, node: yaml.MappingNode) -> Iterator[LineDict]:
    data = LineDict()
    data.line = node.start_mark.line + 1
    yield data
    loader.flatten_mapping(node)
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            hash(key)
        except TypeError:
            raise yaml.constructor.ConstructorError(
                None, None, "a key must be a plain value", key_node.start_mark) from None
        data[key] = loader.construct_object(value_node, deep=True)
        data.lines[key] = key_node.start_mark.line + 1


def _sequence(loader: _Loader, node: yaml.SequenceNode) -> Iterator[LineList]:
    data = LineList()
    data.line = node.start_mark.line + 1
    yield data
    for item in node.value:
        data.append(loader.construct_object(item, deep=True))
        data.lines.append(item.start_mark.line + 1)


_Loader.add_constructor("tag:yaml.org,2002:map", _mapping)
_Loader.add_constructor("tag:yaml.org,2002:seq", _sequence)


def _text(loader: _Loader, node: yaml.ScalarNode) -> str:
    """Dates stay text: the reader checks them and names the line of a bad one."""
    return str(loader.construct_scalar(node))


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _text)


def load(path: Path, label: str) -> Any:
    """The file's YAML document: mappings as `LineDict`, lists as `LineList`. A file that
    cannot be read or is not YAML is a `FileProblem` at the line the parser stopped at."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise FileProblem(label, path, None, f"cannot be read ({exc})") from None
    try:
        return yaml.load(text, Loader=_Loader)  # a SafeLoader: no arbitrary objects
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = " ".join(str(part) for part in (exc.context, exc.problem) if part)
        raise FileProblem(label, path, mark.line + 1 if mark else None,
                          f"not YAML: {problem}") from None
    except yaml.YAMLError as exc:
        raise FileProblem(label, path, None, f"not YAML: {exc}") from None
