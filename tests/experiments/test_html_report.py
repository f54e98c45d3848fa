"""report.html: one self-contained page with the sortable results table and the embedded plots."""

from __future__ import annotations

import base64
from html.parser import HTMLParser

from dynadrop.experiments.plots import PLOT_FILES
from dynadrop.experiments.report import overview_rows, write_report
from tests.experiments.test_report import comparison  # noqa: F401  (the fixture)


class Page(HTMLParser):
    """The parts of report.html the test checks: the results table, images, scripts, links."""

    def __init__(self) -> None:
        super().__init__()
        self.headers: list[tuple[str, dict[str, str | None]]] = []
        self.rows: list[list[str]] = []
        self.images: dict[str, str] = {}
        self.scripts: list[str] = []
        self.external: list[str] = []
        self._in_results = self._in_script = False
        self._cell: list[str] | None = None
        self._header: dict[str, str | None] | None = None

    def handle_starttag(self, tag, attrs):  # noqa: ANN001
        attributes = dict(attrs)
        if tag == "table":
            self._in_results = attributes.get("id") == "results"
        elif self._in_results and tag == "tr":
            self.rows.append([])
        elif self._in_results and tag in ("td", "th"):
            self._cell = []
            self._header = attributes if tag == "th" else None
        elif tag == "img":
            self.images[attributes["alt"]] = attributes["src"]
        elif tag == "script":
            self._in_script = True
            if "src" in attributes:
                self.external.append(attributes["src"])
        elif tag == "link":
            self.external.append(attributes.get("href", ""))

    def handle_endtag(self, tag):  # noqa: ANN001
        if tag == "table":
            self._in_results = False
        elif tag in ("td", "th") and self._cell is not None:
            text = "".join(self._cell)
            if self._header is not None:
                self.headers.append((text, self._header))
            else:
                self.rows[-1].append(text)
            self._cell = None
        elif tag == "script":
            self._in_script = False

    def handle_data(self, data):  # noqa: ANN001
        if self._cell is not None:
            self._cell.append(data)
        if self._in_script:
            self.scripts.append(data)


def test_html_report_has_the_sortable_table_and_embedded_plots(comparison):  # noqa: F811
    analysis = write_report(comparison)
    page = Page()
    page.feed((comparison / "report.html").read_text())
    headers, rows = overview_rows(analysis)
    assert [text for text, _ in page.headers] == headers
    assert all("data-sort" in attributes for _, attributes in page.headers)
    assert [row for row in page.rows if row] == rows
    assert [row[0] for row in rows] == list(analysis.plan.labels)
    script = "".join(page.scripts)
    assert "th[data-sort]" in script and 'addEventListener("click"' in script
    assert set(page.images) == set(PLOT_FILES)
    for source in page.images.values():
        prefix = "data:image/png;base64,"
        assert source.startswith(prefix)
        assert base64.b64decode(source[len(prefix):]).startswith(b"\x89PNG\r\n\x1a\n")
    assert page.external == []  # self-contained: no stylesheet or script to fetch
