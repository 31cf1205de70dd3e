"""The suite never cries wolf: every answer the documents allow passes tiers 1-2.

The kit's mock makes every open point of its tier-3 policy switchable (mock_server/policy.py);
each variant flips them all to another answer the documents allow. Against the mock as a real
process under each variant, the suite in live mode (tiers 1-2, as against staging) must pass
with zero failures. And tier 3 must hold the mock to the policy it has, not to the reference:
each variant passes tier 3 under its own policy and fails it, by policy rule only, under any
other.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from contract_tests.run import write_mock_config
from contract_tests.settings import MOCK_READER_TOKEN, MOCK_WRITER_TOKEN
from mock_server.policy import VARIANTS
from mock_server.process import MockProcess

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = "5"
ALTERNATIVES = sorted(v for v in VARIANTS if v != "reference")  # the reference: `make test`


def _pytest(arguments: list[str], environ: dict[str, str] | None = None
            ) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LD_")} | (environ or {})
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--hypothesis-seed",
         "0", "--no-shrink", *arguments],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False,
    )


def _config(directory: Path, variant: str) -> Path:
    path = write_mock_config(directory / "mock-config.yaml")
    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    config["policy"] = {"variant": variant}
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


@pytest.mark.parametrize("variant", ALTERNATIVES)
def test_live_suite_passes_under_every_policy_variant(variant: str, tmp_path: Path) -> None:
    with MockProcess(tmp_path / "mock.sqlite3", _config(tmp_path, variant),
                     tmp_path / "mock.log") as server:
        result = _pytest(
            ["contract_tests", "--base-url", server.base_url, "--examples", EXAMPLES,
             "--reports-dir", str(tmp_path / "reports")],
            {"LD_API_TOKEN": MOCK_WRITER_TOKEN, "LD_API_TOKEN_READONLY": MOCK_READER_TOKEN,
             "LD_PROJECT_KEY": "default", "LD_ENVIRONMENT_KEY": "test"},
        )
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"{variant}: tiers 1-2 cried wolf:\n{output[-4000:]}"
    assert "contract failures: 0;" in output
    assert re.search(r"tier2: \d+ passed", output), output[-2000:]


def _tier3(mock: str, expected: str, reports: Path) -> subprocess.CompletedProcess[str]:
    return _pytest(["contract_tests/test_tier3_policy.py", "--mock-policy", mock,
                    "--expect-policy", expected, "--reports-dir", str(reports)])


PAIRS = [(mock, expected) for mock in VARIANTS for expected in VARIANTS]


@pytest.fixture(scope="module")
def tier3_runs(tmp_path_factory: pytest.TempPathFactory
               ) -> dict[tuple[str, str], subprocess.CompletedProcess[str]]:
    reports = tmp_path_factory.mktemp("tier3-reports")
    with ThreadPoolExecutor(max_workers=2) as pool:
        runs = pool.map(lambda pair: _tier3(*pair, reports / "-".join(pair)), PAIRS)
        return dict(zip(PAIRS, runs, strict=True))


@pytest.mark.parametrize(("mock", "expected"), PAIRS, ids=[f"{m}-vs-{e}" for m, e in PAIRS])
def test_tier3_holds_the_mock_to_its_own_policy(
    mock: str, expected: str,
    tier3_runs: dict[tuple[str, str], subprocess.CompletedProcess[str]],
) -> None:
    result = tier3_runs[(mock, expected)]
    output = result.stdout + result.stderr
    if mock == expected:
        assert result.returncode == 0, f"{mock} fails tier 3 under its own policy:\n{output}"
        return
    assert result.returncode == 1, f"{mock} checked as {expected}: exit {result.returncode}"
    failed = [line for line in output.splitlines() if line.startswith("FAILED contract_tests")]
    summary = [line for line in output.splitlines() if line.startswith("FAILED ")
               and " (tier" in line]
    assert failed and summary, output[-3000:]
    assert all(": policy:" in line for line in summary), (
        f"{mock} checked as {expected} failed on something else than its policy:\n"
        + "\n".join(summary))
