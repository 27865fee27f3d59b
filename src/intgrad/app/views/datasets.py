"""The datasets and drift view: open a dataset job's summary, compare two for drift.

Summaries come from two places, never from a path the client sends: the server's folders
(``AppConfig.summary_dirs``; every ``summary.json`` in a folder, in its sub-folders and in
theirs, each listed by its folder's name relative to the configured one) and uploads (a
``summary.json`` file, checked when it arrives, kept in memory by a random token). The client
sends a listed name or ``upload:TOKEN``; anything else is refused before a file is touched.

Opening a summary is a job (the file may be large): its counts, the top features by mean
``|a|`` with signed mean, standard error and quantiles, and the global plots that
``intgrad tabular explain`` / ``intgrad dataset`` draw (the beeswarm and dependence plots
too, for a table job whose folder keeps its per-row shards). Comparing two is a job too: the
verdict of :func:`intgrad.datasets.compare` and the report's own HTML page.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from intgrad.app.forms import BadRequest, number, text_field, upload, whole_number
from intgrad.app.jobs import Progress, ViewResult
from intgrad.app.pages import esc, layout, options
from intgrad.app.state import AppState
from intgrad.app.views._datasets_render import DriftResult, summary_view
from intgrad.datasets import SUMMARY_FILE, DatasetSummary, DriftThresholds, compare, parse_group

__all__ = ["PATH", "SUMMARY", "TITLE", "SummaryRef", "parse_summary", "routes", "summary_catalog"]

PATH = "/datasets"
TITLE = "Datasets & drift"
SUMMARY = (
    "Open a dataset job's summary (global importance, cohorts, classes) and compare two "
    "summaries for attribution drift."
)

UPLOAD_PREFIX = "upload:"
_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,64}")
_MAX_LISTED = 500
_MAX_UPLOADS_SHOWN = 16
_MAX_NAME = 1_000


@dataclass(frozen=True)
class SummaryRef:
    """A summary the client chose: what it sent, what the page calls it, where its bytes are.

    Attributes:
        value: what the client sent (a listed name, or ``upload:TOKEN``).
        label: the name shown.
        path: the server-side file (listed summaries), else None.
        data: the uploaded bytes (uploads), else None.
    """

    value: str
    label: str
    path: Path | None = None
    data: bytes | None = None

    def load(self) -> DatasetSummary:
        """Read and check the summary (``BadRequest``, a ``ValueError``, naming it by label)."""
        data = self.data
        if self.path is not None:
            try:
                data = self.path.read_bytes()
            except OSError as error:  # the message would show the server's path: not shown
                message = f"summary {self.label!r} could not be read ({error.strerror})"
                raise BadRequest(message) from None
        assert data is not None
        return parse_summary(self.label, data)


def summary_catalog(dirs: Sequence[Path]) -> dict[str, Path]:
    """The ``summary.json`` files in ``dirs`` and up to two levels of sub-folders, by name.

    A file's name is its folder relative to the configured folder (``adult/train``); a file
    directly in a configured folder is named after that folder. With several configured
    folders each name starts with its folder's name; hidden folders are skipped.
    """
    catalog: dict[str, Path] = {}
    for root in dirs:
        root = Path(root)
        if not root.is_dir():
            continue
        files = [root / SUMMARY_FILE]
        files += sorted(root.glob(f"*/{SUMMARY_FILE}")) + sorted(root.glob(f"*/*/{SUMMARY_FILE}"))
        for file in files:
            folder = file.parent.relative_to(root)
            if any(part.startswith(".") for part in folder.parts) or not file.is_file():
                continue
            name = root.name if not folder.parts else folder.as_posix()
            if len(dirs) > 1 and folder.parts:
                name = f"{root.name}/{name}"
            unique, copy = name, 2
            while unique in catalog:
                unique, copy = f"{name} ({copy})", copy + 1
            catalog[unique] = file
            if len(catalog) >= _MAX_LISTED:
                return catalog
    return catalog


def parse_summary(label: str, data: bytes) -> DatasetSummary:
    """The dataset summary in ``data`` (a ``summary.json``'s bytes).

    Raises:
        BadRequest: not UTF-8, not JSON, or not an intgrad dataset summary; one line naming
            ``label``.
    """
    try:
        content = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise BadRequest(f"{label}: not a dataset summary (not UTF-8 text)") from None
    except json.JSONDecodeError as error:
        raise BadRequest(
            f"{label}: not a dataset summary (not JSON: {error.msg} at line {error.lineno})"
        ) from None
    except RecursionError:
        raise BadRequest(f"{label}: not a dataset summary (JSON nested too deeply)") from None
    if not isinstance(content, dict):
        raise BadRequest(f"{label}: not an intgrad dataset summary (not a JSON object)")
    try:
        return DatasetSummary.from_dict(content)
    except KeyError as error:
        raise BadRequest(f"{label}: a dataset summary without the field {error}") from None
    except ValueError as error:  # the library's own message says what is wrong
        raise BadRequest(f"{label}: {str(error).strip() or 'not a dataset summary'}") from None
    except (TypeError, AttributeError, IndexError, OverflowError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise BadRequest(f"{label}: not a valid dataset summary ({first})") from None


def _upload_label(state: AppState, token: str) -> str | None:
    kept = state.uploads.get(token) if _TOKEN.fullmatch(token) else None
    if kept is None:
        return None
    name = kept[0] if len(kept[0]) <= 80 else kept[0][:77] + "..."
    return f"{name} (uploaded)"


def resolve(state: AppState, field: str, form: FormData) -> SummaryRef:
    """The summary that form field ``field`` names (a listed name or ``upload:TOKEN``).

    Raises:
        BadRequest: missing, unknown, or an upload no longer kept; nothing is read.
    """
    value = text_field(form, field, max_chars=_MAX_NAME, required=True)
    if value.startswith(UPLOAD_PREFIX):
        token = value[len(UPLOAD_PREFIX) :]
        kept = state.uploads.get(token) if _TOKEN.fullmatch(token) else None
        if kept is None:
            raise BadRequest(f"{field}: the uploaded summary is no longer kept; upload it again")
        return SummaryRef(value, _upload_label(state, token) or token, data=kept[1])
    catalog = summary_catalog(state.config.summary_dirs)
    if value not in catalog:
        known = ", ".join(list(catalog)[:20]) or "none: upload a summary.json"
        raise BadRequest(f"{field}: no summary named {value!r} (summaries: {known})")
    return SummaryRef(value, value, path=catalog[value])


def _group(form: FormData) -> str | None:
    text = text_field(form, "group", max_chars=_MAX_NAME)
    if not text:
        return None
    try:
        parse_group(text)
    except ValueError as error:
        raise BadRequest(f"group: {error}") from None
    return text


def _min_count(form: FormData) -> int | None:
    text = text_field(form, "min_count", "auto", max_chars=20) or "auto"
    return None if text == "auto" else whole_number(form, "min_count", 1, 1, 10**9)


def _uploaded_tokens(values: Sequence[str], state: AppState) -> list[str]:
    tokens = [v for v in dict.fromkeys(values) if _upload_label(state, v) is not None]
    return tokens[-_MAX_UPLOADS_SHOWN:]


def _choices(state: AppState, tokens: Sequence[str]) -> list[tuple[str, str]]:
    listed = [(name, name) for name in summary_catalog(state.config.summary_dirs)]
    uploaded = [(UPLOAD_PREFIX + t, _upload_label(state, t) or t) for t in tokens]
    return listed + uploaded


def _list_card(choices: Sequence[tuple[str, str]], configured: bool) -> str:
    if not choices:
        where = "its folders hold no summary.json" if configured else "no summary folder is set"
        return (
            f'<div class="card"><h2>Summaries</h2><p class="note" data-testid="no-summaries">'
            f"None yet ({where}: start the app with <code>--summaries FOLDER</code>, or upload "
            "one below).</p></div>"
        )
    rows = "".join(
        f'<li data-testid="summary-choice" data-name="{esc(value)}">'
        f'<form method="post" action="{PATH}/open" style="display:inline">'
        f'<input type="hidden" name="summary" value="{esc(value)}">'
        f'<button type="submit" class="secondary">Open</button></form> {esc(label)}</li>'
        for value, label in choices
    )
    return (
        '<div class="card"><h2>Summaries</h2><p class="note">Written by <code>intgrad tabular '
        "explain</code>, <code>intgrad dataset</code> or <code>explain_dataset</code>.</p>"
        f'<ul style="list-style:none;padding:0;display:grid;gap:0.3rem">{rows}</ul></div>'
    )


def _upload_card(tokens: Sequence[str]) -> str:
    kept = "".join(f'<input type="hidden" name="keep" value="{esc(t)}">' for t in tokens)
    return (
        '<div class="card"><h2>Upload a summary</h2>'
        f'<form class="controls" method="post" action="{PATH}/upload" '
        'enctype="multipart/form-data">'
        '<label>summary.json<input type="file" name="file" accept=".json,application/json" '
        f'data-testid="summary-upload" required></label>{kept}'
        '<button type="submit" data-testid="upload-summary">Upload</button></form></div>'
    )


def _compare_card(choices: Sequence[tuple[str, str]]) -> str:
    if not choices:
        return ""
    values = [value for value, _ in choices]
    current = values[1] if len(values) > 1 else values[0]
    default_js = DriftThresholds().js
    return (
        '<div class="card"><h2>Compare two summaries (attribution drift)</h2>'
        f'<form class="controls" method="post" action="{PATH}/drift">'
        '<label>Reference<select name="reference" data-testid="drift-reference">'
        f"{options(choices, values[0])}</select></label>"
        '<label>Current<select name="current" data-testid="drift-current">'
        f"{options(choices, current)}</select></label>"
        f'<label>JS threshold<input name="js" value="{default_js:g}" inputmode="decimal" '
        'data-testid="drift-js"></label>'
        '<label>Group (optional)<input name="group" placeholder="cohort:sex=Male or class:&gt;50K">'
        '</label><button type="submit" data-testid="compare-summaries">Compare</button></form>'
        '<p class="note">A feature is flagged when its Jensen–Shannon divergence exceeds the '
        "threshold, when its mean |a| changes by more than 50%, or when one side lacks it.</p>"
        "</div>"
    )


def _form_page(state: AppState, tokens: Sequence[str]) -> str:
    choices = _choices(state, tokens)
    body = (
        f"<h1>{esc(TITLE)}</h1>"
        f"{_list_card(choices, bool(state.config.summary_dirs))}"
        f"{_upload_card(tokens)}{_compare_card(choices)}"
    )
    return layout(TITLE, body, active=PATH)


def _open_job(state: AppState, form: FormData) -> str:
    """Check the open form and submit its job; returns the job's id."""
    ref = resolve(state, "summary", form)
    group = _group(form)
    top = whole_number(form, "top", 20, 1, 500)
    least = _min_count(form)
    title = f"Summary {ref.label}" + (f" · {group}" if group else "")

    def work(progress: Progress) -> ViewResult:
        progress.note("reading the summary")
        summary = ref.load()
        progress.note("drawing the global plots")
        folder = ref.path.parent if ref.path is not None else None
        return summary_view(
            title, ref.label, ref.value, summary, group, top, least, progress.check, folder
        )

    return state.jobs.submit("datasets", title, work).id


def _drift_job(state: AppState, form: FormData) -> str:
    """Check the compare form and submit its job; returns the job's id."""
    reference, current = resolve(state, "reference", form), resolve(state, "current", form)
    thresholds = DriftThresholds(js=number(form, "js", DriftThresholds().js, 0.0, 1.0))
    group = _group(form)
    title = f"Drift {reference.label} → {current.label}" + (f" · {group}" if group else "")

    def work(progress: Progress) -> ViewResult:
        progress.note("reading the summaries")
        ref_summary, cur_summary = reference.load(), current.load()
        progress.note("comparing")
        report = compare(ref_summary, cur_summary, thresholds=thresholds, group=group)
        progress.check()
        # The sides' sources name the summaries as listed (the report would say "in memory").
        report = replace(
            report,
            reference=replace(report.reference, source=reference.label),
            current=replace(report.current, source=current.label),
        )
        return DriftResult(title, (reference.label, current.label), report)

    return state.jobs.submit("datasets", title, work).id


async def _store_upload(state: AppState, form: FormData) -> str:
    """Check an uploaded summary and keep it; returns the page listing it (and those kept)."""
    chosen = await upload(form, "file")
    if chosen is None:
        raise BadRequest("file: choose a summary.json to upload")
    name, data = chosen
    await run_in_threadpool(parse_summary, name, data)
    keep = [str(v) for v in form.getlist("keep") if isinstance(v, str)]
    tokens = [*_uploaded_tokens(keep, state), state.uploads.put(name, data)]
    return f"{PATH}?{urlencode([('uploaded', t) for t in tokens[-_MAX_UPLOADS_SHOWN:]])}"


def routes(state: AppState) -> list[Route]:
    """The view's routes: the page, an upload, opening a summary, comparing two."""

    async def page(request: Request) -> HTMLResponse:
        tokens = _uploaded_tokens(request.query_params.getlist("uploaded"), state)
        return HTMLResponse(_form_page(state, tokens))

    async def upload_summary(request: Request) -> Response:
        async with request.form() as form:  # closes the upload's temporary file, even on errors
            location = await _store_upload(state, form)
        return RedirectResponse(location, status_code=303)

    async def open_summary(request: Request) -> Response:
        async with request.form() as form:
            job_id = _open_job(state, form)
        return RedirectResponse(f"/jobs/{job_id}", status_code=303)

    async def drift(request: Request) -> Response:
        async with request.form() as form:
            job_id = _drift_job(state, form)
        return RedirectResponse(f"/jobs/{job_id}", status_code=303)

    return [
        Route(PATH, page),
        Route(f"{PATH}/upload", upload_summary, methods=["POST"]),
        Route(f"{PATH}/open", open_summary, methods=["POST"]),
        Route(f"{PATH}/drift", drift, methods=["POST"]),
    ]
