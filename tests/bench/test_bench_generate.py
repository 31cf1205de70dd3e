"""bench_generate with a competitor whose venv was never built: reported as not installed
(naming the make target that builds it), exit 1, no traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import bench_generate


def test_a_competitor_without_its_venv_is_reported_not_installed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / ".venv-bench-nothing"
    tool = bench_generate.Tool("datamodel-codegen", missing, "datamodel-code-generator",
                               ["datamodel-codegen", "--input", "{spec}", "--output", "{out}"],
                               "models.py")
    monkeypatch.setattr(bench_generate, "competitors", lambda: [tool])
    spec = tmp_path / "spec.yaml"
    spec.write_text("openapi: 3.1.0\n", encoding="utf-8")
    results = tmp_path / "generate.json"

    status = bench_generate.main(["--only", "datamodel-codegen", "--runs", "1", "--net", "host",
                                  "--spec", str(spec), "--json", str(results)])

    assert status == 1
    output = capsys.readouterr().out
    assert f"not installed: {missing / 'bin' / 'datamodel-codegen'} missing" in output
    assert "run `make bench-generate`" in output
    (row,) = json.loads(results.read_text(encoding="utf-8"))["tools"]
    assert row["version"] == "?" and row["status"].startswith("failed: not installed")
