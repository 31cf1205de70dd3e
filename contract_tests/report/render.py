"""Renderings of the run: Markdown, HTML and repro scripts from Jinja2 templates, and the
terminal summary. Each is a pure function of the model (through `view.build_view`)."""

from __future__ import annotations

import re
import shlex
from collections import Counter
from collections.abc import Sequence
from functools import cache
from pathlib import Path, PurePath

import jinja2
import markupsafe

from ..recorder import CREDENTIAL_PLACEHOLDERS
from ..usage import DIMENSIONS
from .anchors import coverage_anchor, slug
from .coverage_view import HEADINGS
from .model import FailureRecord, RunData
from .repro import RUN_PLACEHOLDER, Step
from .view import CHART_WIDTH, ReportView, build_view, counted, rule_text

__all__ = ["MAKE_SERVE_URL", "render_html", "render_markdown", "render_script", "summary_lines"]

TEMPLATES = Path(__file__).resolve().parent / "templates"
MAKE_SERVE_URL = "http://127.0.0.1:8765"  # `make serve`: where an in-process run reproduces


_CODE_SPAN = re.compile(r"`([^`]+)`")


def _code_spans(text: object) -> markupsafe.Markup:
    """HTML: the view's Markdown code spans (`…`) as <code>, everything else escaped."""
    escaped = str(markupsafe.escape(str(text)))
    return markupsafe.Markup(_CODE_SPAN.sub(r"<code>\1</code>", escaped))


def _fence_body(text: str) -> str:
    """A request's or answer's body fenced as JSON when it is an object or array (a gateway's
    HTML error page, say, is not)."""
    return _fence(text, "json" if text.lstrip()[:1] in ("{", "[") else "text")


def _fence(text: str, info: str = "") -> str:
    """A Markdown code fence longer than any run of backticks inside."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}{info}\n{text}\n{ticks}"


@cache
def _environment(autoescape: bool) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=autoescape,
        trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters.update(md_escape=lambda text: str(text).replace("|", "\\|"), fence=_fence, fence_body=_fence_body,
                       code_spans=_code_spans,
                       slug=slug, shquote=lambda text: shlex.quote(str(text)),
                       coverage_anchor=coverage_anchor, heading=HEADINGS.__getitem__)
    return env


def _sections(view: ReportView) -> list[str]:
    return ["Totals", *(["Not run"] if view.status == "incomplete" else []),
            "Operations × tiers", "Coverage", f"Coverage gaps ({len(view.gaps)})",
            "Known deviations", "Compared with the previous run",
            "Open points: the answers this server chose", f"Failures ({len(view.failures)})",
            f"Infrastructure failures ({len(view.infrastructure)})", "Re-run"]


def _document(template: str, view: ReportView, autoescape: bool) -> str:
    return _environment(autoescape).get_template(template).render(
        view=view, sections=_sections(view), serve_url=MAKE_SERVE_URL, chart_width=CHART_WIDTH)


def render_markdown(run: RunData) -> str:
    text = _document("conformance.md.jinja", build_view(run), autoescape=False)
    return re.sub(r"\n{3,}", "\n\n", text).rstrip() + "\n"


def render_html(run: RunData) -> str:
    return _document("conformance.html.jinja", build_view(run), autoescape=True)


def default_base_url(run: RunData) -> str:
    """Where a repro script sends its requests unless ``BASE_URL`` says otherwise."""
    return MAKE_SERVE_URL if run.in_process else run.target


def render_script(run: RunData, failure_id: str, record: FailureRecord, steps: Sequence[Step],
                  path: PurePath) -> str:
    return _environment(False).get_template("repro.sh.jinja").render(
        run=run, id=failure_id, record=record, steps=steps, path=path,
        rule_text=rule_text(record), saw=record.message.splitlines()[0] if record.message else "",
        base_url=default_base_url(run), credentials={s.credential for s in steps},
        captures=any(s.captures for s in steps),
        placeholder=RUN_PLACEHOLDER, unknown_token=CREDENTIAL_PLACEHOLDERS["unknown"],
    )


def _coverage_line(view: ReportView) -> str:
    reached = total = 0
    for coverage in view.coverages:
        for dimension in DIMENSIONS:
            done, of = coverage.reached(dimension)
            reached, total = reached + done, total + of
    return (f"coverage: {reached} of {total} documented items exercised (status codes, "
            "instruction outcomes, tier-2 rules, parameters, optional fields; the report's "
            "Coverage)")


def _file_lines(view: ReportView) -> list[str]:
    """The coverage gate's, the baseline's and the comparison's lines."""
    run, lines = view.run, []
    if run.gate_file is not None:
        lines.append(f"coverage gaps: {len(view.gaps)} ({run.gate_file})")
        lines += [f"COVERAGE GAP {g.operation}: {g.dimension} {g.item} (required at "
                  f"{run.gate_file}:{g.line})" for g in view.gaps[:10]]
        if len(view.gaps) > 10:
            lines.append(f"… and {len(view.gaps) - 10} more coverage gaps (see the report)")
    for d in view.deviations:
        if d.state == "expired":
            lines.append(f"WARNING known deviation {run.known_file}:{d.entry.line} "
                         f"({d.entry.rule} on {d.entry.operation}) expired {d.entry.expires}: "
                         f"it excuses nothing (failures it matches: {len(d.failures)}): renew or "
                         "remove it")
        elif d.state == "stale":
            lines.append(f"WARNING known deviation {run.known_file}:{d.entry.line} "
                         f"({d.entry.rule} on {d.entry.operation}) matched no failure of this "
                         "run: remove it")
    if view.comparison is not None:
        lines.append(f"compared with {view.comparison.summary}")
        lines += [f"{change.upper()} {test}: {rule} ({operation})"
                  for change, rule, operation, test, _ in view.comparison.failures
                  if change in ("new", "fixed")][:10]
    return lines


def summary_lines(run: RunData, files: Sequence[Path]) -> list[str]:
    """The terminal summary: status, totals, per tier, throughput, failures, files, re-run."""
    view = build_view(run)
    overview = dict(view.overview)
    lines = [
        (f"target {run.target}; seed {run.seed} (--hypothesis-seed={run.seed}); "
         f"{run.examples_per_test} examples per test"),
        view.banner,
        f"tests: {overview['tests']}; operation checks (tier 1): {counted(view.totals.checks)}",
        " | ".join(f"{tier}: {cell.text.replace('·', 'none')}"
                   for tier, cell in zip(view.tiers, view.matrix[-1].cells, strict=True)),
        (f"{run.examples_run} examples, {run.requests} requests in {run.duration_s:.1f} s: "
         f"{run.per_second(run.examples_run):.1f} examples/s, "
         f"{run.per_second(run.requests):.1f} requests/s"),
        (f"contract failures: {len(view.failures)}"
         + (f" ({len(run.known_failures)} known)" if run.known_failures else "")
         + f"; infrastructure failures: {len(view.infrastructure)} (not contract failures); "
         f"network retries: {overview['network retries']}"),
        _coverage_line(view),
    ]
    if view.not_run:
        by_tier = Counter[str]()
        for tier, _, count in view.not_run:
            by_tier[tier] += count
        lines.append("not run: " + ", ".join(f"{tier}: {n}" for tier, n in by_tier.items())
                     + " tests (by operation: the report's \"Not run\")")
    if view.choices:
        lines.append("open points (answers the documents allow): " + "; ".join(
            f"{point}: {answer} ×{n}" for point, answer, n in view.choices))
    lines += _file_lines(view)
    for failure in view.failures[:10]:
        known = failure.record.known
        lines.append(f"{'KNOWN' if known else 'FAILED'} {failure.record.test}: "
                     f"{failure.record.rule} ({failure.record.tier})"
                     + (f"; known deviation: {known}" if known else "")
                     + (f"; repro: bash {failure.script}" if failure.script else ""))
    if len(view.failures) > 10:
        lines.append(f"… and {len(view.failures) - 10} more failures (see the report)")
    for failure in view.infrastructure[:5]:
        lines.append(f"INFRA {failure.record.test}: "
                     f"{failure.record.message.splitlines()[0][:160]}")
    if len(view.infrastructure) > 5:
        lines.append(f"… and {len(view.infrastructure) - 5} more infrastructure failures "
                     "(see the report)")
    if files:
        lines.append("reports: " + ", ".join(str(f) for f in files))
    lines.append(f"re-run: {run.rerun}")
    return lines
