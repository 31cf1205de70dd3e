"""The contract suite passes against the kit's mock on PostgreSQL: the mock as a real process
with ``--db postgresql://…``, every tier (``--kit-mock``), a few examples per test."""

from __future__ import annotations

from pathlib import Path

from suite_helpers import PYTHON, ROOT, recognisable_token, run

from contract_tests.run import mock_server


def test_the_suite_passes_against_the_mock_on_postgres(pg_url: str, tmp_path: Path) -> None:
    token = recognisable_token()
    reports = tmp_path / "reports"
    with mock_server(tmp_path, extra_writer_tokens=[token], db=pg_url) as url:
        result = run([PYTHON, "-m", "pytest", "contract_tests", "-q", "-p", "no:cacheprovider",
                      "--base-url", url, "--kit-mock", "--examples", "5",
                      f"--reports-dir={reports}"], cwd=ROOT, env={"LD_API_TOKEN": token},
                     timeout=900)
    assert result.returncode == 0, result.output[-3000:]
    assert " passed" in result.output and "failed" not in result.output.splitlines()[-1]
