"""The outputs of one run model: Markdown and HTML state the same facts, results.json validates
against its schema and holds every failure, the HTML stands alone, a repro script never holds a
token, and a script provisions exactly what its failing request needed."""

from __future__ import annotations

import html.parser
import json
import re
import subprocess
from pathlib import Path

import jsonschema  # type: ignore[import-untyped]
import pytest
from report_fixtures import RUN_ID, SEGMENT, SEGMENTS, exchange, sample_run

from contract_tests.report import SCHEMA_PATH, render_html, render_markdown, results_document
from contract_tests.report.junit import suite_properties
from contract_tests.report.render import render_script, summary_lines
from contract_tests.report.repro import choose, script_steps
from generated.operations import OPERATIONS

# -- the facts of a document, read back --------------------------------------------------------


def _markdown_tables(text: str) -> list[list[list[str]]]:
    tables: list[list[list[str]]] = []
    current: list[list[str]] = []
    for line in [*text.splitlines(), ""]:
        if line.startswith("|"):
            cells = [re.sub(r"`([^`]*)`", r"\1",  # a code span: its text, as HTML's <code>
                            re.sub(r"\[([^\]]*)\]\(#[^)]*\)", r"\1", c.strip()))  # a link
                     .replace("\\|", "|").strip("`*")
                     for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
            # not the --- row, nor a header of empty cells (the overview's; HTML has none)
            if not all(re.fullmatch(r":?-+:?", c) for c in cells) and any(cells):
                current.append(cells)
        elif current:
            tables.append(current)
            current = []
    return tables


class _HtmlFacts(html.parser.HTMLParser):
    """Table cells (without the failure links in <sup>), heading ids and the banner."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self.ids: list[str] = []
        self.banner = ""
        self._cell: list[str] | None = None
        self._in_sup = self._in_banner = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "h3" and found.get("id") and not str(found["id"]).startswith("coverage-"):
            self.ids.append(str(found["id"]))  # a failure's
        if tag == "p" and "banner" in (found.get("class") or ""):
            self._in_banner = True
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "sup":
            self._in_sup = True

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1][-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "sup":
            self._in_sup = False
        elif tag == "p":
            self._in_banner = False

    def handle_data(self, data: str) -> None:
        if self._cell is not None and not self._in_sup:
            self._cell.append(data)
        if self._in_banner:
            self.banner += data


def _html_facts(page: str) -> _HtmlFacts:
    parser = _HtmlFacts()
    parser.feed(page)
    return parser


@pytest.mark.parametrize("complete", [False, True])
def test_markdown_and_html_state_the_same_facts(complete: bool) -> None:
    run = sample_run(complete)
    assert run.status == ("failed" if complete else "incomplete")
    markdown, page = render_markdown(run), _html_facts(render_html(run))
    md_tables = _markdown_tables(markdown)
    # overview, totals, not run, matrix, coverage and each operation's, open points: row for
    # row
    assert md_tables == page.tables
    assert len(md_tables) == 5 + len(OPERATIONS) + (1 if run.status == "incomplete" else 0)
    assert f"**{page.banner}**" in markdown and page.banner.startswith(run.status.upper())
    ids = re.findall(r"^- id: `([^`]+)`$", markdown, re.MULTILINE)
    assert page.ids == [*ids, "f3-infrastructure"]  # the infrastructure failure has no id line
    assert ids == ["f1-instruction-counts", "f2-response_schema_conformance"]


def test_the_totals_are_one_definition_in_every_output() -> None:
    run = sample_run()
    overview = dict(_markdown_tables(render_markdown(run))[0][1:])
    page = dict(_html_facts(render_html(run)).tables[0][1:])
    results = results_document(run)["totals"]
    junit = dict(suite_properties(run))
    summary = next(line for line in summary_lines(run, []) if line.startswith("tests: "))
    assert overview["tests"] == page["tests"] == "7 (1 passed, 2 failed, 1 infra, 1 skipped, " \
                                                 "2 not run)"
    assert summary.startswith(f"tests: {overview['tests']}; operation checks (tier 1): 4 (")
    assert results["tests"] == {"total": 7, "passed": 1, "failed": 2, "known": 0, "infra": 1,
                                "skipped": 1, "not_run": 2}
    # the tier-1 test counts as failed: one of its operation checks failed
    assert results["tests_by_tier"]["tier1"]["failed"] == 1
    assert results["operation_checks"] == {"total": 4, "passed": 3, "failed": 1, "known": 0,
                                           "infra": 0, "skipped": 0, "not_run": 0}
    assert (junit["tests"], junit["tests-failed"], junit["tests-not-run"]) == ("7", "2", "2")
    assert (junit["operation-checks"], junit["operation-checks-failed"]) == ("4", "1")


def test_results_json_validates_and_holds_every_failure() -> None:
    run = sample_run()
    document = json.loads(json.dumps(results_document(run)))
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.Draft202012Validator(schema).validate(document)
    assert document["schema"] == "contract-results/2"
    assert [f["id"] for f in document["failures"]] == [
        "f1-instruction-counts", "f2-response_schema_conformance", "f3-infrastructure"]
    counts, schema_failure, lost = document["failures"]
    assert counts["request"]["credential"] == "writer"
    assert counts["answer"] == {"status": 200, "body": '{"totalInstructions": 2, "errors": []}'}
    assert counts["reproduction"]["script"] == "reports/repro/f1-instruction-counts.sh"
    assert schema_failure["request"] is None and lost["infrastructure"] is True
    assert lost["reproduction"]["script"] is None
    cells = {(c["operation"], c["tier"]): c for c in document["matrix"]}
    assert cells[("patchExpiringTargetsForSegment", "tier2")]["failures"] == [
        "f1-instruction-counts"]
    assert document["status"] == "incomplete"
    assert document["incomplete_reason"] == (
        "request budget of 30 spent (during t.py::test_stateful)")
    assert {(n["tier"], n["tests"]) for n in document["not_run"]} == {("stateful", 1),
                                                                      ("tier3", 1)}
    with pytest.raises(jsonschema.ValidationError):  # the schema can fail
        jsonschema.validate({**document, "status": "mostly fine"}, schema)


def test_the_html_stands_alone_with_banner_contents_links_and_chart() -> None:
    page = render_html(sample_run())
    assert 'class="banner incomplete"' in page
    assert "<script" not in page and "src=" not in page and "url(" not in page
    links = re.findall(r'href="([^"]*)"', page)
    targets = set(re.findall(r' id="([^"]*)"', page))
    assert links and all(link.startswith("#") and link[1:] in targets for link in links)
    assert '<a href="#f1-instruction-counts">f1</a>' in page  # from its matrix cell
    assert "<svg" in page and page.count('<rect class="failed"') == 2  # tier 1 and tier 2
    assert "&lt;b&gt;" in page and "<b>" not in page  # autoescaped


def _script(credential: str | None) -> str:
    run = sample_run()
    failing = exchange("PATCH", f"/api/v2/segments/default/{SEGMENT}", {"x": 1},
                       credential=credential)
    repro = choose([failing], [exchange("POST", SEGMENTS, {"key": SEGMENT}, 201)], RUN_ID)
    assert repro is not None
    record = run.failures[0]
    return render_script(run, "f1-rule", record, script_steps(repro), Path("r/f1-rule.sh"))


@pytest.mark.parametrize(("credential", "header"), [
    ("writer", "writer"), ("readonly", "readonly"), ("unknown", "unknown"), (None, "none")])
def test_a_script_names_its_credential_and_holds_no_token(
    credential: str | None, header: str, tmp_path: Path,
) -> None:
    text = _script(credential)
    assert text.startswith("#!/usr/bin/env bash") and "set -euo pipefail" in text
    assert "trap cleanup EXIT" in text and RUN_ID not in text  # keys renamed
    assert re.search(rf'^send PATCH .* {header} ', text, re.MULTILINE)
    assert ('LD_API_TOKEN_READONLY:?' in text) == (credential == "readonly")
    assert "Authorization: api-unknown-token" in text
    path = tmp_path / "repro.sh"
    path.write_text(text)
    assert subprocess.run(["bash", "-n", str(path)], check=False).returncode == 0


def test_provisioning_follows_the_keys_the_failing_example_names() -> None:
    """A user endpoint's path names a context key; the flag's targeting names that key; the
    flag's create names the flag: all three, and nothing of the other resources."""
    flag, other = f"{RUN_ID}-2-flag", f"{RUN_ID}-3-segment"
    user = f"{RUN_ID}-2-fu0"
    setup = [
        exchange("POST", SEGMENTS, {"key": other}, 201),
        exchange("POST", "/api/v2/flags/default", {"key": flag}, 201),
        exchange("PATCH", f"/api/v2/flags/default/{flag}",
                 {"instructions": [{"kind": "addTargets", "values": [user]}]}),
        exchange("PATCH", f"{SEGMENTS}/{other}", {"instructions": []}),
    ]
    before = exchange("PATCH", f"/api/v2/users/default/{user}/expiring-user-targets/test",
                      {"instructions": [{"kind": "addExpireUserTargetDate", "value": 1}]})
    failing = exchange("GET", f"/api/v2/users/default/{user}/expiring-user-targets/test")
    repro = choose([exchange("GET", "/x"), before, failing], setup, RUN_ID)
    assert repro is not None
    assert repro.provision == (setup[1], setup[2])
    assert repro.failing is before and repro.after == (failing,)
    steps = script_steps(repro)
    assert steps[0].creates == "/api/v2/flags/default/@RUN@-2-flag"
