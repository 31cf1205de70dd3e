"""Small pieces of the generator: names, route order, YAML loading, bundling."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from gen_helpers import FIXTURE_SPEC

from generator.bundler import bundle_documents
from generator.errors import GenerationFailed
from generator.loader import _Loader, load_document, parse_document
from generator.models_gen import ModelsJob
from generator.naming import class_name, python_identifier, route_sort_key, snake_case
from generator.render import dump_openapi


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


def _generic_load(raw: bytes) -> Any:
    """What PyYAML's own (generic) constructor makes of ``raw`` with our loader."""
    loader = _Loader(raw)
    try:
        return yaml.constructor.BaseConstructor.construct_document(loader, loader.get_single_node())
    finally:
        loader.dispose()


def _fast_load(raw: bytes) -> Any:
    return yaml.load(raw, Loader=_Loader)  # _Loader is a SafeLoader


@pytest.mark.parametrize("raw", [
    b"a: &x {k: [1, 2.5, true, null, ~, 0x1f, 1_000, .inf, 'q', \"d\"]}\nb: *x\nc: !!str 12\n",
    b"200: ok\ntrue: yes\nnull: n\n1.5: f\nd: 2024-01-01\n",
    b"s: !!set {a, b}\no: !!omap [a: 1, b: 2]\nbin: !!binary aGVsbG8=\n",
    b"- a\n- {b: [c, {d: e}]}\n",
    b"base: &b {x: 1}\nchild:\n  <<: *b\n  y: 2\n",
])
def test_fast_yaml_constructor_matches_pyyaml(raw: bytes) -> None:
    fast, generic = _fast_load(raw), _generic_load(raw)
    assert fast == generic
    assert repr(fast) == repr(generic)  # same key order and scalar types


def test_fast_yaml_constructor_on_every_fixture_spec() -> None:
    paths = sorted(FIXTURE_SPEC.glob("*.yaml"))
    assert paths, FIXTURE_SPEC  # an empty glob would prove nothing
    for path in paths:
        raw = path.read_bytes()
        assert repr(_fast_load(raw)) == repr(_generic_load(raw)), path.name


def test_yaml_aliases_share_one_object_even_recursive_ones() -> None:
    data = _fast_load(b"a: &x {k: 1}\nb: *x\nl: [*x, *x]\n")
    assert data["a"] is data["b"] is data["l"][0] is data["l"][1]
    loop = _fast_load(b"a: &r [1, *r]\n")["a"]
    assert loop[1] is loop


@pytest.mark.parametrize(("raw", "message"), [
    (b"a: 1\nb: 2\na: 3\n", "found duplicate key 'a'"),
    (b"{a: 1}: x\n", "found a key that is not a scalar"),
    (b"x: !custom y\n", "could not determine a constructor"),
])
def test_yaml_errors_name_the_position(tmp_path: Path, raw: bytes, message: str) -> None:
    with pytest.raises(GenerationFailed) as raised:
        parse_document(tmp_path / "a.yaml", "a.yaml", raw)
    (problem,) = raised.value.problems
    assert problem.location and message in problem.message


def test_models_job_reports_a_failure_of_the_library() -> None:
    job = ModelsJob()
    job.submit({"openapi": "3.0.3", "info": {"title": "t", "version": "1"}, "paths": {},
                "components": {"schemas": [1, 2]}}, "bad.yaml")
    with pytest.raises(GenerationFailed) as raised:
        job.result()
    (problem,) = raised.value.problems
    assert problem.file == "bad.yaml" and "datamodel-code-generator failed" in problem.message


def test_models_job_returns_models_and_can_be_cancelled() -> None:
    job = ModelsJob()
    job.submit({"openapi": "3.0.3", "info": {"title": "t", "version": "1"}, "paths": {},
                "components": {"schemas": {"Thing": {"type": "object", "properties": {
                    "id": {"type": "string"}}}}}}, "ok.yaml")
    result = job.result()
    assert "class Thing(BaseModel)" in result.source and result.class_names == {"Thing": "Thing"}
    assert [name for name, _, _ in result.timings][-1].startswith("models: datamodel")
    idle = ModelsJob()
    idle.cancel()  # before submit: the worker is killed and reaped
    idle.cancel()


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


@pytest.mark.parametrize("document", [
    {"a": [1, -2, 2.5, 1e300, float("inf"), True, False, None, "é\n\"\\u2028", [], {}, [[]]],
     "b": {"c": {"d": [{"e": "f"}]}}, "": "empty key", "g": 10**30},
    {"x": (1, 2)},  # not plain JSON: json.dumps decides
    {1: "non-string key"},
])
def test_dump_openapi_is_json_dumps_indent_1(document: dict[Any, Any]) -> None:
    expected = (json.dumps(document, indent=1, ensure_ascii=False) + "\n").encode()
    assert dump_openapi(document) == expected


def test_dump_openapi_keeps_json_errors() -> None:
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(ValueError, match="Circular reference"):
        dump_openapi({"loop": loop})
