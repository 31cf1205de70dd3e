"""Read spec files with PyYAML's C loader, keeping dates as strings and keys as strings."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from generator.errors import GenerationFailed, Problem

__all__ = ["Document", "load_document", "locate", "parse_document"]

_TIMESTAMP = "tag:yaml.org,2002:timestamp"


class _Loader(yaml.CSafeLoader):
    """C-accelerated safe loader without the timestamp resolver.

    OpenAPI is JSON: dates must stay strings and mapping keys must be strings (YAML turns an
    unquoted ``200:`` response key into an int). Duplicate keys, which PyYAML silently
    collapses, are reported instead.
    """

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        original = node.value
        self.flatten_mapping(node)  # resolves `<<` merge keys; replaces node.value if any
        merged = node.value is not original
        mapping: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=deep)
            if type(key) is not str:
                key = _scalar_key(key, node, key_node)
            if key in mapping and not merged:
                raise yaml.MarkedYAMLError(
                    "while constructing a mapping", node.start_mark,
                    f"found duplicate key {key!r}", key_node.start_mark,
                )
            mapping[key] = self.construct_object(value_node, deep=deep)
        return mapping


def _scalar_key(key: Any, node: yaml.Node, key_node: yaml.Node) -> str:
    if isinstance(key, bool) or key is None:
        return {True: "true", False: "false", None: "null"}[key]
    if isinstance(key, (int, float)):
        return str(key)
    raise yaml.MarkedYAMLError("while constructing a mapping", node.start_mark,
                               "found a key that is not a scalar", key_node.start_mark)


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != _TIMESTAMP]
    for first, resolvers in yaml.CSafeLoader.yaml_implicit_resolvers.items()
}


@dataclass
class Document:
    """One parsed spec file."""

    path: Path
    name: str  # as shown in messages
    raw: bytes
    data: dict[str, Any]


def load_document(path: Path, name: str) -> Document:
    """Read and parse one spec file."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise GenerationFailed([Problem(name, "", f"cannot read: {exc.strerror}")]) from None
    return parse_document(path, name, raw)


def parse_document(path: Path, name: str, raw: bytes) -> Document:
    """Parse one spec file's bytes; YAML problems come back with line and column."""
    try:
        data = yaml.load(raw, Loader=_Loader)  # _Loader is a SafeLoader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{mark.line + 1}:{mark.column + 1}" if mark else ""
        what = " ".join(s for s in (exc.context, exc.problem) if s)
        raise GenerationFailed([Problem(name, where, f"invalid YAML: {what}")]) from None
    except yaml.YAMLError as exc:
        raise GenerationFailed([Problem(name, "", f"invalid YAML: {exc}")]) from None
    if not isinstance(data, dict):
        kind = type(data).__name__ if data is not None else "empty document"
        raise GenerationFailed([Problem(name, "1:1", f"not an OpenAPI document ({kind})")])
    return Document(path=path, name=name, raw=raw, data=data)


def locate(raw: bytes, ptr: str) -> str | None:
    """Line:column of the node at JSON pointer ``ptr`` ("#/a/b"), for error messages only."""
    try:
        node = yaml.compose(raw, Loader=yaml.CSafeLoader)
    except yaml.YAMLError:
        return None
    tokens = [t.replace("~1", "/").replace("~0", "~") for t in ptr.lstrip("#").split("/")[1:]]
    for token in tokens:
        if isinstance(node, yaml.MappingNode):
            nxt = next((v for k, v in node.value if getattr(k, "value", None) == token), None)
        elif isinstance(node, yaml.SequenceNode) and token.isdigit() and int(token) < len(node.value):
            nxt = node.value[int(token)]
        else:
            nxt = None
        if nxt is None:
            break
        node = nxt
    if node is None:
        return None
    return f"{node.start_mark.line + 1}:{node.start_mark.column + 1}"
