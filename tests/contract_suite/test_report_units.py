"""The conformance report from unit-level data: failures out of exceptions, rendering, the guard."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import httpx
from hypothesis.errors import FlakyStrategyDefinition
from report_fixtures import exchange
from schemathesis.core.failures import AcceptedNegativeData, FailureGroup

from contract_tests.budget import RunPlan
from contract_tests.checks import ContractViolation
from contract_tests.recorder import Recorder
from contract_tests.report import (
    ALL_OPERATIONS,
    FailureRecord,
    Result,
    RunData,
    render_html,
    render_markdown,
    reproduction,
    scrub_files,
    summary_lines,
    violations_of,
)
from contract_tests.report.model import Repro, rerun_command
from contract_tests.report.results import results_document
from contract_tests.report.view import build_view
from contract_tests.settings import SuiteSettings
from generated.operations import OPERATIONS

SCHEMATHESIS_MESSAGE = """Schemathesis found 1 distinct failure

- ST201 Schema-violating request accepted

    Invalid data should have been rejected

[200] OK:

    `{"items":[]}`

Reproduce with:

    curl -X PATCH -H 'Authorization: [Filtered]' -d '{"instructions": []}' http://testserver/api/v2/x
"""


def test_a_contract_violation_names_its_rule_and_tier() -> None:
    (found,) = violations_of(ContractViolation("instruction-counts", "total 0, but 1 were sent"))
    assert (found.rule, found.tier) == ("instruction-counts", "tier2")
    assert found.message == "total 0, but 1 were sent"


def test_each_violation_of_an_exception_group_is_reported() -> None:
    first = ContractViolation("error-indices", "index 7 is not in 0..1")
    first.add_note("Falsifying example: example(data=...)")
    group = ExceptionGroup("two", [first, ExceptionGroup(
        "inner", [ContractViolation("successful-take-effect", "GET shows nothing")])])
    found = violations_of(group)
    assert [v.rule for v in found] == ["error-indices", "successful-take-effect"]
    assert "Falsifying example" in found[0].message


def test_a_schemathesis_failure_names_its_check_and_carries_its_curl() -> None:
    failure = AcceptedNegativeData(operation="PATCH /x", message="Invalid data should have been "
                                   "rejected", status_code=200, expected_statuses=["400"])
    (found,) = violations_of(FailureGroup([failure], SCHEMATHESIS_MESSAGE))
    assert (found.rule, found.tier) == ("negative_data_rejection", "tier1")
    assert found.message.startswith("ST201 Schema-violating request accepted")
    # the token Schemathesis masks is named as in the suite's own curls, so the line pastes
    assert found.curl == (("curl -X PATCH -H \"Authorization: $LD_API_TOKEN\" -d "
                          "'{\"instructions\": []}' http://testserver/api/v2/x"),)


def test_other_exceptions_are_reported_by_type() -> None:
    (found,) = violations_of(KeyError("items"))
    assert (found.rule, found.tier) == ("KeyError", None)


def test_the_reproduction_starts_at_the_last_write_and_hides_the_token() -> None:
    token = "tok-123456"
    recorder = Recorder.for_tokens(token)
    for method, path in [("GET", "/api/v2/segments/p/e/s"), ("PATCH", "/api/v2/segments/p/e/s"),
                         ("GET", "/api/v2/segments/p/s/expiring-targets/e")]:
        request = httpx.Request(method, f"http://h{path}", headers={"Authorization": token},
                                content=b'{"instructions": []}' if method == "PATCH" else b"")
        recorder.record(request, httpx.Response(200, json={}, request=request))
    curls = reproduction(list(recorder.recent))
    assert [c.split()[3] for c in curls] == ["PATCH", "GET"]
    assert token not in "".join(curls) and "$LD_API_TOKEN" in curls[0]


def _data() -> RunData:
    op = next(iter(OPERATIONS))
    patch = next(o for o, spec in OPERATIONS.items() if spec.instructions)
    kind = next(iter(OPERATIONS[patch].instructions))
    tests = {"t.py::test_schema": Result(op, "tier1", "passed", True),
             "t.py::test_x[a]": Result(op, "tier2", "failed", True),
             "t.py::test_x[b]": Result(op, "tier2", "failed", True),
             "t.py::test_stateful": Result(ALL_OPERATIONS, "stateful", "passed", True),
             **{f"t.py::test_policy[{n}]": Result(op, "tier3", "skipped", True)
                for n in range(3)}}
    return RunData(
        target="https://staging.example", seed=42, examples_per_test=10, in_process=False,
        rerun="make contract BASE_URL=https://staging.example SEED=42 EXAMPLES=10",
        duration_s=2.0, requests=100, examples_run=40, tests=tests,
        statuses={(op, 200): 7, (op, 599): 1},
        instructions={(patch, kind, "succeeded"): 5, (patch, kind, "failed"): 2},
        failures=[FailureRecord(test="t.py::test_x[a]", operation=op, tier="tier2",
                                test_tier="tier2", rule="instruction-counts",
                                message="has ``` fences | and pipes",
                                reproduction=("curl -X PATCH http://h/x",))],
    )


def test_markdown_shows_the_overview_matrix_coverage_and_failures() -> None:
    data = _data()
    text = render_markdown(data)
    op = next(iter(OPERATIONS))
    assert "| target | https://staging.example |" in text
    assert "`--hypothesis-seed=42`" in text
    assert "| requests made | 100 (50.0/s) |" in text
    assert f"| [`{op}`](#coverage-{op.lower()}) | 1 passed | 2 failed | · | 3 skipped |" in text
    assert f"| [`{ALL_OPERATIONS}`](#coverage) | · | · | 1 passed | · |" in text
    assert "| **all** | 1 passed | 2 failed | 1 passed | 3 skipped |" in text
    assert "| status codes | `200` | 7 |" in text
    assert "| status codes | `599` | 1 (not documented) |" in text
    assert "| status codes | `401` | **never** |" in text
    patch = next(o for o, spec in OPERATIONS.items() if spec.instructions)
    kind = next(iter(OPERATIONS[patch].instructions))
    assert f"| instruction outcomes | `{kind} succeeded` | 5 |" in text
    assert f"| instruction outcomes | `{kind} failed` | 2 |" in text
    assert "## Failures (1)" in text and "instruction-counts: A well-formed request" in text
    assert "````text\nhas ``` fences | and pipes\n````" in text  # the fence outgrows the content
    assert "```sh\ncurl -X PATCH http://h/x\n```" in text


def test_html_is_self_contained_and_escaped() -> None:
    data = _data()
    data.failures[0] = FailureRecord("t", "op", "tier2", "tier2", "rule", "<script>x</script>", ())
    page = render_html(data)
    assert page.startswith("<!DOCTYPE html>") and "<style>" in page
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "src=" not in page and "url(" not in page  # nothing to fetch
    links = re.findall(r'href="([^"]*)"', page)
    assert links and all(link.startswith("#") for link in links)  # this page's own anchors
    assert {link[1:] for link in links} <= set(re.findall(r'id="([^"]*)"', page))
    assert f'class="failed"><a class="cell" href="#coverage-{next(iter(OPERATIONS)).lower()}">2 failed<' in page


def test_the_summary_gives_tiers_rates_and_files() -> None:
    lines = summary_lines(_data(), [Path("reports/conformance.md")])
    assert "tier1: 1 passed | tier2: 2 failed | stateful: 1 passed | tier3: 3 skipped" in lines
    assert any("20.0 examples/s, 50.0 requests/s" in line for line in lines)
    assert "FAILED t.py::test_x[a]: instruction-counts (tier2)" in lines
    assert lines[-2] == "reports: reports/conformance.md"
    assert lines[-1] == ("re-run: make contract BASE_URL=https://staging.example SEED=42 "
                         "EXAMPLES=10")


def test_the_guard_replaces_every_secret_in_written_files(tmp_path: Path) -> None:
    dirty, clean = tmp_path / "a.xml", tmp_path / "b.md"
    dirty.write_text("x tok-1 y ro-2 z")
    clean.write_text("nothing")
    assert scrub_files([dirty, clean, tmp_path / "missing"], ("tok-1", "ro-2")) == [dirty]
    assert dirty.read_text() == "x *** y *** z"


def _live(**changes: object) -> SuiteSettings:
    return SuiteSettings(base_url="https://staging.example", token="t", readonly_token=None,
                         project_key="p", environment_key="e", kit_mock=False, examples=25,
                         reports_dir=Path("reports"), **changes)  # type: ignore[arg-type]


def test_the_rerun_command_repeats_the_budget_rate_and_selection() -> None:
    """Without the budget the printed command would send staging a run many times larger."""
    live = _live(max_requests=300, rate=2.5, tiers=frozenset({"2", "1"}),
                 operations=frozenset({"patchExpiringTargets", "getSegment"}), shrink=False,
                 workers=2)
    assert rerun_command(live, 7) == (
        "make contract BASE_URL=https://staging.example SEED=7 EXAMPLES=25 MAX_REQUESTS=300 "
        "RATE=2.5 TIERS=1,2 OPS=getSegment,patchExpiringTargets NO_SHRINK=1 WORKERS=2")
    assert rerun_command(_live(rate=20.0), 7).endswith("EXAMPLES=25 RATE=20")
    in_process = dataclasses.replace(live, base_url=None)
    assert rerun_command(in_process, 7) == (
        "pytest contract_tests --hypothesis-seed=7 --examples 25 --tiers 1,2 "
        "--ops getSegment,patchExpiringTargets --no-shrink -n 2")


def test_a_run_the_budget_cut_says_so_in_every_output() -> None:
    """A pass of a budgeted run proves less than a full one: the banner (terminal, Markdown,
    HTML), the overview and results.json say what the budget left out and which tier-2 rules
    no test exercised."""
    data = dataclasses.replace(_data(), failures=[], max_requests=300,
                               plan=RunPlan(1, False, 1, 10, ("t.py::a", "t.py::b"), 260))
    view = build_view(data)
    assert data.budget_cut
    assert ("The request budget (300) cut this run: 1 example per test (10 asked), 2 tests "
            "left out; tier-2 rules never exercised: ") in view.banner
    never = view.banner.split("never exercised: ")[1]
    assert next(r for r in OPERATIONS[next(iter(OPERATIONS))].rules) in never
    overview = dict(view.overview)
    assert overview["examples per test"] == "1 (10 asked; the request budget cut it)"
    assert overview["request budget"].startswith("300 requests: cut the run to fit: 1 example per")
    assert view.banner in render_markdown(data) and view.banner in render_html(data)
    assert any(view.banner in line for line in summary_lines(data, []))
    plan = results_document(data)["settings"]["budget_plan"]
    assert plan["cut"] and plan["tests_left_out"] == ["t.py::a", "t.py::b"]
    whole = dataclasses.replace(data, plan=RunPlan(10, True, 3, 40, (), 900))
    assert not whole.budget_cut and "budget" not in build_view(whole).banner
    assert dict(build_view(whole).overview)["request budget"].startswith(
        "300 requests: the whole run fitted")


def test_hypothesis_flakiness_over_a_broken_rule_names_the_rule() -> None:
    """A replay that met a broken rule earlier than the first run did (the server kept what
    the first run wrote) is reported by that rule, not as Hypothesis' inconsistent data."""
    try:
        try:
            raise ContractViolation("successful-take-effect", "the removes stayed")
        except ContractViolation:
            raise FlakyStrategyDefinition("Inconsistent data generation!") from None
    except FlakyStrategyDefinition as flaky:
        caught = flaky
    assert caught.__context__ is not None  # `from None` keeps the context, hides it
    (found,) = violations_of(caught)
    assert (found.rule, found.tier) == ("successful-take-effect", "tier2")
    assert found.message.startswith("the removes stayed\n(met when Hypothesis replayed")
    (plain,) = violations_of(FlakyStrategyDefinition("Inconsistent data generation!"))
    assert plain.rule == "FlakyStrategyDefinition"


def test_a_body_is_fenced_as_json_only_when_it_is_json() -> None:
    """A gateway's HTML page under a `json` fence reads as a broken answer of the API."""
    html = dataclasses.replace(exchange("GET", "/x"), response_excerpt="<html>bad gateway</html>")
    data = dataclasses.replace(_data(), failures=[FailureRecord(
        "t.py::test_x[a]", next(iter(OPERATIONS)), "tier2", "tier2", "instruction-counts", "m",
        (), repro=Repro(provision=(), prepare=(), failing=html, after=(), run_id="r"))])
    text = render_markdown(data)
    assert "Answer body:\n\n```text\n<html>bad gateway</html>\n```" in text
    json_answer = dataclasses.replace(html, response_excerpt='{"code": "x"}')
    data.failures[0] = dataclasses.replace(data.failures[0], repro=Repro(
        provision=(), prepare=(), failing=json_answer, after=(), run_id="r"))
    assert 'Answer body:\n\n```json\n{"code": "x"}\n```' in render_markdown(data)


def test_the_html_shows_code_spans_as_code_not_backticks() -> None:
    """The overview and the open points are written for both outputs with Markdown's code
    spans; the HTML showed them as raw backticks (and the overview began with an empty row)."""
    data = dataclasses.replace(_data(), selection={"-k": "<script>x</script>"},
                               choices={("`errors` when none failed", "`[]`"): 3})
    page = render_html(data)
    overview = page.split("<table>", 1)[1].split("</table>", 1)[0]
    assert "`" not in overview and "<code>--hypothesis-seed=42</code>" in overview
    assert "<tr><th></th>" not in page and "<script>" not in page
    assert "<td><code>errors</code> when none failed</td><td><code>[]</code></td>" in page
