"""The generator as a command: deterministic output, no-op re-runs, --check."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from gen_helpers import FIXTURE_SPEC, ROOT, run_generator, tree_digest

HEAVY_MODULES = ("datamodel_code_generator", "jsonschema", "openapi_spec_validator", "jinja2",
                 "yaml")


def _stats(root: Path) -> dict[str, tuple[int, int]]:
    return {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in root.iterdir()}


def test_two_runs_are_byte_identical(tmp_path: Path) -> None:
    first, second = tmp_path / "a" / "pkg", tmp_path / "b" / "pkg"
    assert run_generator("--spec", FIXTURE_SPEC, "--out", first).returncode == 0
    assert run_generator("--spec", FIXTURE_SPEC, "--out", second).returncode == 0
    assert tree_digest(first) == tree_digest(second)
    assert {"models.py", "operations.py", "backends.py", "routers.py", "app.py", "client.py",
            "_runtime.py", "_http.py", "openapi.json", "MANIFEST.json", "__init__.py"} <= set(
        tree_digest(first))


def test_manifest_hashes_every_output(tmp_path: Path) -> None:
    out = tmp_path / "pkg"
    assert run_generator("--spec", FIXTURE_SPEC, "--out", out).returncode == 0
    manifest = json.loads((out / "MANIFEST.json").read_text())
    digests = tree_digest(out)
    del digests["MANIFEST.json"]
    assert manifest["outputs"] == digests
    assert len(manifest["input_hash"]) == 64
    assert manifest["summary"]["operations"] == 7


def test_openapi_json_is_the_bundle_with_local_refs_only(tmp_path: Path) -> None:
    out = tmp_path / "pkg"
    assert run_generator("--spec", FIXTURE_SPEC, "--out", out).returncode == 0
    text = (out / "openapi.json").read_text()
    assert text.endswith("}\n") and "common.yaml" not in text
    document = json.loads(text)
    assert {"Error", "UnixMillis", "Segment"} <= set(document["components"]["schemas"])
    assert list(document["x-rules"]) == sorted(document["x-rules"])


def test_noop_rerun_skips_without_heavy_imports_or_writes(tmp_path: Path) -> None:
    out = tmp_path / "pkg"
    assert run_generator("--spec", FIXTURE_SPEC, "--out", out).returncode == 0
    before = _stats(out)
    code = (
        "import sys, time; from generator.cli import main; t = time.perf_counter(); "
        f"rc = main(['--spec', {str(FIXTURE_SPEC)!r}, '--out', {str(out)!r}]); "
        "elapsed = time.perf_counter() - t; "
        f"print(rc, elapsed, [m for m in {HEAVY_MODULES!r} if m in sys.modules])"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, check=True)
    rc, elapsed, heavy = result.stdout.splitlines()[-1].split(" ", 2)
    assert "up to date" in result.stdout
    assert (rc, heavy) == ("0", "[]")
    assert float(elapsed) < 0.3
    assert _stats(out) == before


def test_check_passes_when_fresh_and_fails_when_edited(tmp_path: Path) -> None:
    out = tmp_path / "pkg"
    assert run_generator("--spec", FIXTURE_SPEC, "--out", out).returncode == 0
    assert run_generator("--spec", FIXTURE_SPEC, "--out", out, "--check").returncode == 0

    with (out / "routers.py").open("a") as handle:
        handle.write("# hand edit\n")
    result = run_generator("--spec", FIXTURE_SPEC, "--out", out, "--check")
    assert result.returncode == 1
    assert "routers.py was edited by hand" in result.stderr

    # an ordinary run repairs it
    assert run_generator("--spec", FIXTURE_SPEC, "--out", out).returncode == 0
    assert run_generator("--spec", FIXTURE_SPEC, "--out", out, "--check").returncode == 0

    (out / "extra.py").write_text("")
    result = run_generator("--spec", FIXTURE_SPEC, "--out", out, "--check")
    assert result.returncode == 1 and "extra.py is not a generated file" in result.stderr


def test_check_detects_changed_spec(tmp_path: Path, spec_copy: Path) -> None:
    out = tmp_path / "pkg"
    assert run_generator("--spec", spec_copy, "--out", out).returncode == 0
    before = tree_digest(out)
    with (spec_copy / "users.yaml").open("a") as handle:
        handle.write("# a comment changes the bytes, so the hash\n")
    result = run_generator("--spec", spec_copy, "--out", out, "--check")
    assert result.returncode == 1
    assert "inputs changed" in result.stderr and "users.yaml" in result.stderr
    assert tree_digest(out) == before  # --check never writes


def test_check_without_output_fails(tmp_path: Path) -> None:
    result = run_generator("--spec", FIXTURE_SPEC, "--out", tmp_path / "missing", "--check")
    assert result.returncode == 1 and "stale" in result.stderr
    assert not (tmp_path / "missing").exists()


def test_force_rewrites_only_when_content_differs(tmp_path: Path) -> None:
    out = tmp_path / "pkg"
    assert run_generator("--spec", FIXTURE_SPEC, "--out", out).returncode == 0
    before = _stats(out)
    result = run_generator("--spec", FIXTURE_SPEC, "--out", out, "--force")
    assert result.returncode == 0 and "unchanged" in result.stdout
    after = _stats(out)
    assert {k: v for k, v in after.items() if k != "MANIFEST.json"} == {
        k: v for k, v in before.items() if k != "MANIFEST.json"}


def test_external_refs_pull_in_only_what_they_need(tmp_path: Path) -> None:
    """segments.yaml alone: common.yaml is read for its referenced components and rules."""
    out = tmp_path / "pkg"
    result = run_generator("--spec", FIXTURE_SPEC / "segments.yaml", "--out", out)
    assert result.returncode == 0, result.stderr
    document = json.loads((out / "openapi.json").read_text())
    schemas = set(document["components"]["schemas"])
    assert {"Error", "UnixMillis", "PatchOperation", "Link", "Links"} <= schemas
    assert "sp-counts" in document["x-rules"]
    manifest = json.loads((out / "MANIFEST.json").read_text())
    assert any(name.endswith("common.yaml") for name in manifest["inputs"])
    # the referenced file is part of the fingerprint
    assert run_generator("--spec", FIXTURE_SPEC / "segments.yaml", "--out", out,
                         "--check").returncode == 0


def test_verbose_prints_every_stage(tmp_path: Path) -> None:
    result = run_generator("--spec", FIXTURE_SPEC, "--out", tmp_path / "pkg", "--verbose")
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    stages = [line.rsplit(None, 3)[0] for line in lines[1:]]
    for stage in ("fingerprint", "load", "bundle", "validate: openapi-spec-validator",
                  "models: datamodel-code-generator (worker)", "render", "write", "total"):
        assert stage in stages
    assert all(float(end) >= float(start) for start, end in
               (line.split()[-3:-1] for line in lines[1:]))
