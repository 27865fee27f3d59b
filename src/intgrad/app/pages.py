"""HTML of the app's pages: one layout, escaped data, pictures inline, no external resource.

Every piece of user or model text goes through :func:`esc`; pages load nothing from outside
the app (no fonts, scripts or styles from the network), so they render offline and their
exports are self-contained.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Iterable, Sequence
from typing import Any

__all__ = [
    "NAV",
    "STYLE",
    "data_uri",
    "error_box",
    "esc",
    "export_links",
    "job_page",
    "layout",
    "options",
    "standalone",
]

#: The views, in the navigation bar's order: (path, label).
NAV: tuple[tuple[str, str], ...] = (
    ("/photos", "Photos"),
    ("/text", "Text"),
    ("/tables", "Tables"),
    ("/datasets", "Datasets & drift"),
)

STYLE = """
:root { --fg: #1d2330; --muted: #5b6475; --line: #d9dde5; --bg: #f6f7f9; --accent: #2856c7;
  --bad: #a3211f; --good: #1f7a3a; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif;
  color: var(--fg); background: var(--bg); }
header { background: #fff; border-bottom: 1px solid var(--line); padding: 0.6rem 1.2rem;
  display: flex; gap: 1.5rem; align-items: baseline; flex-wrap: wrap; }
header .brand { font-weight: 700; font-size: 1.1rem; color: var(--fg); text-decoration: none; }
header nav a { margin-right: 1rem; color: var(--muted); text-decoration: none; }
header nav a.active { color: var(--accent); font-weight: 600; }
main { max-width: 1180px; margin: 0 auto; padding: 1rem 1.2rem 3rem; }
h1 { font-size: 1.35rem; margin: 0.6rem 0 0.8rem; }
h2 { font-size: 1.1rem; margin: 1.2rem 0 0.5rem; }
.card { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 1rem;
  margin-bottom: 1rem; }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(260px, 1fr)); gap: 1rem; }
.pair { display: grid; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr)); gap: 1rem; }
form.controls { display: grid; grid-template-columns: repeat(auto-fit, minmax(200px, 1fr));
  gap: 0.6rem 1rem; align-items: end; }
label { display: flex; flex-direction: column; font-size: 0.85rem; color: var(--muted);
  gap: 0.2rem; }
input, select, textarea, button { font: inherit; }
input, select, textarea { padding: 0.3rem 0.4rem; border: 1px solid var(--line);
  border-radius: 5px; background: #fff; color: var(--fg); }
textarea { width: 100%; min-height: 6rem; }
button { background: var(--accent); color: #fff; border: 0; border-radius: 5px;
  padding: 0.45rem 0.9rem; cursor: pointer; }
button.secondary { background: #fff; color: var(--accent); border: 1px solid var(--accent); }
.wide { grid-column: 1 / -1; }
.error { border-left: 4px solid var(--bad); background: #fff4f3; padding: 0.6rem 0.9rem;
  border-radius: 5px; margin: 0.6rem 0; color: var(--bad); }
.note { color: var(--muted); font-size: 0.85rem; }
.good { color: var(--good); } .bad { color: var(--bad); }
table.numbers { border-collapse: collapse; font-variant-numeric: tabular-nums; }
table.numbers td, table.numbers th { padding: 0.2rem 0.6rem; border-bottom: 1px solid var(--line);
  text-align: right; }
table.numbers td:first-child, table.numbers th:first-child { text-align: left; }
img.picture { max-width: 100%; height: auto; border: 1px solid var(--line); border-radius: 4px;
  image-rendering: auto; }
figure { margin: 0; } figcaption { font-size: 0.85rem; color: var(--muted); }
progress { width: 100%; height: 1.1rem; }
.exports a { margin-right: 0.8rem; }
"""

_POLL_SCRIPT = """
(function () {
  const root = document.getElementById("job");
  const bar = document.getElementById("job-progress");
  const label = document.getElementById("job-progress-label");
  const statusUrl = root.dataset.status;
  async function poll() {
    let status;
    try { status = await (await fetch(statusUrl, {cache: "no-store"})).json(); }
    catch (e) { setTimeout(poll, 1000); return; }
    if (status.total > 0) { bar.max = status.total; bar.value = status.done; }
    const counted = status.total > 0 ? " — " + status.done + " of at most " + status.total
      + (status.unit ? " " + status.unit : "") : "";
    label.textContent = status.state + counted + (status.note ? " — " + status.note : "");
    if (status.state === "queued" || status.state === "running") { setTimeout(poll, 250); }
    else { window.location.reload(); }
  }
  document.getElementById("job-cancel").addEventListener("click", async function () {
    this.disabled = true;
    await fetch(root.dataset.cancel, {method: "POST"});
  });
  poll();
})();
"""


def esc(value: object) -> str:
    """``value`` as text, escaped for HTML content and attribute values."""
    return html.escape(str(value), quote=True)


def data_uri(png: bytes) -> str:
    """A PNG file as a ``data:`` URI, for pictures inside self-contained pages."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def options(choices: Iterable[tuple[str, str]], selected: str | None) -> str:
    """``<option>`` elements from (value, label) pairs, ``selected`` marked."""
    return "".join(
        f'<option value="{esc(value)}"{" selected" if value == selected else ""}>'
        f"{esc(label)}</option>"
        for value, label in choices
    )


def error_box(message: str) -> str:
    """A visible one-line error message (``role="alert"`` for assistive technology)."""
    return f'<div class="error" role="alert" data-testid="error">{esc(message)}</div>'


def layout(title: str, body: str, *, active: str | None = None) -> str:
    """A complete page of the app: header with the views, then ``body`` (trusted HTML)."""
    current = ' class="active"'
    links = "".join(
        f'<a href="{path}"{current if path == active else ""}>{esc(label)}</a>'
        for path, label in NAV
    )
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{esc(title)} · intgrad</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
        f'<header><a class="brand" href="/">intgrad</a><nav>{links}</nav></header>\n'
        f"<main>\n{body}\n</main>\n</body>\n</html>\n"
    )


def standalone(title: str, body: str) -> str:
    """A self-contained page (the exports): the app's styles, no navigation, no script."""
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{esc(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
        f"<main>\n{body}\n</main>\n</body>\n</html>\n"
    )


def export_links(job_id: str, pictures: Sequence[str] = ()) -> str:
    """Links to a job's exports: HTML, JSON and each PNG."""
    base = f"/jobs/{esc(job_id)}"
    links = [
        f'<a href="{base}/export.html" download data-testid="export-html">HTML</a>',
        f'<a href="{base}/export.json" download data-testid="export-json">JSON</a>',
    ]
    links += [
        f'<a href="{base}/pictures/{esc(name)}" download>{esc(name)}</a>' for name in pictures
    ]
    return f'<p class="exports note">Export: {"".join(links)}</p>'


def job_page(job: Any, back: str) -> str:
    """The body of a job's page: progress and cancel while it runs, then its result or error."""
    title = f"<h1>{esc(job.title)}</h1>"
    if job.state in ("queued", "running"):
        status_url, cancel_url = f"/jobs/{esc(job.id)}/status", f"/jobs/{esc(job.id)}/cancel"
        return (
            f'{title}<div class="card" id="job" data-status="{status_url}" '
            f'data-cancel="{cancel_url}" data-state="{esc(job.state)}">'
            '<progress id="job-progress" value="0" max="1"></progress>'
            f'<p id="job-progress-label" class="note">{esc(job.state)}</p>'
            '<button type="button" class="secondary" id="job-cancel">Cancel</button>'
            f"</div><script>{_POLL_SCRIPT}</script>"
        )
    if job.state == "failed":
        return f'{title}{error_box(job.error or "failed")}<p><a href="{esc(back)}">Back</a></p>'
    if job.state == "cancelled":
        return (
            f'{title}<div class="card" data-testid="cancelled">Cancelled.</div>'
            f'<p><a href="{esc(back)}">Back</a></p>'
        )
    result = job.result
    title = f"<h1>{esc(result.title)}</h1>"
    return (
        f'{title}<div id="result" data-state="done">{result.html(job.id)}</div>'
        f"{export_links(job.id, sorted(result.pictures()))}"
    )
