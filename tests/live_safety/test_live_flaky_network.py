"""Flaky networks: the suite behind a proxy that delays, drops connections (before and after
forwarding), answers 502 (with and without forwarding) and starts 429 storms (Retry-After 0 or
1). The suite retries within bounds and reports what the network broke as infrastructure
failures, never as contract failures; with every fault off it passes (`clean_run`).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from fault_proxy import Faults
from live_safety_helpers import Scenario, live_scenario, record

# per request; about 2.5% of requests get a hard fault, a storm every ~600 requests
MODERATE = Faults(
    delay=0.03, delay_s=(0.01, 0.15),
    drop_before=0.006, drop_after=0.004,
    bad_gateway=0.01, bad_gateway_after=0.004,
    storm=0.0015, storm_s=(0.3, 1.0),
    seed=20261123,
)


def _junit_outcomes(path: Path) -> dict[str, list[str]]:
    """Failed test cases (name -> their `rule` properties)."""
    failed: dict[str, list[str]] = {}
    for case in ET.parse(path).iter("testcase"):
        if case.find("failure") is not None or case.find("error") is not None:
            failed[case.get("name", "?")] = [p.get("value", "") for p in case.iter("property")
                                             if p.get("name") == "rule"]
    return failed


def _summary(output: str) -> str:
    match = re.search(r"^(tier1: .*)$", output, re.MULTILINE)
    return match.group(1) if match else "?"


@pytest.mark.slow
def test_faults_are_retried_or_reported_as_infrastructure(tmp_path: Path) -> None:
    scenario = live_scenario(tmp_path, MODERATE)
    run = scenario.run
    overview = run.overview()
    contract, infra = run.count("contract failures"), run.count("infrastructure failures")
    failed = _junit_outcomes(run.workdir / "reports" / "junit.xml")
    record("flaky_network", {
        **scenario.figures(),
        "faults": {k: v for k, v in scenario.proxy.items() if ":" not in k},
        "fault_rates": {"delay": MODERATE.delay, "drop_before": MODERATE.drop_before,
                        "drop_after": MODERATE.drop_after, "bad_gateway": MODERATE.bad_gateway,
                        "bad_gateway_after": MODERATE.bad_gateway_after,
                        "storm_start": MODERATE.storm},
        "contract_failures": contract,
        "infrastructure_failures": infra,
        "network_retries": overview.get("network retries"),
        "per_tier": _summary(run.output),
        "junit_failed_cases": len(failed),
    })
    assert run.returncode in (0, 1), run.output[-3000:]
    # the faults happened
    for fault in ("dropped before forwarding", "502 without forwarding", "429 answered"):
        assert scenario.proxy.get(fault, 0) > 0, scenario.proxy
    # and none of them became a contract failure
    assert contract == 0, run.report.read_text()[-6000:]
    # a case may fail more than once (tier 1's subtests), each time as infrastructure
    assert all(rules and set(rules) == {"infrastructure"} for rules in failed.values()), failed
    assert (infra > 0) == (run.returncode == 1)
    assert "retried after" in overview.get("network retries", "")
    # nothing else touched, nothing left, under faults too
    assert scenario.changed == [] and scenario.leftovers == [], (scenario.changed,
                                                                  scenario.leftovers)


@pytest.mark.slow
def test_with_faults_off_the_proxied_run_passes(clean_run: Scenario) -> None:
    run = clean_run.run
    record("faults_off", {**clean_run.figures(), "per_tier": _summary(run.output),
                          "proxy": clean_run.proxy})
    assert run.returncode == 0, run.output[-3000:]
    assert run.count("contract failures") == 0 and run.count("infrastructure failures") == 0
    assert clean_run.proxy["requests"] == clean_run.proxy["forwarded"] > 0
