"""The conformance report: one run model (model.py), built by a pytest plugin (plugin.py) from
the suite's outcomes and the exceptions its checks raise (failures.py), rendered as Markdown and
HTML (templates/, render.py), results.json (results.py), JUnit properties (junit.py), repro
scripts (repro.py) and the terminal summary. docs/contract-suite.md, "Reports"."""

from .failures import Violation, reproduction, violations_of
from .files import REPORT_FILES, discard_reports
from .model import ALL_OPERATIONS, TIERS, FailureRecord, Result, RunData
from .plugin import RUN, ConformanceReport
from .redact import scrub_files
from .render import render_html, render_markdown, summary_lines
from .results import SCHEMA_PATH, results_document

__all__ = [
    "ALL_OPERATIONS", "REPORT_FILES", "RUN", "SCHEMA_PATH", "TIERS", "ConformanceReport",
    "FailureRecord", "Result", "RunData", "Violation", "discard_reports", "render_html",
    "render_markdown", "reproduction", "results_document", "scrub_files", "summary_lines",
    "violations_of",
]
