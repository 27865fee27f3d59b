"""Photos: upload or pick a sample, choose target, baseline, method, steps and rule, and see
the mask, the overlay, the tutorial's figure, the saturation plots and the completeness gap;
optionally a second baseline or method side by side."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse
from starlette.routing import Route

from intgrad.app.forms import BadRequest, choice, steps_field, text_field, upload
from intgrad.app.jobs import Job, Progress
from intgrad.app.pages import esc, layout, options
from intgrad.app.state import AppState
from intgrad.app.views._photos_render import (
    PhotoResult,
    PhotoSettings,
    hidden,
    panel_of,
)

__all__ = ["PATH", "SUMMARY", "TITLE", "routes"]

PATH = "/photos"
TITLE = "Photos"
SUMMARY = (
    "Upload a photo or pick a sample; see which pixels the classifier's prediction rests on, "
    "with IG's baseline, steps and rule, the completeness gap, and two settings side by side."
)

_NONE = ""


def _attributions() -> tuple[str, ...]:
    from intgrad.images import IMAGE_ATTRIBUTIONS

    return IMAGE_ATTRIBUTIONS


def _baselines() -> tuple[str, ...]:
    from intgrad.images import IMAGE_BASELINES

    return IMAGE_BASELINES


def _rules() -> tuple[str, ...]:
    from intgrad import METHODS

    return METHODS


def _samples() -> tuple[str, ...]:
    from intgrad.images import sample_names

    return sample_names()


def _controls(state: AppState, values: dict[str, str]) -> str:
    """The settings fields, filled with ``values`` (the form's previous answers)."""
    from intgrad.images import sample_description

    samples = [(name, sample_description(name)) for name in _samples()]
    models = [(name, name) for name in state.registry.names("image")]
    plain = [(name, name) for name in _baselines()]
    methods = [(name, name) for name in _attributions()]
    rules = [(name, name) for name in _rules()]
    return (
        f'<label>Sample photo<select name="sample">{options(samples, values.get("sample"))}'
        "</select></label>"
        '<label>…or upload a photo<input type="file" name="photo" accept="image/*"></label>'
        f'<label>Model<select name="model">{options(models, values.get("model"))}</select></label>'
        '<label>Target (class name or index; empty: the top class)<input name="target" '
        f'value="{esc(values.get("target", ""))}" placeholder="top class"></label>'
        f'<label>Baseline<select name="baseline">{options(plain, values.get("baseline", "black"))}'
        "</select></label>"
        f'<label>Method<select name="attribution">'
        f"{options(methods, values.get('attribution', 'ig'))}</select></label>"
        '<label>Steps ("auto" or a count)<input name="steps" '
        f'value="{esc(values.get("steps", "auto"))}"></label>'
        '<label>Tolerance of "auto" (relative gap)<input name="tolerance" '
        f'value="{esc(values.get("tolerance", "0.01"))}"></label>'
        f'<label>Rule (a fixed count)<select name="rule">'
        f"{options(rules, values.get('rule', 'gausslegendre'))}</select></label>"
        f'<label>Compare: second baseline<select name="compare_baseline">'
        f"{options([(_NONE, '—'), *plain], values.get('compare_baseline', _NONE))}"
        "</select></label>"
        f'<label>Compare: second method<select name="compare_attribution">'
        f"{options([(_NONE, '—'), *methods], values.get('compare_attribution', _NONE))}"
        "</select></label>"
        '<label>Signed mask<select name="signed">'
        f"{options([('no', 'magnitudes'), ('yes', 'signed')], values.get('signed', 'no'))}"
        "</select></label>"
    )


def _form(state: AppState, values: dict[str, str], heading: str = "Explain a photo") -> str:
    return (
        f'<div class="card"><h2>{esc(heading)}</h2>'
        f'<form class="controls" method="post" action="{PATH}/explain" '
        f'enctype="multipart/form-data" data-testid="photo-form">'
        f"{hidden([(k, v) for k, v in values.items() if k == 'photo_token'])}"
        f"{_controls(state, values)}"
        '<div class="wide"><button type="submit" data-testid="explain">Explain</button></div>'
        "</form></div>"
    )


def _page(state: AppState) -> Any:
    async def page(request: Request) -> HTMLResponse:
        body = (
            f"<h1>{TITLE}</h1>"
            '<p class="note">Integrated Gradients of the target class\'s softmax probability, '
            "on the straight path from the baseline to the photo (Sundararajan et al. 2017). "
            '"auto" places the gradient evaluations where the path needs them and stops once '
            "the completeness gap is within the tolerance.</p>"
            f"{_form(state, {})}"
        )
        return HTMLResponse(layout(TITLE, body, active=PATH))

    return page


def _photo(state: AppState, form: FormData, uploaded: tuple[str, bytes] | None) -> Any:
    """``(name, pixels, token)``: the uploaded photo, a kept upload, or a sample."""
    from intgrad.images import load_image, load_sample

    token = text_field(form, "photo_token", "", max_chars=64)
    if uploaded is None and token:
        uploaded = state.uploads.get(token)
        if uploaded is None:
            raise BadRequest("the uploaded photo is no longer kept: upload it again")
    if uploaded is not None:
        name, data = uploaded
        try:
            pixels = load_image(data, max_pixels=state.config.max_pixels)
        except ValueError as error:  # ImageDecodeError: not an image, truncated, a bomb
            raise BadRequest(f"photo {name!r}: {error}") from None
        return name, pixels, token or state.uploads.put(name, data)
    sample = choice(form, "sample", _samples(), _samples()[0])
    return f"sample {sample}", load_sample(sample), ""


def _settings(state: AppState, form: FormData) -> tuple[PhotoSettings, PhotoSettings | None]:
    models = state.registry.names("image")
    steps, tolerance = steps_field(form, state.config.max_steps)
    first = PhotoSettings(
        model=choice(form, "model", models, models[0]),
        target=text_field(form, "target", "", max_chars=200),
        baseline=choice(form, "baseline", _baselines(), "black"),
        attribution=choice(form, "attribution", _attributions(), "ig"),
        steps=steps,
        tolerance=tolerance,
        rule=choice(form, "rule", _rules(), "gausslegendre"),
        signed=choice(form, "signed", ("no", "yes"), "no") == "yes",
    )
    other_baseline = choice(form, "compare_baseline", (_NONE, *_baselines()), _NONE)
    other_method = choice(form, "compare_attribution", (_NONE, *_attributions()), _NONE)
    if not other_baseline and not other_method:
        return first, None
    second = replace(
        first,
        baseline=other_baseline or first.baseline,
        attribution=other_method or first.attribution,
    )
    if second == first:
        raise BadRequest(
            "the comparison repeats the same settings: pick another baseline or method"
        )
    return first, second


def _explain(session: Any, pixels: np.ndarray, settings: PhotoSettings, progress: Progress) -> Any:
    target: int | str | None = settings.target or None
    if isinstance(target, str) and target.isdigit():
        target = int(target)
    return session.explain(
        [pixels],
        target=target,
        steps=settings.steps,
        method=settings.rule if settings.steps != "auto" else None,
        baseline=settings.baseline,
        tolerance=settings.tolerance,
        attribution=settings.attribution,
        top_k=5,
        progress=progress,
    )[0]


def _values(settings: PhotoSettings, token: str, sample: str) -> dict[str, str]:
    values = {
        "model": settings.model,
        "target": settings.target,
        "baseline": settings.baseline,
        "attribution": settings.attribution,
        "steps": str(settings.steps),
        "tolerance": f"{settings.tolerance:g}",
        "rule": settings.rule,
        "signed": "yes" if settings.signed else "no",
    }
    if token:
        values["photo_token"] = token
    else:
        values["sample"] = sample
    return values


def _explain_class_form(values: dict[str, str]) -> str:
    """A one-button form explaining another class of the same photo ({TARGET} filled later)."""
    kept = [(key, value) for key, value in values.items() if key != "target"]
    return (
        f'<form method="post" action="{PATH}/explain" enctype="multipart/form-data">'
        f'{hidden(kept)}<input type="hidden" name="target" value="{{TARGET}}">'
        '<button type="submit" class="secondary" data-testid="explain-class">Explain</button>'
        "</form>"
    )


def _start(state: AppState, form: FormData, uploaded: tuple[str, bytes] | None) -> Job:
    """Check the form, decode the photo and submit the job (on a worker thread of the server:
    decoding a large photo must not hold up other requests)."""
    name, pixels, token = _photo(state, form, uploaded)
    first, second = _settings(state, form)
    values = _values(first, token, name.removeprefix("sample ") if not token else "")
    compare_form = dict(values)
    if second is not None:
        compare_form["compare_baseline"] = (
            second.baseline if second.baseline != first.baseline else ""
        )
        compare_form["compare_attribution"] = (
            second.attribution if second.attribution != first.attribution else ""
        )

    def work(progress: Progress) -> PhotoResult:
        session = state.registry.session("image", first.model)  # loaded once, on first use
        progress.unit("gradient evaluations")
        panels = []
        for index, settings in enumerate((first, second) if second else (first,)):
            progress.note(f"explanation {index + 1} of {2 if second else 1}")
            explanation = _explain(session, pixels, settings, progress)
            progress.check()
            panels.append(panel_of(explanation, settings))
        return PhotoResult(
            title=f"{name}: {panels[0].summary['target_label']}",
            photo=name,
            panels=tuple(panels),
            explain_form=_explain_class_form(values),
            settings_form=_form(state, compare_form, "Change the settings"),
        )

    return state.jobs.submit("photos", f"Explaining {name}", work)


def _submit(state: AppState) -> Any:
    async def submit(request: Request) -> RedirectResponse:
        async with request.form(max_files=2, max_fields=40) as form:
            uploaded = await upload(form, "photo")
            job = await run_in_threadpool(_start, state, form, uploaded)
        return RedirectResponse(f"/jobs/{job.id}", status_code=303)

    return submit


def routes(state: AppState) -> list[Route]:
    """The photos view's routes: the form, and the POST that starts a job."""
    return [
        Route(PATH, _page(state)),
        Route(f"{PATH}/explain", _submit(state), methods=["POST"]),
    ]
