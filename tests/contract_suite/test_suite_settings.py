"""The suite's Hypothesis profile: ``--no-shrink`` stops at the failing example as found."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contract_tests.run import suite_options
from contract_tests.settings import hypothesis_settings, settings_from


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
