"""Small pieces of the generator: names, route order, YAML loading, bundling."""

from __future__ import annotations

from pathlib import Path

import pytest

from generator.bundler import bundle_documents
from generator.errors import GenerationFailed
from generator.loader import load_document, parse_document
from generator.naming import class_name, python_identifier, route_sort_key, snake_case


@pytest.mark.parametrize(("name", "expected"), [
    ("patchExpiringUserTargetsForSegment", "patch_expiring_user_targets_for_segment"),
    ("patch-expiring-user-targets-for-segment", "patch_expiring_user_targets_for_segment"),
    ("LD-API-Version", "ld_api_version"),
    ("deploymentID", "deployment_id"),
    ("getAIConfig", "get_ai_config"),
    ("PutReleasePolicy", "put_release_policy"),
    ("_version", "version"),
])
def test_snake_case(name: str, expected: str) -> None:
    assert snake_case(name) == expected


@pytest.mark.parametrize(("name", "expected"), [
    ("from", "from_"), ("class", "class_"), ("type", "type"), ("match", "match_"),
    ("1st", "p_1st"), ("body", "body_"), ("$filter", "filter"), ("---", "param"),
])
def test_python_identifier(name: str, expected: str) -> None:
    assert python_identifier(name, frozenset({"body"})) == expected


def test_class_name() -> None:
    assert class_name("Feature flags") == "FeatureFlags"
    assert class_name("Account usage (beta)") == "AccountUsageBeta"
    assert class_name("subpackage_segments") == "SubpackageSegments"


def test_static_segments_sort_before_parameters() -> None:
    paths = ["/flags/{key}", "/flags/evaluate", "/flags/{key}/{env}", "/flags/{key}/status"]
    ordered = sorted(paths, key=lambda p: route_sort_key(p, "get"))
    assert ordered.index("/flags/evaluate") < ordered.index("/flags/{key}")
    assert ordered.index("/flags/{key}/status") < ordered.index("/flags/{key}/{env}")


def test_yaml_keeps_dates_as_strings_and_keys_as_strings(tmp_path: Path) -> None:
    raw = b"openapi: 3.1.0\ninfo: {version: 2024-01-01}\nresponses:\n  200: ok\n  true: yes\n"
    doc = parse_document(tmp_path / "a.yaml", "a.yaml", raw)
    assert doc.data["info"]["version"] == "2024-01-01"
    assert doc.data["responses"] == {"200": "ok", "true": True}


def test_yaml_merge_keys_are_not_duplicates(tmp_path: Path) -> None:
    raw = b"base: &b {x: 1}\nchild:\n  <<: *b\n  x: 2\n"
    assert parse_document(tmp_path / "a.yaml", "a.yaml", raw).data["child"] == {"x": 2}


def test_external_refs_are_rewritten_and_copied_transitively(tmp_path: Path) -> None:
    (tmp_path / "lib.yaml").write_text(
        "openapi: 3.1.0\ninfo: {title: l, version: '1'}\n"
        "components:\n  schemas:\n"
        "    A: {type: object, properties: {b: {$ref: '#/components/schemas/B'}}}\n"
        "    B: {type: string}\n    Unused: {type: integer}\n"
        "x-rules: {r1: {tier: 1, summary: s}}\n")
    (tmp_path / "api.yaml").write_text(
        "openapi: 3.1.0\ninfo: {title: api, version: '1'}\npaths: {}\n"
        "components:\n  schemas:\n    Top: {$ref: 'lib.yaml#/components/schemas/A'}\n")
    api = load_document(tmp_path / "api.yaml", "api.yaml")
    bundle = bundle_documents([api], lambda p: load_document(p, p.name))
    schemas = bundle.document["components"]["schemas"]
    assert sorted(schemas) == ["A", "B", "Top"]
    assert schemas["Top"] == {"$ref": "#/components/schemas/A"}
    assert bundle.document["x-rules"] == {"r1": {"tier": 1, "summary": "s"}}
    assert bundle.origin("#/components/schemas/B").name == "lib.yaml"


def test_same_operation_in_two_files_is_an_error(tmp_path: Path) -> None:
    text = ("openapi: 3.1.0\ninfo: {title: t, version: '1'}\n"
            "paths:\n  /a:\n    get: {operationId: OP, responses: {'200': {description: ok}}}\n")
    docs = [parse_document(tmp_path / n, n, text.replace("OP", n).encode())
            for n in ("one.yaml", "two.yaml")]
    with pytest.raises(GenerationFailed) as raised:
        bundle_documents(docs, lambda p: load_document(p, p.name))
    (problem,) = raised.value.problems
    assert problem.file == "two.yaml" and "duplicate operation GET /a" in problem.message
    assert "one.yaml" in problem.message
