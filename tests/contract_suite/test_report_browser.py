"""The HTML report in a real browser: headless Chromium (Debian's `chromium`) loads the report
of a real failing run and dumps the DOM it built; the test reads it with the standard library:
the banner, every in-page link resolving to an element, every failure reachable from the
operations × tiers matrix, every matrix row linking to its coverage. A screenshot is kept in
reports/ (`--screenshot`)."""

from __future__ import annotations

import html.parser
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from suite_helpers import ROOT, Run

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOT = ROOT / "reports" / "conformance-browser.png"  # reports/ is ignored by git
HEADLESS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"]

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).is_file(),
    reason="headless Chromium is not installed: apt-get install -y chromium (Debian's package, "
    "/usr/bin/chromium; .ci/run installs it)")


def _chromium(page: Path, profile: Path, *options: str) -> str:
    """Chromium with a fresh profile, on the file; its standard output."""
    done = subprocess.run([CHROMIUM, *HEADLESS, f"--user-data-dir={profile}", *options,
                           page.as_uri()], capture_output=True, text=True, timeout=90,
                          check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


class _Dom(html.parser.HTMLParser):
    """What the test needs of the DOM: ids, links (and which sit in the matrix), the banner."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: list[str] = []
        self.links: list[str] = []
        self.matrix_links: list[str] = []
        self.matrix_rows: list[list[str]] = []  # the links of each row
        self.banner_class = self.banner = ""
        self._section = ""
        self._in_banner = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {name: value or "" for name, value in attrs}
        if "id" in found:
            self.ids.append(found["id"])
        if tag == "h2":
            self._section = found.get("id", "")
        if tag == "p" and "banner" in found.get("class", "").split():
            self.banner_class, self._in_banner = found["class"], True
        in_matrix = self._section == "operations--tiers"
        if in_matrix and tag == "tr":
            self.matrix_rows.append([])
        if tag == "a" and found.get("href", "").startswith("#"):
            self.links.append(found["href"][1:])
            if in_matrix and self.matrix_rows:
                self.matrix_links.append(found["href"][1:])
                self.matrix_rows[-1].append(found["href"][1:])

    def handle_endtag(self, tag: str) -> None:
        if tag == "p":
            self._in_banner = False

    def handle_data(self, data: str) -> None:
        if self._in_banner:
            self.banner += data


@pytest.fixture(scope="module")
def dom(broken_run: tuple[Path, Run], tmp_path_factory: pytest.TempPathFactory) -> _Dom:
    reports, _ = broken_run
    parsed = _Dom()
    parsed.feed(_chromium(reports / "conformance.html", tmp_path_factory.mktemp("profile"),
                          "--dump-dom"))
    assert parsed.ids, "Chromium dumped no DOM"
    return parsed


def test_the_banner_says_failed_with_the_known_deviation(dom: _Dom) -> None:
    assert dom.banner_class.split() == ["banner", "failed"]
    assert dom.banner.startswith(
        "FAILED: 2 contract failures; 1 of them known deviations, 0 infrastructure failures.")


def test_every_link_goes_to_an_element_of_the_page(dom: _Dom) -> None:
    assert len(dom.ids) == len(set(dom.ids)), "duplicate ids"
    assert dom.links and set(dom.links) <= set(dom.ids)


def test_every_failure_is_reachable_from_the_matrix(broken_run: tuple[Path, Run],
                                                    dom: _Dom) -> None:
    reports, _ = broken_run
    failures = [f["id"] for f in json.loads((reports / "results.json").read_text())["failures"]]
    assert len(failures) == 2
    assert set(failures) <= set(dom.matrix_links) and set(failures) <= set(dom.ids)


def test_every_matrix_row_links_to_its_coverage(dom: _Dom) -> None:
    rows = [links for links in dom.matrix_rows if links]
    assert len(rows) >= 18
    for links in rows:
        coverage = [link for link in links if link.startswith("coverage")]
        assert coverage and coverage[0] in dom.ids


def test_a_screenshot_is_saved_in_reports(broken_run: tuple[Path, Run], tmp_path: Path) -> None:
    reports, _ = broken_run
    SCREENSHOT.parent.mkdir(exist_ok=True)
    SCREENSHOT.unlink(missing_ok=True)
    _chromium(reports / "conformance.html", tmp_path / "profile", "--window-size=1280,2400",
              f"--screenshot={SCREENSHOT}")
    assert SCREENSHOT.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
