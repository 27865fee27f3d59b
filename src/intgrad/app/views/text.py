"""The Text view: type or paste a text; which words and tokens raised or lowered the output.

One text per explanation (line breaks are part of it). The form names a served model, the
class to explain, the baseline policy and the steps; the POST checks every field — the model
is loaded then (in a thread, once) so the target and the baseline are checked against its
labels and tokenizer — and submits a job calling :meth:`intgrad.text.TextExplainer.explain`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from intgrad.app.forms import BadRequest, choice, steps_field, text_field
from intgrad.app.jobs import Progress, ViewResult, one_line
from intgrad.app.pages import error_box, esc, layout, options
from intgrad.app.state import AppState
from intgrad.app.views._text_render import TextSettings, result_title, text_result
from intgrad.text import TEXT_BASELINES, check_baseline

__all__ = ["PATH", "SUMMARY", "TITLE", "routes"]

PATH = "/text"
TITLE = "Text"
SUMMARY = (
    "Type or paste a text: which words and tokens raised or lowered the classifier's output, "
    "with exact values and the completeness check."
)

EXAMPLE = "a gripping, beautifully acted film"
LEVELS: tuple[tuple[str, str], ...] = (
    ("both", "words and tokens"),
    ("words", "words"),
    ("tokens", "tokens"),
)
_BASELINE_LABELS = {
    "pad": "pad: the padding token",
    "unk": "unk: the unknown-word token",
    "mask": "mask: the mask token",
    "zero": "zero: zero word embeddings",
}
_CUSTOM = "custom"


def _load(state: AppState, model: str) -> Any:
    """The model's ``TextExplainer`` (loaded on first use); a load failure is a BadRequest."""
    try:
        return state.registry.session("text", model)
    except ValueError as error:
        raise BadRequest(f"model: {one_line(error)}") from None


def _baseline(form: FormData, session: Any, max_chars: int) -> str:
    """The baseline policy: a name of TEXT_BASELINES, or the custom field's token:/text:."""
    allowed = (*TEXT_BASELINES, _CUSTOM)
    baseline = text_field(form, "baseline", "pad", max_chars=200) or "pad"
    if baseline == _CUSTOM:
        baseline = text_field(form, "baseline_custom", max_chars=max_chars)
        if not baseline:
            raise BadRequest("baseline: 'custom' needs token:<token> or text:<text> in its field")
    elif baseline not in allowed and not baseline.startswith(("token:", "text:")):
        raise BadRequest(
            f"baseline: must be one of {', '.join(allowed)}, token:<token> or text:<text>, "
            f"got {baseline!r}"
        )
    try:
        check_baseline(baseline, session.model.tokenizer, session.layer)
    except (ValueError, TypeError) as error:
        message = one_line(error)
        prefix = "" if message.startswith("baseline") else "baseline: "
        raise BadRequest(prefix + message) from None
    return baseline


async def _settings(state: AppState, form: FormData) -> tuple[TextSettings, Any]:
    """Every field checked (BadRequest with a one-line message otherwise), and the session."""
    limit = state.config.max_text_chars
    text = text_field(form, "text", max_chars=limit)
    if not text:
        raise BadRequest("text: required — type or paste a text to explain")
    names = state.registry.names("text")
    if not names:
        raise BadRequest("model: no text model is served")
    model = choice(form, "model", names, names[0])
    steps, tolerance = steps_field(form, state.config.max_steps)
    level = choice(form, "level", [value for value, _ in LEVELS], "both")
    session = await run_in_threadpool(_load, state, model)
    target = choice(form, "target", ("predicted", *session.model.labels), "predicted")
    baseline = _baseline(form, session, limit)
    settings = TextSettings(
        text=text,
        model=model,
        target=target,
        baseline=baseline,
        steps=steps,
        tolerance=tolerance,
        max_steps=state.config.max_steps,
        level=level,
    )
    return settings, session


def _work(settings: TextSettings, session: Any) -> Any:
    """The job: explain the text with the library, then render the result once.

    The library reports after each chunk of gradient evaluations, so the bar moves during one
    long text and a cancel stops the path at the next chunk (``progress`` raises there).
    """

    def work(progress: Progress) -> ViewResult:
        progress.unit("gradient evaluations")
        progress.note("explaining the text")
        explanation = session.explain(
            settings.text,
            target=None if settings.target == "predicted" else settings.target,
            baseline=settings.baseline,
            steps=settings.steps,
            tolerance=settings.tolerance,
            max_steps=settings.max_steps,
            progress=progress,
        )
        progress.check()
        return text_result(explanation, session.model.tokenizer, settings)

    return work


def _prefill(query: Mapping[str, str], name: str, default: str) -> str:
    """A form value from the page's address (``/text?text=...``), shown escaped, never run."""
    return str(query.get(name, default))[:100_000]


def _labels(state: AppState, model: str) -> tuple[tuple[str, ...], str]:
    """The model's class labels for the target list, and an error line when it fails to load."""
    try:
        return tuple(state.registry.session("text", model).model.labels), ""
    except (ValueError, KeyError) as error:
        return (), one_line(error)


def _field(label: str, control: str, note: str = "", wide: bool = False) -> str:
    hint = f'<span class="note">{esc(note)}</span>' if note else ""
    wide_class = ' class="wide"' if wide else ""
    return f"<label{wide_class}>{esc(label)}{control}{hint}</label>"


async def _form_page(state: AppState, request: Request) -> HTMLResponse:
    query = request.query_params
    names = state.registry.names("text")
    model = _prefill(query, "model", names[0] if names else "")
    labels, problem = await run_in_threadpool(_labels, state, model) if names else ((), "")
    baselines = [(name, _BASELINE_LABELS.get(name, name)) for name in TEXT_BASELINES]
    baselines.append((_CUSTOM, "custom: token:<token> or text:<text>"))
    limit = state.config.max_text_chars
    targets = [("predicted", "the predicted class")] + [(label, label) for label in labels]
    fields = [
        _field(
            "Text",
            f'<textarea name="text" rows="4" placeholder="{esc(EXAMPLE)}" '
            f'data-testid="text-input">{esc(_prefill(query, "text", ""))}</textarea>',
            f"one text per explanation (line breaks are part of it), at most {limit} characters",
            wide=True,
        ),
        _field("Model", f'<select name="model">{options([(n, n) for n in names], model)}</select>'),
        _field(
            "Explain the class",
            f'<select name="target">{options(targets, _prefill(query, "target", "predicted"))}'
            "</select>",
        ),
        _field(
            "Baseline x′",
            f'<select name="baseline">{options(baselines, _prefill(query, "baseline", "pad"))}'
            "</select>",
        ),
        _field(
            "Custom baseline",
            f'<input name="baseline_custom" placeholder="token:the or text:a dull film" '
            f'value="{esc(_prefill(query, "baseline_custom", ""))}">',
            "used when the baseline is 'custom'",
        ),
        _field(
            "Steps",
            f'<input name="steps" value="{esc(_prefill(query, "steps", "auto"))}">',
            f"auto, or a count from 2 to {state.config.max_steps}",
        ),
        _field(
            "Tolerance (auto)",
            f'<input name="tolerance" value="{esc(_prefill(query, "tolerance", "0.01"))}">',
            "largest relative completeness gap, 0.0001 to 0.5",
        ),
        _field(
            "Show",
            f'<select name="level">{options(LEVELS, _prefill(query, "level", "both"))}</select>',
        ),
    ]
    body = (
        f"<h1>{esc(TITLE)}</h1>"
        '<p class="note">Integrated Gradients of a text classifier through its word embeddings: '
        "green words and tokens raise the explained class's probability, red ones lower it; "
        "hover for exact values. The attributions add up to F(x) − F(x′) up to Δ.</p>"
        f"{error_box(problem) if problem else ''}"
        f'<form class="card controls" method="post" action="{PATH}" data-testid="text-form">'
        f"{''.join(fields)}"
        '<div><button type="submit" data-testid="explain">Explain</button></div></form>'
    )
    return HTMLResponse(layout(TITLE, body, active=PATH))


def routes(state: AppState) -> list[Route]:
    """GET /text: the form; POST /text: check it and submit the job (303 to its page)."""

    async def text_view(request: Request) -> Response:
        if request.method != "POST":
            return await _form_page(state, request)
        form = await request.form()
        settings, session = await _settings(state, form)
        job = state.jobs.submit("text", result_title(settings.text), _work(settings, session))
        return RedirectResponse(f"/jobs/{job.id}", status_code=303)

    return [Route(PATH, text_view, methods=["GET", "POST"])]
