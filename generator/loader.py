"""Read spec files with PyYAML's C loader, keeping dates as strings and keys as strings."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from generator.errors import GenerationFailed, Problem

__all__ = ["Document", "load_document", "locate", "parse_document"]

_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_STR = "tag:yaml.org,2002:str"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
_MERGE = "tag:yaml.org,2002:merge"


class _SlowPath(Exception):
    """The document needs PyYAML's general constructor (merge keys, recursive aliases)."""


class _Loader(yaml.CSafeLoader):
    """C-accelerated safe loader without the timestamp resolver.

    OpenAPI is JSON: dates must stay strings and mapping keys must be strings (YAML turns an
    unquoted ``200:`` response key into an int). Duplicate keys, which PyYAML silently
    collapses, are reported instead.
    """

    def construct_document(self, node: yaml.Node) -> Any:
        """A specialised constructor for plain JSON-like documents (faster than PyYAML's
        generic one, which dispatches every node through generators: docs/generator.md,
        Speed); documents with merge keys or recursive aliases take the generic route."""
        try:
            data = _construct_fast(self, node)
        except (_SlowPath, RecursionError):
            return super().construct_document(node)
        self.constructed_objects = {}
        self.recursive_objects = {}
        return data

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


def _construct_fast(loader: _Loader, root: yaml.Node) -> Any:
    """What ``BaseConstructor.construct_document`` returns for documents made of str-keyed
    mappings, sequences and scalars: same values, same sharing of aliased nodes, same errors
    for duplicate and non-scalar keys."""
    scalar_node, mapping_node, sequence_node = yaml.ScalarNode, yaml.MappingNode, yaml.SequenceNode
    constructors = loader.yaml_constructors
    memo: dict[int, Any] = {}  # id(container node) -> its object (aliases share nodes)
    building = object()

    def scalar(node: yaml.Node) -> Any:
        return constructors[node.tag](loader, node) if node.tag in constructors else (
            loader.construct_object(node, deep=True))

    def value(node: yaml.Node) -> Any:
        cls = node.__class__
        if cls is scalar_node:
            return node.value if node.tag == _STR else scalar(node)
        done = memo.get(id(node))
        if done is not None:
            if done is building:
                raise _SlowPath  # a recursive alias
            return done
        if cls is mapping_node and node.tag == _MAP:
            memo[id(node)] = building
            result: Any = mapping(node)
        elif cls is sequence_node and node.tag == _SEQ:
            memo[id(node)] = building
            result = [value(item) for item in node.value]
        else:  # !!set, !!omap and the like
            return loader.construct_object(node, deep=True)
        memo[id(node)] = result
        return result

    def mapping(node: yaml.Node) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.__class__ is scalar_node and key_node.tag == _STR:
                key = key_node.value
            else:
                if key_node.tag == _MERGE:
                    raise _SlowPath
                key = value(key_node)
                if type(key) is not str:
                    key = _scalar_key(key, node, key_node)
            if key in result:
                raise yaml.MarkedYAMLError(
                    "while constructing a mapping", node.start_mark,
                    f"found duplicate key {key!r}", key_node.start_mark,
                )
            result[key] = value(value_node)
        return result

    return value(root)


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
