"""A schema error anywhere in the specs is reported at its own file, line and column, and every
Schema Object of the document is checked (a header's too), on copies of the real specs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from gen_helpers import ROOT, run_generator, tree_digest

from generator.schemas import draft4_fast_path, iter_schemas, schema_errors


@pytest.fixture
def specs_copy(tmp_path: Path) -> Path:
    """A writable copy of the project's specs/."""
    target = tmp_path / "specs"
    target.mkdir()
    for source in (ROOT / "specs").glob("*.yaml"):
        (target / source.name).write_bytes(source.read_bytes())
    return target


def _break_line(spec: Path, after: str, old: str, new: str) -> int:
    """Replace the first ``old`` after the line holding ``after``; its 1-based line number."""
    lines = spec.read_text().splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if after in line)
    number = next(i for i in range(start, len(lines)) if old in lines[i])
    lines[number] = lines[number].replace(old, new, 1)
    spec.write_text("".join(lines))
    return number + 1


@pytest.mark.parametrize(("after", "old", "new", "pointer"), [
    # a property deep inside a component schema
    ("    ExpiringTarget:", "type: integer", "type: objekt",
     "#/components/schemas/ExpiringTarget/properties/_version/type"),
    # a response header's schema, which openapi-spec-validator never looks at
    ("    Retry-After:", "type: integer", "type: intger",
     "#/components/headers/Retry-After/schema/type"),
])
def test_a_schema_error_names_its_line(specs_copy: Path, tmp_path: Path, after: str, old: str,
                                       new: str, pointer: str) -> None:
    out = tmp_path / "pkg"
    assert run_generator("--spec", specs_copy, "--out", out).returncode == 0
    before = tree_digest(out)
    line = _break_line(specs_copy / "common.yaml", after, old, new)
    column = (specs_copy / "common.yaml").read_text().splitlines()[line - 1].index(new) + 1
    column += len("type: ")  # the value is the node in error

    result = run_generator("--spec", specs_copy, "--out", out)

    assert result.returncode == 1
    errors = result.stderr.splitlines()
    assert len(errors) == 1, result.stderr
    found = re.match(r"error: (\S+):(\d+):(\d+) (\S+): invalid OpenAPI: ", errors[0])
    assert found is not None, errors[0]
    assert found.group(1).endswith("common.yaml")
    assert (int(found.group(2)), int(found.group(3))) == (line, column)
    assert found.group(4) == pointer
    assert repr(new.split()[-1]) in errors[0]
    assert tree_digest(out) == before  # openapi.json keeps the old, valid schema


def _insert_after(spec: Path, after: str, text: str) -> int:
    """Insert ``text`` after the first line holding ``after``; the 1-based line it starts at."""
    lines = spec.read_text().splitlines(keepends=True)
    index = next(i for i, line in enumerate(lines) if after in line) + 1
    lines[index:index] = [text]
    spec.write_text("".join(lines))
    return index + 1


@pytest.mark.parametrize(("name", "after", "text", "offset", "pointer", "fragment"), [
    # openapi-spec-validator's own checks yield errors without any path
    ("segments.yaml", "operationId: getExpiringUserTargetsForSegment",
     None, 0, "/get/parameters", "Duplicate parameter 'environmentKey'"),
    ("common.yaml", "  schemas:",
     ("    Broken:\n      allOf: [{type: object, properties: {a: {type: string}}}]\n"
      "      required: [a, nosuch]\n"), 1, "#/components/schemas/Broken",
     "Required list has not defined properties: ['nosuch']"),
])
def test_a_validator_check_names_its_node(specs_copy: Path, tmp_path: Path, name: str,
                                          after: str, text: str | None, offset: int,
                                          pointer: str, fragment: str) -> None:
    spec = specs_copy / name
    if text is None:  # the environmentKey parameter declared twice
        lines = spec.read_text().splitlines(keepends=True)
        start = next(i for i, line in enumerate(lines) if after in line)
        at = next(i for i in range(start, len(lines)) if "parameters/environmentKey" in lines[i])
        spec.write_text("".join([*lines[:at + 1], lines[at], *lines[at + 1:]]))
        line = next(i for i in range(start, len(lines)) if "parameters:" in lines[i]) + 2
    else:
        line = _insert_after(spec, after, text) + offset

    result = run_generator("--spec", specs_copy, "--out", tmp_path / "pkg")

    assert result.returncode == 1
    errors = result.stderr.splitlines()
    assert len(errors) == 1, result.stderr
    found = re.match(r"error: (\S+):(\d+):\d+ (\S+): invalid OpenAPI: ", errors[0])
    assert found is not None, errors[0]
    assert found.group(1).endswith(name) and int(found.group(2)) == line, errors[0]
    assert found.group(3).endswith(pointer) and fragment in errors[0]
    assert not (tmp_path / "pkg").exists()


def _document(schema: dict[str, object]) -> dict[str, object]:
    """A document with ``schema`` in each place a Schema Object can sit, each one a distinct
    copy tagged by where it is."""
    def at(where: str) -> dict[str, object]:
        return {**schema, "title": where}

    def header(where: str) -> dict[str, object]:
        return {"schema": at(where)}

    media = {"application/json": {"schema": at("media"),
                                  "encoding": {"a": {"headers": {"H": header("encoding")}}}}}
    operation = {
        "parameters": [{"name": "p", "in": "query", "schema": at("op-param")},
                       {"name": "q", "in": "query", "content": {"text/plain": {
                           "schema": at("param-content")}}}],
        "requestBody": {"content": media},
        "responses": {"200": {"description": "", "headers": {"H": header("resp-header")}},
                      "400": {"$ref": "#/components/responses/R"}},
        "callbacks": {"c": {"{$url}": {"post": {"requestBody": {"content": {
            "application/json": {"schema": at("callback")}}}}}}},
    }
    return {
        "openapi": "3.1.0",
        "paths": {"/a": {"parameters": [{"name": "x", "in": "header", "schema": at("path-param")}],
                         "get": operation}},
        "webhooks": {"w": {"post": {"requestBody": {"content": {
            "application/json": {"schema": at("webhook")}}}}}},
        "components": {
            "schemas": {"S": at("component")},
            "parameters": {"P": header("component-param")},
            "headers": {"H": header("component-header")},
            "responses": {"R": {"description": "", "content": {"application/json": {
                "schema": at("component-response")}}}},
            "requestBodies": {"B": {"content": {"application/json": {
                "schema": at("component-body")}}}},
            "pathItems": {"I": {"get": {"parameters": [header("path-item")]}}},
        },
    }


PLACES = {"media", "encoding", "op-param", "param-content", "resp-header", "callback",
          "path-param", "webhook", "component", "component-param", "component-header",
          "component-response", "component-body", "path-item"}


def test_every_schema_object_is_found() -> None:
    found = [schema["title"] for _, schema in iter_schemas(_document({"type": "string"}))]
    assert sorted(found) == sorted(PLACES)


def test_every_schema_object_is_checked() -> None:
    errors = list(schema_errors(_document({"type": "strng"})))
    assert len(errors) == len(PLACES)
    assert all(ptr.endswith("/type") and "'strng'" in message for ptr, message in errors)
    assert list(schema_errors(_document({"type": "string"}))) == []


def test_a_pattern_that_python_cannot_compile_is_reported() -> None:
    """jsonschema-rs checks ``regex`` as ECMA-262, which accepts ``(?<name>...)``; jsonschema,
    whose verdict counts, compiles it with ``re``, which does not: the fast path must not pass
    such a schema (generator/schemas.py, ``draft4_fast_path``)."""
    import jsonschema_rs
    from openapi_schema_validator import OAS30Validator

    schema = {"type": "string", "pattern": "^(?<year>[0-9]{4})$"}
    assert jsonschema_rs.validator_for(OAS30Validator.META_SCHEMA,
                                       validate_formats=True).is_valid(schema)
    assert not draft4_fast_path()(schema)
    assert draft4_fast_path()({"type": "string", "pattern": "^([0-9]{4})$"})
    errors = list(schema_errors({**_document(schema), "openapi": "3.0.3"}))
    assert len(errors) == len(PLACES)
    assert all(ptr.endswith("/pattern") and "regex" in message for ptr, message in errors)
