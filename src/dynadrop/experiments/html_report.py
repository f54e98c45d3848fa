"""``report.html``: the comparison as one self-contained page to open in a browser.

The results table (sortable: click a column header; numbers sort by their leading value, missing
ones last), the schedules, the runs without results, and every plot of ``plots/`` embedded as a
base64 PNG, so the file can be mailed or attached on its own.
"""

from __future__ import annotations

import base64
from html import escape
from pathlib import Path

from dynadrop.experiments.analysis import Analysis
from dynadrop.experiments.plots import PLOT_FILES
from dynadrop.experiments.records import write_text_atomic

HTML_FILE = "report.html"

STYLE = """\
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: left; }
th[data-sort] { cursor: pointer; background: #f3f3f3; user-select: none; }
th[aria-sort="ascending"]::after { content: " \\25B2"; }
th[aria-sort="descending"]::after { content: " \\25BC"; }
img { max-width: 100%; border: 1px solid #eee; margin: 0.5em 0; }
code { background: #f6f6f6; padding: 0 0.2em; }"""

# Click a header: sort its column (numbers by their leading value, text alphabetically, blanks last).
SORT_SCRIPT = """\
document.querySelectorAll("table.sortable").forEach(function (table) {
  table.querySelectorAll("th[data-sort]").forEach(function (header, column) {
    header.addEventListener("click", function () {
      var ascending = header.getAttribute("aria-sort") !== "ascending";
      table.querySelectorAll("th[data-sort]").forEach(function (h) { h.removeAttribute("aria-sort"); });
      header.setAttribute("aria-sort", ascending ? "ascending" : "descending");
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      rows.sort(function (a, b) {
        var x = a.cells[column].textContent, y = b.cells[column].textContent;
        var u = parseFloat(x), v = parseFloat(y);
        if (isNaN(u) !== isNaN(v)) { return isNaN(u) ? 1 : -1; }
        var order = isNaN(u) ? x.localeCompare(y) : u - v;
        return ascending ? order : -order;
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
});"""


def write_html_report(out_dir: Path, analysis: Analysis, headers: list[str], rows: list[list[str]],
                      legend: str) -> Path:
    """Write ``report.html`` in ``out_dir``: the results table ``headers`` x ``rows``, its ``legend``."""
    plan = analysis.plan
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        "<title>Dynamic dropout comparison</title>",
        f"<style>\n{STYLE}\n</style></head><body>",
        "<h1>Dynamic dropout comparison</h1>",
        f"<p>Preset <code>{escape(plan.preset)}</code>; seeds {escape(', '.join(map(str, plan.seeds)))}; "
        f"baseline <code>{escape(plan.baseline)}</code>. Runs finished: "
        f"{len(analysis.runs)}/{len(plan.run_keys())}. Details, confidence intervals and how to read "
        'them: <a href="report.md">report.md</a>.</p>',
        "<h2>Results</h2>",
        f"<p>{escape(legend)} Click a column to sort.</p>",
        _table(headers, rows, table_id="results", sortable=True),
        "<h2>Schedules</h2>",
        _table(["label", "spec"], [[entry.label, entry.spec] for entry in plan.schedules]),
    ]
    if analysis.problems:
        parts.append("<h2>Runs without results</h2><ul>")
        parts += [f"<li><code>{escape(str(problem.key))}</code>: {escape(problem.message)}</li>"
                  for problem in analysis.problems]
        parts.append("</ul>")
    parts.append("<h2>Plots</h2>")
    for name in PLOT_FILES:
        path = out_dir / "plots" / name
        if path.is_file():
            data = base64.b64encode(path.read_bytes()).decode("ascii")
            parts.append(f'<figure><img alt="{escape(name)}" src="data:image/png;base64,{data}">'
                         f"<figcaption>{escape(name)}</figcaption></figure>")
    parts += [f"<script>\n{SORT_SCRIPT}\n</script>", "</body></html>"]
    path = out_dir / HTML_FILE
    write_text_atomic(path, "\n".join(parts) + "\n")
    return path


def _table(headers: list[str], rows: list[list[str]], table_id: str | None = None,
           sortable: bool = False) -> str:
    attributes = (f' id="{table_id}"' if table_id else "") + (' class="sortable"' if sortable else "")
    sort = " data-sort" if sortable else ""
    head = "".join(f"<th{sort}>{escape(header)}</th>" for header in headers)
    body = "\n".join("<tr>" + "".join(f"<td>{escape(cell)}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table{attributes}><thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody></table>"
