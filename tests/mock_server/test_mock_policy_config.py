"""The `policy:` section of the mock configuration: variants, switches, and one line per mistake."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from mock_server.config import DEFAULT_CONFIG_PATH, ConfigError, parse_config
from mock_server.policy import CHOICES, REFERENCE, VARIANTS

ROOT = Path(__file__).resolve().parents[2]


def _with_policy(policy: object) -> dict[str, object]:
    raw = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text(encoding="utf-8"))
    return {**raw, "policy": policy}


def test_the_shipped_config_runs_the_reference_policy() -> None:
    assert parse_config(_with_policy(None)).policy == REFERENCE
    assert parse_config(yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())).policy == REFERENCE


def test_every_variant_flips_every_open_point() -> None:
    for name in ("alternative", "alternative-2"):
        variant = VARIANTS[name]
        assert all(getattr(variant, key) != getattr(REFERENCE, key) for key in CHOICES), name
        assert variant.name == name


def test_switches_override_a_variant() -> None:
    policy = parse_config(_with_policy({"variant": "alternative", "unknown_user": "not_found",
                                        "first_version": 1})).policy
    assert policy.unknown_user == "not_found" and policy.first_version == 1
    assert policy.add_on_scheduled == "replace"
    assert policy.name not in VARIANTS and "add_on_scheduled=replace" in policy.name
    assert "unknown_user" not in policy.name  # back at its reference answer


@pytest.mark.parametrize(("policy", "named"), [
    ({"variant": "lenient"}, "policy.variant 'lenient'"),
    ({"unknown_user": "maybe"}, "policy.unknown_user must be one of not_found, empty"),
    ({"first_version": True}, "policy.first_version must be one of 1, 0"),
    ({"add_on_schedule": "fail"}, "policy.add_on_schedule is not a policy switch"),
    (["alternative"], "policy must be a mapping"),
])
def test_a_bad_policy_section_names_the_key(policy: object, named: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(_with_policy(policy), origin="mock.yaml")
    assert str(caught.value).startswith("mock.yaml: ") and named in str(caught.value)


def test_the_server_refuses_to_start_with_one_line(tmp_path: Path) -> None:
    config = tmp_path / "mock.yaml"
    config.write_text(yaml.safe_dump(_with_policy({"past_dates": "sometimes"})))
    result = subprocess.run(
        [sys.executable, "-m", "mock_server", "--port", "0", "--db", ":memory:",
         "--config", str(config)],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode == 2
    lines = (result.stdout + result.stderr).strip().splitlines()
    assert len(lines) == 1, lines
    assert "policy.past_dates must be one of refuse, accept" in lines[0]


def test_the_docs_table_names_every_switch_and_each_of_its_answers() -> None:
    """docs/mock-server.md's switch table is how a team finds the setting that makes the mock
    answer as their server does (make compare names them too): no switch may go missing."""
    text = (ROOT / "docs" / "mock-server.md").read_text(encoding="utf-8")
    rows = {line.split("|")[1].strip().strip("`"): line for line in text.splitlines()
            if line.startswith("| `")}
    for switch, answers in CHOICES.items():
        assert switch in rows, f"docs/mock-server.md has no row for policy.{switch}"
        assert all(f"`{answer}`" in rows[switch] for answer in answers), rows[switch]
