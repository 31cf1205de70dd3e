"""The operation model: plain view objects that every template and the metadata module render.

Templates never touch the raw spec; whatever they print (Python names, annotations, status
codes, instruction kinds) is decided here, once.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from generator.bundler import resolve_pointer
from generator.config import SEMANTIC_PATCH_MEDIA_TYPE
from generator.naming import class_name, python_identifier, route_sort_key, snake_case
from generator.validate import iter_operations

__all__ = [
    "ApiView",
    "BodyView",
    "FamilyView",
    "InstructionView",
    "OperationView",
    "ParamView",
    "ResponseView",
    "RuleView",
    "build_api",
    "is_json_media_type",
    "normalize_media_type",
]

DEFAULT_FAMILY = "default"
# Names the generated signatures use themselves; a spec parameter never takes them.
_RESERVED = frozenset({"self", "body", "content_type", "request", "backend", "headers"})
_SCHEMA_PREFIX = "#/components/schemas/"
_PLAIN_TYPES = {"string": "str", "integer": "int", "number": "float", "boolean": "bool",
                "null": "None"}


def normalize_media_type(media_type: str) -> str:
    """Lower-case, spaces removed: the form two media types are compared in."""
    return media_type.replace(" ", "").lower()


def is_json_media_type(media_type: str) -> bool:
    """``application/json`` with any parameters, or any ``+json`` structured-syntax type."""
    essence = normalize_media_type(media_type).split(";", 1)[0]
    return essence == "application/json" or essence.endswith("+json")


@dataclass(frozen=True)
class RuleView:
    id: str
    tier: int
    summary: str


@dataclass(frozen=True)
class ParamView:
    name: str
    python_name: str
    location: str  # path | query | header | cookie
    required: bool  # as the spec says
    schema_type: str
    annotation: str  # the value's Python type, without "| None"
    is_token: bool  # the Authorization header: filled from the client's token; the backend
    # decides 401, so the server never rejects it as missing

    @property
    def signature_required(self) -> bool:
        return self.required and not self.is_token

    @property
    def signature_annotation(self) -> str:
        return self.annotation if self.signature_required else f"{self.annotation} | None"

    @property
    def route_alias(self) -> str:
        """The name the route reads the value under; Starlette path placeholders must be
        identifiers, so an odd path parameter name is replaced by its Python name."""
        if self.location == "path" and not self.name.isidentifier():
            return self.python_name
        return self.name

    @property
    def is_list(self) -> bool:
        return self.schema_type == "array"

    @property
    def needs_conversion(self) -> bool:
        """Whether the raw text (or list of texts) must be converted to ``annotation``."""
        return self.annotation not in ("str", "list[str]")


@dataclass(frozen=True)
class BodyView:
    media_type: str
    schema_name: str | None  # the component schema it validates against, if named
    annotation: str
    is_json: bool


@dataclass(frozen=True)
class ResponseView:
    status: int
    schema_name: str | None
    annotation: str  # "None" when there is no body
    media_type: str | None
    is_json: bool


@dataclass(frozen=True)
class InstructionView:
    name: str
    action: str  # add | update | remove
    required: tuple[str, ...]
    optional: tuple[str, ...]
    version_of: str | None
    target_list: str | None  # the resource's target list it changes (segments: included, ...)
    context_kind: str | None  # the context kind of every target it names (user-only kinds)


@dataclass(frozen=True)
class OperationView:
    operation_id: str
    python_name: str
    method: str  # upper case
    path: str
    family: str
    summary: str
    deprecated: bool
    parameters: tuple[ParamView, ...]
    bodies: tuple[BodyView, ...]
    body_required: bool
    success: ResponseView
    responses: tuple[ResponseView, ...]
    instructions: tuple[InstructionView, ...]
    state_operation: str | None  # the GET that shows what the instructions change
    rules: tuple[str, ...]

    @property
    def signature_parameters(self) -> tuple[ParamView, ...]:
        """Required first (Python needs defaults last), otherwise in spec order."""
        return tuple(sorted(self.parameters, key=lambda p: not p.signature_required))

    @property
    def client_parameters(self) -> tuple[ParamView, ...]:
        return tuple(p for p in self.signature_parameters if not p.is_token)

    @property
    def token_parameter(self) -> ParamView | None:
        return next((p for p in self.parameters if p.is_token), None)

    @property
    def path_pattern(self) -> str:
        """A regular expression matching a request path of this operation, one group per path
        parameter (for the generated ``match_operation``)."""
        parts = re.split(r"\{[^}]+\}", self.path)
        return "^" + "([^/]+)".join(re.escape(part) for part in parts) + "$"

    @property
    def path_parameter_names(self) -> tuple[str, ...]:
        return tuple(re.findall(r"\{([^}]+)\}", self.path))

    @property
    def route_path(self) -> str:
        path = self.path
        for param in self.parameters:
            if param.location == "path":
                path = path.replace("{" + param.name + "}", "{" + param.route_alias + "}")
        return path

    @property
    def body_annotation(self) -> str:
        return " | ".join(dict.fromkeys(b.annotation for b in self.bodies))

    @property
    def client_body_annotation(self) -> str:
        """The client also takes plain JSON values for JSON bodies."""
        plain = ["dict[str, Any]", "list[Any]"] if any(b.is_json for b in self.bodies) else []
        return " | ".join(dict.fromkeys([*(b.annotation for b in self.bodies), *plain]))

    @property
    def default_content_type(self) -> str | None:
        wanted = normalize_media_type(SEMANTIC_PATCH_MEDIA_TYPE)
        for body in self.bodies:
            if normalize_media_type(body.media_type) == wanted:
                return body.media_type
        return self.bodies[0].media_type if self.bodies else None

    @property
    def status_codes(self) -> tuple[int, ...]:
        return tuple(sorted(r.status for r in self.responses))


@dataclass(frozen=True)
class FamilyView:
    tag: str
    protocol: str  # e.g. SegmentsBackend
    builder: str  # e.g. build_segments_router
    operations: tuple[OperationView, ...]


@dataclass(frozen=True)
class ApiView:
    title: str
    version: str
    openapi_version: str
    operations: tuple[OperationView, ...]  # document order
    routes: tuple[OperationView, ...]  # registration order: static segments before parameters
    families: tuple[FamilyView, ...]
    rules: tuple[RuleView, ...]
    model_names: Mapping[str, str]  # component schema name -> models.py class
    semantic_patch_media_type: str = SEMANTIC_PATCH_MEDIA_TYPE

    @property
    def converters(self) -> dict[str, str]:
        """Parameter annotation -> name of the routes' module-level converter, for every
        parameter whose raw text needs one; names are stable (sorted annotations)."""
        annotations = sorted({p.annotation for op in self.operations for p in op.parameters
                              if p.needs_conversion})
        names: dict[str, str] = {}
        for number, annotation in enumerate(annotations):
            plain = re.sub(r"\W+", "_", annotation).strip("_").upper()
            names[annotation] = f"_AS_{plain}" if "LITERAL" not in plain else f"_AS_ENUM_{number}"
        return names


class _Builder:
    def __init__(self, document: dict[str, Any], model_names: Mapping[str, str]) -> None:
        self.doc = document
        self.model_names = model_names

    def deref(self, node: Any) -> Any:
        """Follow local $refs until a non-ref node (bounded, in case of a cycle)."""
        for _ in range(32):
            if not (isinstance(node, dict) and isinstance(node.get("$ref"), str)):
                return node
            _, node = resolve_pointer(self.doc, node["$ref"].lstrip("#"))
        return node

    def component_name(self, schema: Any) -> str | None:
        if isinstance(schema, dict) and str(schema.get("$ref", "")).startswith(_SCHEMA_PREFIX):
            token = str(schema["$ref"])[len(_SCHEMA_PREFIX):]
            if "/" not in token:
                return token.replace("~1", "/").replace("~0", "~")
        return None

    def value_annotation(self, schema: Any) -> tuple[str | None, str]:
        """(component name, Python annotation) of a JSON body with ``schema``."""
        name = self.component_name(schema)
        if name is not None and name in self.model_names:
            return name, f"models.{self.model_names[name]}"
        return name, self.plain_annotation(schema, 0)

    def plain_annotation(self, schema: Any, depth: int) -> str:
        """The JSON value's type for a schema without a model: plain values, not models."""
        if not isinstance(schema, dict) or "$ref" in schema or depth > 4:
            return "Any"
        kind = schema.get("type")
        if isinstance(kind, list):
            parts = [_PLAIN_TYPES.get(k) for k in kind if k not in ("array", "object")]
            if len(parts) == len(kind) and parts:
                return " | ".join(dict.fromkeys(p for p in parts if p))
            return "Any"
        if kind == "array":
            return f"list[{self.plain_annotation(schema.get('items'), depth + 1)}]"
        if kind == "object":
            return "dict[str, Any]"
        return _PLAIN_TYPES.get(str(kind), "Any")

    def parameter_annotation(self, schema: Any) -> tuple[str, str]:
        """(JSON schema type, Python annotation) of a parameter the routes can convert."""
        schema = self.deref(schema) if isinstance(schema, dict) else {}
        kind = schema.get("type", "string")
        if isinstance(kind, list):
            kind = next((k for k in kind if k != "null"), "string")
        if kind == "array":
            _, item = self.parameter_annotation(schema.get("items") or {})
            return "array", f"list[{item}]"
        enum = schema.get("enum")
        if kind == "string" and isinstance(enum, list) and enum:
            values = ", ".join(json.dumps(str(v)) for v in enum if v is not None)
            return kind, f"Literal[{values}]"
        return str(kind), {"integer": "int", "number": "float", "boolean": "bool"}.get(kind, "str")

    def parameters(self, path: str, op: dict[str, Any], token_headers: set[str]) -> list[ParamView]:
        declared: dict[tuple[str, str], dict[str, Any]] = {}
        for raw in [*(self.doc["paths"][path].get("parameters") or ()),
                    *(op.get("parameters") or ())]:
            param = self.deref(raw)
            if isinstance(param, dict) and "name" in param and "in" in param:
                declared[(str(param["in"]), str(param["name"]))] = param
        names = {name.lower() for location, name in declared if location == "header"}
        for header in sorted(token_headers):
            if header.lower() not in names:  # declared by the security scheme only
                declared[("header", header)] = {"name": header, "in": "header", "required": False}
        views: list[ParamView] = []
        used: set[str] = set()
        for (location, name), param in declared.items():
            python_name = python_identifier(name, _RESERVED | used)
            if python_name in used:
                python_name = python_identifier(f"{name}_{location}", _RESERVED | used)
            used.add(python_name)
            schema_type, annotation = self.parameter_annotation(param.get("schema"))
            views.append(ParamView(
                name=name, python_name=python_name, location=location,
                required=bool(param.get("required", location == "path")),
                schema_type=schema_type, annotation=annotation,
                is_token=location == "header" and name.lower() == "authorization",
            ))
        return views

    def token_headers(self, op: dict[str, Any]) -> set[str]:
        """Headers named by the operation's apiKey security schemes (e.g. Authorization)."""
        schemes = (self.doc.get("components") or {}).get("securitySchemes") or {}
        requirements = op.get("security", self.doc.get("security")) or []
        names = set()
        for requirement in requirements:
            for scheme_name in requirement or {}:
                scheme = self.deref(schemes.get(scheme_name))
                if isinstance(scheme, dict) and scheme.get("type") == "apiKey" \
                        and scheme.get("in") == "header":
                    names.add(str(scheme.get("name")))
        return {n for n in names if n.lower() == "authorization"}

    def bodies(self, op: dict[str, Any]) -> tuple[tuple[BodyView, ...], bool]:
        request = self.deref(op.get("requestBody"))
        if not isinstance(request, dict):
            return (), False
        views = []
        for media_type, media in (request.get("content") or {}).items():
            schema = (media or {}).get("schema")
            if is_json_media_type(media_type):
                name, annotation = self.value_annotation(schema)
                views.append(BodyView(media_type, name, annotation, True))
            else:
                views.append(BodyView(media_type, None, "bytes", False))
        return tuple(views), bool(request.get("required", False))

    def responses(self, op: dict[str, Any]) -> tuple[ResponseView, ...]:
        views = []
        for status, raw in (op.get("responses") or {}).items():
            if not str(status).isdigit():
                continue
            response = self.deref(raw) or {}
            content = response.get("content") or {}
            media_type = next(iter(content), None)
            if media_type is None:
                views.append(ResponseView(int(status), None, "None", None, False))
            elif is_json_media_type(media_type):
                name, annotation = self.value_annotation((content[media_type] or {}).get("schema"))
                views.append(ResponseView(int(status), name, annotation, media_type, True))
            else:
                views.append(ResponseView(int(status), None, "bytes", media_type, False))
        return tuple(sorted(views, key=lambda r: r.status))

    def operation(self, path: str, method: str, op: dict[str, Any]) -> OperationView:
        bodies, body_required = self.bodies(op)
        responses = self.responses(op)
        success = next((r for r in responses if 200 <= r.status < 300),
                       ResponseView(200, None, "None", None, False))
        kinds = ((op.get("x-semantic-patch") or {}).get("instructions") or {})
        tags = op.get("tags") or [DEFAULT_FAMILY]
        return OperationView(
            operation_id=op["operationId"],
            python_name=snake_case(op["operationId"]),
            method=method.upper(),
            path=path,
            family=str(tags[0]),
            summary=" ".join(str(op.get("summary") or "").split()),
            deprecated=bool(op.get("deprecated", False)),
            parameters=tuple(self.parameters(path, op, self.token_headers(op))),
            bodies=bodies,
            body_required=body_required,
            success=success,
            responses=responses,
            instructions=tuple(
                InstructionView(kind, str(spec["action"]), tuple(spec.get("required") or ()),
                                tuple(spec.get("optional") or ()), spec.get("version"),
                                spec.get("list"), spec.get("contextKind"))
                for kind, spec in kinds.items()
            ),
            state_operation=(op.get("x-semantic-patch") or {}).get("state"),
            rules=tuple(op.get("x-rules") or ()),
        )


def build_api(document: dict[str, Any], model_names: Mapping[str, str]) -> ApiView:
    """Build the view of a validated bundle; ``model_names`` maps schema names to classes."""
    builder = _Builder(document, model_names)
    operations = tuple(builder.operation(p, m, op) for p, m, op in iter_operations(document))
    families: dict[str, list[OperationView]] = {}
    for op in operations:
        families.setdefault(op.family, []).append(op)
    info = document.get("info") or {}
    return ApiView(
        title=str(info.get("title", "")),
        version=str(info.get("version", "")),
        openapi_version=str(document.get("openapi", "")),
        operations=operations,
        routes=tuple(sorted(operations, key=lambda o: route_sort_key(o.path, o.method))),
        families=tuple(
            FamilyView(tag, class_name(tag) + "Backend", f"build_{snake_case(tag) or 'x'}_router",
                       tuple(ops))
            for tag, ops in families.items()
        ),
        rules=tuple(
            RuleView(rule_id, int(rule["tier"]), str(rule["summary"]))
            for rule_id, rule in (document.get("x-rules") or {}).items()
        ),
        model_names=dict(sorted(model_names.items())),
    )
