"""Merge several OpenAPI documents into one self-contained document.

External refs ``other.yaml#/components/<section>/<Name>`` become local refs and the component
they name (plus whatever it needs, transitively) is copied in. Each bundled path item and
component keeps the JSON pointer it had in its own file, so a problem found in the bundle can
be reported against the file it came from.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from generator.errors import GenerationFailed, Problem, pointer
from generator.loader import Document

__all__ = ["HTTP_METHODS", "Bundle", "bundle_documents", "resolve_pointer"]

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
_MERGED_KEYS = ("openapi", "info", "paths", "components", "x-rules", "tags", "security")
_ROOT_ORDER = ("openapi", "info", "jsonSchemaDialect", "servers", "security", "tags", "paths")

ComponentKey = tuple[Path, str, str]  # (file, section, name)


@dataclass
class Bundle:
    """The merged document plus where each part of it came from."""

    document: dict[str, Any]
    documents: list[Document]  # every file read: the inputs first, then referenced ones
    origins: dict[str, Document] = field(default_factory=dict)  # pointer prefix -> file

    def origin(self, ptr: str) -> Document:
        """The file that the bundle node at ``ptr`` was taken from (longest known prefix)."""
        tokens = ptr.split("/")
        for end in range(len(tokens), 0, -1):
            doc = self.origins.get("/".join(tokens[:end]))
            if doc is not None:
                return doc
        return self.documents[0]


def resolve_pointer(data: Any, fragment: str) -> tuple[bool, Any]:
    """Follow a URI fragment ("/a/b", percent-encoded or not) through ``data``."""
    node = data
    for raw in unquote(fragment).split("/")[1:]:
        token = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            return False, None
    return True, node


def _walk_refs(data: Any) -> Iterator[tuple[dict[str, Any], tuple[str, ...]]]:
    """Yield every object that has a string ``$ref``, with its path; literal examples skipped."""
    seen: set[int] = set()
    stack: list[tuple[Any, tuple[str, ...]]] = [(data, ())]
    while stack:
        node, path = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, dict):
            if isinstance(node.get("$ref"), str):
                yield node, path
            for key, value in node.items():
                if isinstance(value, (dict, list)) and key != "example":
                    stack.append((value, (*path, key)))
        else:
            for index, value in enumerate(node):
                if isinstance(value, (dict, list)):
                    stack.append((value, (*path, str(index))))


class _Bundler:
    def __init__(self, inputs: list[Document], load: Callable[[Path], Document]) -> None:
        self.inputs = inputs
        self.load = load
        self.docs: dict[Path, Document] = {d.path.resolve(): d for d in inputs}
        self.problems: list[Problem] = []
        # component (or a file's non-component part, section "") -> the components it refers to
        self.edges: dict[ComponentKey, set[ComponentKey]] = {}

    # -- refs -------------------------------------------------------------------------------
    def rewrite(self, doc: Document) -> None:
        """Check every $ref of ``doc`` and make external ones local, recording dependencies."""
        base = doc.path.resolve()
        for node, path in _walk_refs(doc.data):
            ref: str = node["$ref"]
            owner: ComponentKey = (
                (base, path[1], path[2])
                if len(path) >= 3 and path[0] == "components"
                else (base, "", "")
            )
            file_part, _, fragment = ref.partition("#")
            target_doc = (doc if not file_part
                          else self.external(doc, file_part, pointer(*path, "$ref")))
            if target_doc is None:
                continue
            found, _ = resolve_pointer(target_doc.data, fragment)
            if not found or not fragment.startswith("/"):
                self.problem(doc, pointer(*path, "$ref"), f"dangling $ref {ref!r}: no such node in {target_doc.name}")
                continue
            tokens = [unquote(t).replace("~1", "/").replace("~0", "~") for t in fragment.split("/")]
            is_component = len(tokens) >= 4 and tokens[1] == "components"
            if file_part:
                if not is_component:
                    self.problem(
                        doc, pointer(*path, "$ref"),
                        f"unsupported $ref {ref!r}: external refs must name "
                        "<file>#/components/<section>/<Name>",
                    )
                    continue
                node["$ref"] = "#" + fragment
            if is_component:
                target_base = base if target_doc is doc else target_doc.path.resolve()
                target: ComponentKey = (target_base, tokens[2], tokens[3])
                self.edges.setdefault(owner, set()).add(target)

    def external(self, doc: Document, file_part: str, where: str) -> Document | None:
        if "://" in file_part:
            self.problem(doc, where, f"unsupported $ref to {file_part!r}: only local files")
            return None
        target = (doc.path.parent / unquote(file_part)).resolve()
        if target not in self.docs:
            if not target.is_file():
                self.problem(doc, where, f"dangling $ref: file {file_part!r} does not exist")
                return None
            try:
                loaded = self.load(target)
            except GenerationFailed as exc:
                self.problems.extend(exc.problems)
                return None
            self.docs[target] = loaded
            self.rewrite(loaded)
        return self.docs[target]

    def problem(self, doc: Document, ptr: str, message: str) -> None:
        self.problems.append(Problem(doc.name, "", message, ptr))

    # -- merge ------------------------------------------------------------------------------
    def needed_components(self) -> list[ComponentKey]:
        """Every component of the inputs, plus referenced ones of other files, transitively."""
        roots: list[ComponentKey] = []
        for doc in self.inputs:
            base = doc.path.resolve()
            roots.append((base, "", ""))
            for section, members in (doc.data.get("components") or {}).items():
                roots.extend((base, section, name) for name in members or {})
        needed: list[ComponentKey] = []
        seen: set[ComponentKey] = set()
        stack = list(reversed(roots))
        while stack:
            key = stack.pop()
            if key in seen:
                continue
            seen.add(key)
            if key[1]:
                needed.append(key)
            stack.extend(sorted(self.edges.get(key, ()), reverse=True))
        return needed

    def merge(self) -> Bundle:
        first = self.inputs[0]
        out: dict[str, Any] = {}
        result = Bundle(document=out, documents=list(self.docs.values()))
        versions = {str(d.data.get("openapi", ""))[:3] for d in self.docs.values()}
        if len(versions) > 1:
            self.problem(first, "#/openapi", f"inputs mix OpenAPI versions {sorted(versions)}")
        with_paths = next((d for d in self.inputs if d.data.get("paths")), first)
        for key in ("openapi", "info"):
            src = with_paths if key == "info" else first
            if key in src.data:
                out[key] = src.data[key]
                result.origins[pointer(key)] = src
        tags: dict[str, Any] = {}
        for doc in self.inputs:
            for key, value in doc.data.items():
                if key == "tags" and isinstance(value, list):
                    for tag in value:
                        if isinstance(tag, dict):
                            tags.setdefault(str(tag.get("name")), tag)
                elif key not in _MERGED_KEYS and key not in out:
                    out[key] = value
                    result.origins[pointer(key)] = doc
        if tags:
            out["tags"] = list(tags.values())
        self.merge_security(out, result)
        out["paths"] = self.merge_paths(result)
        out["components"] = self.merge_components(result)
        rules = self.merge_rules(result)
        if rules:
            out["x-rules"] = rules
        ordered = {k: out[k] for k in _ROOT_ORDER if k in out}
        ordered.update((k, v) for k, v in out.items() if k not in ordered)
        result.document = ordered
        return result

    def merge_security(self, out: dict[str, Any], result: Bundle) -> None:
        """A root ``security`` that not every file with paths shares applies to its own
        file's operations only, so it moves down onto them."""
        with_paths = [d for d in self.inputs if d.data.get("paths")] or self.inputs
        first = with_paths[0].data.get("security")
        if all(d.data.get("security") == first for d in with_paths):
            if first is not None:
                out["security"] = first
                result.origins["#/security"] = with_paths[0]
            return
        for doc in with_paths:
            security = doc.data.get("security")
            if security is None:
                continue
            for item in (doc.data.get("paths") or {}).values():
                for method, operation in (item or {}).items():
                    if method in HTTP_METHODS and isinstance(operation, dict):
                        operation.setdefault("security", security)

    def merge_paths(self, result: Bundle) -> dict[str, Any]:
        paths: dict[str, Any] = {}
        for doc in self.inputs:
            for path, item in (doc.data.get("paths") or {}).items():
                if not isinstance(item, dict):
                    self.problem(doc, pointer("paths", path), "path item is not an object")
                    continue
                if path not in paths:
                    paths[path] = dict(item)
                    result.origins[pointer("paths", path)] = doc
                    continue
                merged = paths[path]
                for key, value in item.items():
                    other = result.origin(pointer("paths", path, key))
                    if key in merged and key in HTTP_METHODS:
                        self.problem(
                            doc, pointer("paths", path, key),
                            f"duplicate operation {key.upper()} {path} (also in {other.name})",
                        )
                    elif key in merged and merged[key] != value:
                        self.problem(
                            doc, pointer("paths", path, key),
                            f"conflicts with the same path item field in {other.name}",
                        )
                    else:
                        merged[key] = value
                        result.origins[pointer("paths", path, key)] = doc
        return paths

    def merge_components(self, result: Bundle) -> dict[str, Any]:
        sections: dict[str, dict[str, Any]] = {}
        for base, section, name in self.needed_components():
            doc = self.docs[base]
            value = doc.data["components"][section][name]
            members = sections.setdefault(section, {})
            ptr = pointer("components", section, name)
            if name in members:
                other = result.origins[ptr]
                if other is not doc and members[name] != value:
                    self.problem(doc, ptr, f"{section}/{name} is also defined, differently, in "
                                 f"{other.name}")
                continue
            members[name] = value
            result.origins[ptr] = doc
        return {s: dict(sorted(m.items())) for s, m in sorted(sections.items())}

    def merge_rules(self, result: Bundle) -> dict[str, Any]:
        rules: dict[str, Any] = {}
        for doc in self.docs.values():
            declared = doc.data.get("x-rules")
            if declared is None:
                continue
            if not isinstance(declared, dict):
                self.problem(doc, "#/x-rules", "x-rules must map rule ids to {tier, summary}")
                continue
            for rule_id, rule in declared.items():
                ptr = pointer("x-rules", rule_id)
                if rule_id in rules and rules[rule_id] != rule:
                    other = result.origins[ptr]
                    self.problem(doc, ptr, f"rule {rule_id!r} is also defined, differently, in "
                                 f"{other.name}")
                    continue
                rules[rule_id] = rule
                result.origins.setdefault(ptr, doc)
        return dict(sorted(rules.items()))


def bundle_documents(
    inputs: list[Document], load: Callable[[Path], Document]
) -> Bundle:
    """Bundle ``inputs`` (in order); ``load`` reads files that only external refs name."""
    bundler = _Bundler(inputs, load)
    for doc in inputs:
        bundler.rewrite(doc)
    result = bundler.merge()
    if bundler.problems:
        raise GenerationFailed(bundler.problems)
    return result
