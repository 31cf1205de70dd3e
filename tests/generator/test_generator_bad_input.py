"""Bad input: one message naming the file and the location, exit 1, output untouched."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from gen_helpers import run_generator, tree_digest


def _replace(name: str, old: str, new: str) -> Callable[[Path], None]:
    def mutate(spec: Path) -> None:
        text = (spec / name).read_text()
        assert old in text
        (spec / name).write_text(text.replace(old, new, 1))

    return mutate


CASES = {
    # case: (mutation, file named, location expected in the message, message fragment)
    "not-yaml": (
        lambda spec: (spec / "users.yaml").write_text("openapi: 3.1.0\ninfo: {title: [x\n"),
        "users.yaml", r":\d+:\d+", "invalid YAML",
    ),
    "invalid-openapi": (
        _replace("segments.yaml", "description: Created", "descriptio: Created"),
        "segments.yaml", r"#/paths/.*/post/responses/201", "required property",
    ),
    "dangling-local-ref": (
        _replace("segments.yaml", "schema: {$ref: '#/components/schemas/SegmentBody'}",
                 "schema: {$ref: '#/components/schemas/NoSuchBody'}"),
        "segments.yaml", r"#/paths/.*/requestBody/content/application~1json/schema/\$ref",
        "dangling $ref",
    ),
    "dangling-external-ref": (
        _replace("segments.yaml", "common.yaml#/components/parameters/ProjectKey",
                 "common.yaml#/components/parameters/NoSuchKey"),
        "segments.yaml", r"#/paths/.*/parameters/0/\$ref", "dangling $ref",
    ),
    "missing-external-file": (
        _replace("users.yaml", "common.yaml#/components/responses/NotFound",
                 "nowhere.yaml#/components/responses/NotFound"),
        "users.yaml", r"#/paths/.*/responses/404/\$ref", "does not exist",
    ),
    "duplicate-operation-id": (
        _replace("segments.yaml", "operationId: postSegment", "operationId: getSegment"),
        "segments.yaml", r"#/paths/.*/post/operationId", "duplicate operationId 'getSegment'",
    ),
    "unknown-rule-id": (
        _replace("segments.yaml", "x-rules: [sp-content-type, sp-counts]",
                 "x-rules: [sp-content-type, no-such-rule]"),
        "segments.yaml", r"#/paths/.*/patch/x-rules/1", "unknown rule id 'no-such-rule'",
    ),
    "instruction-without-action": (
        _replace("segments.yaml", "            action: add\n", ""),
        "segments.yaml", r"#/paths/.*/patch/x-semantic-patch/instructions/addIncludedUsers/action",
        "`action` must be one of add, update, remove",
    ),
    "instruction-list-not-a-string": (
        _replace("segments.yaml", "            action: add\n",
                 "            action: add\n            list: [included]\n"),
        "segments.yaml", r"#/paths/.*/patch/x-semantic-patch/instructions/addIncludedUsers/list",
        "`list` must be a string",
    ),
    "undeclared-path-parameter": (
        _replace("segments.yaml",
                 "        - $ref: 'common.yaml#/components/parameters/ProjectKey'\n", ""),
        "segments.yaml", r"segments\.yaml:\d+:\d+ #/paths/.*evaluate/get/parameters:",
        "path parameter 'projectKey' is not declared",
    ),
    "path-parameter-not-in-path": (
        _replace("segments.yaml", "/api/v2/segments/{projectKey}/evaluate:",
                 "/api/v2/segments/proj/evaluate:"),
        "segments.yaml", r"segments\.yaml:\d+:\d+ #/paths/.*evaluate/get/parameters/0:",
        "has no {projectKey}",
    ),
    "unknown-state-operation": (
        _replace("segments.yaml", "        state: getSegment", "        state: getSegmnt"),
        "segments.yaml", r"#/paths/.*/patch/x-semantic-patch/state",
        "`state` must name the GET operationId",
    ),
    "kind-enum-disagrees-with-extension": (
        _replace("segments.yaml", "enum: [addIncludedUsers, updateExpireUserTargetDate, "
                 "removeExpireUserTargetDate]", "enum: [addIncludedUsers, "
                 "updateExpireUserTargetDate, removeExpireUserTargetDate, addExcludedUsers]"),
        "segments.yaml", r"#/paths/.*/patch/x-semantic-patch/instructions",
        "not the request schema's `kind` enum",
    ),
    "duplicate-yaml-key": (
        _replace("segments.yaml", "      operationId: getSegment\n",
                 "      operationId: getSegment\n      operationId: getSegment2\n"),
        "segments.yaml", r":\d+:\d+", "duplicate key 'operationId'",
    ),
    "conflicting-component": (
        lambda spec: (spec / "users.yaml").write_text(
            (spec / "users.yaml").read_text()
            + "components:\n  schemas:\n    Error: {type: string}\n"),
        "users.yaml", r"#/components/schemas/Error", "defined, differently",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_leaves_output_alone(case: str, tmp_path: Path, spec_copy: Path) -> None:
    mutate, file_name, location, fragment = CASES[case]
    out = tmp_path / "pkg"
    assert run_generator("--spec", spec_copy, "--out", out).returncode == 0
    before = tree_digest(out)
    mutate(spec_copy)

    result = run_generator("--spec", spec_copy, "--out", out)

    assert result.returncode == 1
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and file_name in lines[0]
    assert re.search(location, lines[0]), lines[0]
    assert fragment in lines[0]
    assert tree_digest(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pkg", "spec"]  # no temp dirs left


def test_pointer_problems_also_get_a_line_number(tmp_path: Path, spec_copy: Path) -> None:
    CASES["duplicate-operation-id"][0](spec_copy)
    result = run_generator("--spec", spec_copy, "--out", tmp_path / "pkg")
    line_number = int(re.search(r"segments\.yaml:(\d+):\d+ #", result.stderr).group(1))
    source_line = (spec_copy / "segments.yaml").read_text().splitlines()[line_number - 1]
    assert "operationId: getSegment" in source_line


def test_several_problems_are_reported_together(tmp_path: Path, spec_copy: Path) -> None:
    CASES["duplicate-operation-id"][0](spec_copy)
    CASES["unknown-rule-id"][0](spec_copy)
    result = run_generator("--spec", spec_copy, "--out", tmp_path / "pkg")
    assert result.returncode == 1
    assert sum(line.startswith("error: ") for line in result.stderr.splitlines()) == 2
    assert "2 problems" in result.stderr
    assert not (tmp_path / "pkg").exists()


def test_no_specs_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = run_generator("--spec", tmp_path / "empty", "--out", tmp_path / "pkg")
    assert result.returncode == 1 and "no spec files" in result.stderr
