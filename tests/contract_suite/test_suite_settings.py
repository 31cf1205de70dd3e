"""The suite's settings as pytest reads them: a bad value is one line naming its make variable
(in-process too), and the Hypothesis profile (``--no-shrink`` stops at the failing example as
found)."""

from __future__ import annotations

import argparse
from pathlib import Path

import hypothesis
import pytest
from hypothesis import given
from hypothesis import strategies as st
from suite_helpers import PYTHON, ROOT, run

from contract_tests.run import suite_options
from contract_tests.settings import SEED, ConfigurationError, hypothesis_settings, settings_from

BAD = {  # pytest's options -> the one line that refuses them
    ("--examples", "0"): "EXAMPLES=0 (--examples): give a whole number of examples per test, "
                         "1 or more",
    ("--examples", "-2"): "EXAMPLES=-2 (--examples): give a whole number of examples per test, "
                          "1 or more",
    ("--examples", "abc"): "EXAMPLES=abc (--examples): give a whole number of examples per "
                           "test, 1 or more",
    ("--rate", "0"): "RATE=0 (--rate): give a number of requests per second above 0",
    ("--rate", "abc"): "RATE=abc (--rate): give a number of requests per second above 0",
    ("--max-requests", "49"): "MAX_REQUESTS=49 (--max-requests): give a whole number of "
                              "requests, 50 or more (the setup and cleanup alone need about 50)",
    ("--max-requests", "abc"): "MAX_REQUESTS=abc (--max-requests): give a whole number of "
                               "requests, 50 or more (the setup and cleanup alone need about 50)",
    ("--tiers", "4"): "TIERS=4 (--tiers): 4 is not one of 1, 2, 3",
}


@pytest.mark.parametrize("option", sorted(BAD), ids=["=".join(case) for case in sorted(BAD)])
@pytest.mark.parametrize("base_url", [[], ["--base-url", "http://127.0.0.1:1", "--kit-mock"]],
                         ids=["in-process", "a base URL"])
def test_a_bad_value_is_refused_naming_its_variable(option: tuple[str, str],
                                                    base_url: list[str]) -> None:
    with pytest.raises(ConfigurationError) as refused:
        settings_from(suite_options([*base_url, *option]), environ={})
    assert str(refused.value) == BAD[option]


def test_the_smallest_good_values_are_taken() -> None:
    suite = settings_from(suite_options(["--examples", "1", "--rate", "0.5",
                                         "--max-requests", "50"]), environ={})
    assert (suite.examples, suite.rate, suite.max_requests) == (1, 0.5, 50)


@pytest.mark.parametrize("option", [("--examples", "0"), ("--max-requests", "abc")],
                         ids=["EXAMPLES=0", "MAX_REQUESTS=abc"])
def test_pytest_in_process_stops_with_the_one_line(option: tuple[str, str],
                                                   tmp_path: Path) -> None:
    result = run([PYTHON, "-m", "pytest", "contract_tests", "-p", "no:cacheprovider", *option,
                  f"--reports-dir={tmp_path / 'reports'}"], cwd=ROOT, timeout=120)
    assert result.returncode == 4, result.output
    assert result.output.strip().splitlines() == [f"ERROR: contract suite: {BAD[option]}"]


def _draws(seed: int) -> list[int]:
    drawn: list[int] = []

    @hypothesis.seed(seed)
    @hypothesis.settings(max_examples=5, database=None)
    @given(st.integers())
    def prop(value: int) -> None:
        drawn.append(value)

    prop()
    return drawn


def test_a_negative_seed_is_taken_and_repeats_its_run() -> None:
    """SEED=-1 is a seed: Hypothesis seeds a random.Random with it (which takes -N as N), so the
    re-run line's SEED=-1 draws the same examples again."""
    assert SEED.read(argparse.Namespace(seed="-1")) == -1
    assert _draws(-1) == _draws(-1) == _draws(1) != _draws(2)


def _calls_until_reported(*options: str) -> list[list[int]]:
    """Runs a property that fails for any list longer than 3 under the suite's profile;
    returns every example it was called with (the last one is the one reported)."""
    suite = settings_from(suite_options(["--examples", "50", *options]), environ={})
    calls: list[list[int]] = []

    @hypothesis_settings(suite)
    @given(st.lists(st.integers(), min_size=10))
    def prop(values: list[int]) -> None:
        calls.append(values)
        assert len(values) <= 3

    with pytest.raises(AssertionError):
        prop()
    return calls


def test_no_shrink_reports_the_first_failing_example() -> None:
    shrinking = _calls_until_reported()
    not_shrinking = _calls_until_reported("--no-shrink")
    assert shrinking[-1] == [0] * 10  # shrunk to the minimal list the strategy allows
    assert len(not_shrinking) < len(shrinking)
    # the first example fails; Hypothesis replays it once to report it, unchanged
    assert len(not_shrinking) <= 2 and not_shrinking[-1] == not_shrinking[0]


def test_the_profile_keeps_no_example_database() -> None:
    suite = settings_from(suite_options(["--examples", "7"]), environ={})
    profile = hypothesis_settings(suite)
    assert profile.database is None and profile.max_examples == 7 and profile.deadline is None
