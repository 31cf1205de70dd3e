"""Live-safety tests: the contract suite run as it is run against staging, against the kit's mock
as a live-like process (admin off, resources of others already there), optionally behind a
fault-injecting proxy.

Every server and proxy here binds 127.0.0.1 on a free port and is stopped before the fixture
that started it returns (also on failure). The two full runs several tests look at (a clean
one and one against a server that breaks rules) are made once per session; what they leave
behind (outputs, files, snapshots, the store) is kept for the tests, the processes are not.
"""

from __future__ import annotations

import pytest
from fault_proxy import Faults
from live_safety_helpers import Scenario, live_scenario


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "slow: runs the contract suite against real processes (seconds each)")


@pytest.fixture(scope="session")
def clean_run(tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    """Tiers 1-2 against a live-like mock through the proxy with every fault off."""
    return live_scenario(tmp_path_factory.mktemp("clean-run"), Faults())


# tier 1 (Schemathesis' failures carry a curl with the token in it) and one tier-2 test
# (Hypothesis shrinks it and prints the failing example, the recorder's curls); all of them
# would fail the same way, only slower (each is shrunk against the server)
FAILING_SELECTION = ("schema_conformance or (succeed_or_fail and patchExpiringTargets "
                     "and not ForSegment)")


@pytest.fixture(scope="session")
def failing_run(tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    """The same against a server that breaks a tier-1 and a tier-2 rule (the proxy rewrites
    answers), with ``-rA`` so pytest prints every failure, curls and failing examples."""
    return live_scenario(tmp_path_factory.mktemp("failing-run"), Faults(break_rules=True),
                         "-rA", "-k", FAILING_SELECTION)
