"""The report files on disk: their names, writing them, and removing an earlier run's.

Reports of an earlier run left in place would read as this run's, so they are removed when a
session starts (and when the pre-flight stops a run: preflight.py, run.py) and only written
again once the run has a result, complete or not.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from .model import REPRO_DIR, RunData
from .render import render_html, render_markdown, render_script
from .repro import script_steps
from .results import results_text

__all__ = ["REPORT_FILES", "REPRO_DIR", "discard_reports", "write_reports"]

REPORT_FILES = ("conformance.md", "conformance.html", "results.json", "junit.xml")


def discard_reports(directory: Path) -> None:
    """Remove the reports of an earlier run from `directory` (and nothing else there)."""
    for name in REPORT_FILES:
        (directory / name).unlink(missing_ok=True)
    shutil.rmtree(directory / REPRO_DIR, ignore_errors=True)


def write_reports(run: RunData, redact: Callable[[str], str]) -> list[Path]:
    """conformance.md, conformance.html, results.json and the repro scripts, in the run's
    reports directory, each redacted; returns the files written."""
    directory = Path(run.reports_dir)
    directory.mkdir(parents=True, exist_ok=True)
    texts = {directory / "conformance.md": render_markdown(run),
             directory / "conformance.html": render_html(run),
             directory / "results.json": results_text(run)}
    for failure_id, record in run.identified(run.contract_failures):
        if record.repro is not None:
            path = Path(run.repro_script(failure_id))
            texts[path] = render_script(run, failure_id, record, script_steps(record.repro),
                                        path)
    for path, text in texts.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(redact(text), encoding="utf-8")
        if path.suffix == ".sh":
            path.chmod(0o755)
    return list(texts)
