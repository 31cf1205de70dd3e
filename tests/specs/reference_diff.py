"""Structural differences between our operations and the same operations in the reference spec.

Operations are matched by method and path. For each pair we compare what a client relies on:
the operationId, the parameters (name, location, required, type), the documented status codes,
and the request and response schemas (per media type / status): types, properties, required
fields and enums, recursively. Descriptions and examples are prose and are not compared.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

__all__ = ["operation_differences"]

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
MAX_DEPTH = 8


def _resolve(document: Mapping[str, Any], node: Any) -> Any:
    """Follow local `$ref`s until a schema body is reached."""
    seen = 0
    while isinstance(node, Mapping) and "$ref" in node:
        pointer = node["$ref"].removeprefix("#/").split("/")
        node = document
        for part in pointer:
            node = node[part.replace("~1", "/").replace("~0", "~")]
        seen += 1
        if seen > 50:
            raise ValueError("reference cycle")
    return node


def _type_of(schema: Mapping[str, Any]) -> str:
    kind = schema.get("type")
    if isinstance(kind, list):
        return "|".join(sorted(str(k) for k in kind))
    if kind is None and "properties" in schema:
        return "object"
    return str(kind)


def _schema_differences(
    ours_doc: Mapping[str, Any],
    ours: Any,
    ref_doc: Mapping[str, Any],
    ref: Any,
    where: str,
    depth: int = 0,
) -> Iterator[str]:
    ours, ref = _resolve(ours_doc, ours), _resolve(ref_doc, ref)
    if depth > MAX_DEPTH or not isinstance(ours, Mapping) or not isinstance(ref, Mapping):
        return
    if "oneOf" in ours or "oneOf" in ref:
        if ours.get("oneOf") is None or ref.get("oneOf") is None:
            yield f"{where}: composition differs (oneOf)"
        return
    if _type_of(ours) != _type_of(ref):
        yield f"{where}: type {_type_of(ref)} -> {_type_of(ours)}"
        return
    if sorted(map(str, ours.get("enum", []))) != sorted(map(str, ref.get("enum", []))):
        yield f"{where}: enum differs"
    if ours.get("format") != ref.get("format") and "int" in str(ours.get("format")) + str(
        ref.get("format")
    ):
        yield f"{where}: format {ref.get('format')} -> {ours.get('format')}"
    ours_props, ref_props = ours.get("properties", {}), ref.get("properties", {})
    for name in sorted(set(ref_props) - set(ours_props)):
        yield f"{where}: property {name} missing"
    for name in sorted(set(ours_props) - set(ref_props)):
        yield f"{where}: property {name} added"
    if sorted(ours.get("required", [])) != sorted(ref.get("required", [])):
        yield (
            f"{where}: required {sorted(ref.get('required', []))} -> "
            f"{sorted(ours.get('required', []))}"
        )
    for name in sorted(set(ours_props) & set(ref_props)):
        yield from _schema_differences(
            ours_doc, ours_props[name], ref_doc, ref_props[name], f"{where}.{name}", depth + 1
        )
    if "items" in ours and "items" in ref:
        yield from _schema_differences(
            ours_doc, ours["items"], ref_doc, ref["items"], f"{where}[]", depth + 1
        )


def _parameters(document: Mapping[str, Any], operation: Mapping[str, Any]) -> dict[str, str]:
    found = {}
    for raw in operation.get("parameters", []):
        param = _resolve(document, raw)
        schema = _resolve(document, param.get("schema", {}))
        key = f"{param['in']}:{param['name']}"
        found[key] = f"required={bool(param.get('required'))} type={_type_of(schema)}"
    return found


def _media(document: Mapping[str, Any], holder: Any) -> dict[str, Any]:
    holder = _resolve(document, holder) or {}
    return {media: body.get("schema", {}) for media, body in holder.get("content", {}).items()}


def _pair_differences(
    ours_doc: Mapping[str, Any],
    ours: Mapping[str, Any],
    ref_doc: Mapping[str, Any],
    ref: Mapping[str, Any],
) -> Iterator[str]:
    if ours.get("operationId") != ref.get("operationId"):
        yield f"operationId {ref.get('operationId')} -> {ours.get('operationId')}"
    ours_params, ref_params = _parameters(ours_doc, ours), _parameters(ref_doc, ref)
    for key in sorted(set(ref_params) - set(ours_params)):
        yield f"parameter {key} missing"
    for key in sorted(set(ours_params) - set(ref_params)):
        yield f"parameter {key} added"
    for key in sorted(set(ours_params) & set(ref_params)):
        if ours_params[key] != ref_params[key]:
            yield f"parameter {key}: {ref_params[key]} -> {ours_params[key]}"
    ours_codes, ref_codes = set(ours.get("responses", {})), set(ref.get("responses", {}))
    for code in sorted(ref_codes - ours_codes):
        yield f"status {code} missing"
    for code in sorted(ours_codes - ref_codes):
        yield f"status {code} added"
    ours_body, ref_body = _media(ours_doc, ours.get("requestBody")), _media(
        ref_doc, ref.get("requestBody")
    )
    for media in sorted(set(ref_body) - set(ours_body)):
        yield f"request media type {media} missing"
    for media in sorted(set(ours_body) - set(ref_body)):
        yield f"request media type {media} added"
    shared_ref_media = [m for m in ref_body if m in ours_body] or list(ref_body)[:1]
    for media in shared_ref_media:
        # A renamed media type is still compared against the reference's only body schema.
        ours_schema = ours_body.get(media) or next(iter(ours_body.values()), None)
        if ours_schema is not None:
            yield from _schema_differences(
                ours_doc, ours_schema, ref_doc, ref_body[media], "request"
            )
    for code in sorted(ours_codes & ref_codes):
        ours_resp = _media(ours_doc, ours["responses"][code])
        ref_resp = _media(ref_doc, ref["responses"][code])
        for media in sorted(set(ours_resp) & set(ref_resp)):
            yield from _schema_differences(
                ours_doc, ours_resp[media], ref_doc, ref_resp[media], f"response {code}"
            )


def operation_differences(
    ours: Mapping[str, Any], reference: Mapping[str, Any]
) -> dict[str, list[str]]:
    """Map each of our operationIds to its differences from the reference operation."""
    result: dict[str, list[str]] = {}
    for path, item in ours.get("paths", {}).items():
        for method in HTTP_METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            ref_operation = reference.get("paths", {}).get(path, {}).get(method)
            if ref_operation is None:
                result[operation["operationId"]] = [f"{method.upper()} {path} not in reference"]
                continue
            result[operation["operationId"]] = list(
                _pair_differences(ours, operation, reference, ref_operation)
            )
    return result
