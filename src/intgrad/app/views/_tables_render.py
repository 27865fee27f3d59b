"""HTML of the Tables view: the editable row form, the attribution bars, the what-if.

Everything here is computed from numbers the library returned and from the model's schema;
every name, category, value and label goes through :func:`~intgrad.app.pages.esc`. The bars
are inline SVG (no picture file, no script), so the job page and its HTML export show the
same chart; the exact numbers sit in ``data-value`` attributes and ``<title>`` elements.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from intgrad.app.pages import esc, options

if TYPE_CHECKING:
    from intgrad.tabular import TabularSchema

__all__ = [
    "BASELINE_CHOICES",
    "FEATURE_PREFIX",
    "RowRecord",
    "Settings",
    "attribution_bars",
    "number_text",
    "record_html",
    "row_form",
    "what_if_html",
    "what_if_json",
]

#: The form field of a feature column is this prefix and the column's name.
FEATURE_PREFIX = "feature."

#: The baselines offered: (form value, label); "sample" is ``sample:K`` with K from its field.
BASELINE_CHOICES: tuple[tuple[str, str], ...] = (
    ("median", "median"),
    ("mean", "mean"),
    ("zeros", "zeros (no category)"),
    ("sample", "sample:K (mean over K rows)"),
)

_POSITIVE, _NEGATIVE, _PREVIOUS = "#1f7a3a", "#a3211f", "#6b7280"


@dataclass(frozen=True)
class Settings:
    """How a row is explained, as the form gives it.

    Attributes:
        model: the served tabular model's name.
        target: ``"predicted"`` or one of the model's labels.
        baseline: ``"median"``, ``"mean"``, ``"zeros"`` or ``"sample"``.
        samples: K, the references of the ``"sample"`` baseline.
        steps: gradient evaluations per reference, or ``"auto"``.
    """

    model: str
    target: str = "predicted"
    baseline: str = "median"
    samples: int = 8
    steps: int | str = "auto"

    @property
    def baseline_spec(self) -> str:
        """The library's baseline specification (``"median"``, ``"sample:8"``, ...)."""
        return f"sample:{self.samples}" if self.baseline == "sample" else self.baseline

    @property
    def library_target(self) -> str | None:
        """The ``target=`` of ``TabularExplainer.explain`` (``None``: the predicted class)."""
        return None if self.target == "predicted" else self.target


@dataclass(frozen=True)
class RowRecord:
    """The numbers of one explained row, kept so that the next what-if compares with them.

    Attributes:
        columns: the source feature columns, in the schema's order.
        values: the row's value per column (JSON-ready).
        labels: the class names, by output index.
        probabilities: the model's probability per label.
        predicted: the most probable label.
        target: the explained label.
        attributions: the attribution per column (sums over a categorical one-hot group).
        standard_error: the standard error per column over ``sample:K`` references, or None.
        f_input, f_baseline: F(x) and F(x′), the target's probability at the row and baseline.
        attribution_sum: the sum of the attributions.
        delta: the completeness gap ``sum − (F(x) − F(x′))``.
        steps: gradient evaluations used (of all references together).
        baseline: the library's description of the baseline.
        method: the quadrature rule used.
    """

    columns: tuple[str, ...]
    values: dict[str, Any]
    labels: tuple[str, ...]
    probabilities: dict[str, float]
    predicted: str
    target: str
    attributions: dict[str, float]
    standard_error: dict[str, float] | None
    f_input: float | None
    f_baseline: float | None
    attribution_sum: float
    delta: float | None
    steps: int
    baseline: str
    method: str

    @classmethod
    def of_summary(cls, summary: Mapping[str, Any]) -> RowRecord:
        """The record of a one-row ``TabularExplanation.summary()``."""
        row = summary["rows"][0]
        features = row["features"]
        errors = [f.get("standard_error") for f in features]
        return cls(
            columns=tuple(f["feature"] for f in features),
            values={f["feature"]: f["value"] for f in features},
            labels=tuple(summary["labels"]),
            probabilities={str(k): float(v) for k, v in row["probabilities"].items()},
            predicted=row["prediction"]["label"],
            target=row["target_label"],
            attributions={f["feature"]: float(f["attribution"]) for f in features},
            standard_error=None
            if any(e is None for e in errors)
            else {f["feature"]: float(e) for f, e in zip(features, errors, strict=True)},
            f_input=row["f_input"],
            f_baseline=row["f_baseline"],
            attribution_sum=float(row["attribution_sum"]),
            delta=row["delta"],
            steps=int(summary["steps"]),
            baseline=str(summary["baseline"]),
            method=str(summary["method"]),
        )


def number_text(value: object) -> str:
    """A cell value as the text of a form field (numbers in full, whole floats without .0)."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(value) if isinstance(value, float) else str(value)


def _shown(value: float | None, digits: int = 4) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _exact(value: float | None) -> str:
    return "" if value is None else repr(float(value))


# --- the editable row form -------------------------------------------------------------------


def _category_field(name: str, categories: Sequence[Any], value: object) -> str:
    texts = [str(c) for c in categories]
    chosen = "" if value is None else str(value)
    pairs = [(t, t) for t in texts]
    if chosen not in texts:  # an uploaded row's unknown value: shown, refused when sent
        pairs.insert(0, (chosen, f"{chosen} (not a category of the model)"))
    return (
        f'<select name="{esc(FEATURE_PREFIX + name)}" data-testid="field" '
        f'data-feature="{esc(name)}">{options(pairs, chosen)}</select>'
    )


def _number_field(name: str, value: object) -> str:
    return (
        f'<input type="number" step="any" required name="{esc(FEATURE_PREFIX + name)}" '
        f'value="{esc(number_text(value))}" data-testid="field" data-feature="{esc(name)}">'
    )


def _settings_fields(settings: Settings, labels: Sequence[str], max_steps: int) -> str:
    targets = [("predicted", "the predicted class"), *((label, label) for label in labels)]
    return (
        f'<label>Target<select name="target">{options(targets, settings.target)}</select></label>'
        f'<label>Baseline<select name="baseline">'
        f"{options(BASELINE_CHOICES, settings.baseline)}</select></label>"
        '<label>K (sample:K references)<input type="number" name="samples" min="2" max="128" '
        f'value="{settings.samples}"></label>'
        f'<label>Steps ("auto" or 2 to {max_steps})<input name="steps" '
        f'value="{esc(settings.steps)}" pattern="auto|[0-9]+"></label>'
    )


def row_form(
    schema: TabularSchema,
    values: Mapping[str, Any],
    settings: Settings,
    labels: Sequence[str],
    *,
    max_steps: int,
    hidden: Mapping[str, str],
    button: str = "Explain this row",
) -> str:
    """The row as a form posting to ``/tables/explain``: one field per schema column.

    Args:
        schema: the model's schema: a ``<select>`` of its categories for a categorical
            column, a number field for a numeric one.
        values: the value shown per column (missing ones are blank).
        settings: target, baseline, K and steps shown.
        labels: the model's class names (the target's choices).
        max_steps: the largest step count allowed.
        hidden: hidden fields (model, source row, upload token, previous job).
        button: the submit button's text.
    """
    fields = []
    for feature in schema.features:
        name = feature.name
        categories = getattr(feature, "categories", None)
        control = (
            _number_field(name, values.get(name))
            if categories is None
            else _category_field(name, categories, values.get(name))
        )
        fields.append(f"<label>{esc(name)}{control}</label>")
    kept = "".join(
        f'<input type="hidden" name="{esc(key)}" value="{esc(value)}">'
        for key, value in hidden.items()
    )
    return (
        '<form class="controls" method="post" action="/tables/explain" data-testid="row-form">'
        f"{kept}{''.join(fields)}"
        f'<div class="wide"></div>{_settings_fields(settings, labels, max_steps)}'
        f'<button type="submit" data-testid="explain">{esc(button)}</button></form>'
    )


# --- the bars --------------------------------------------------------------------------------


def _bar(x0: float, value: float, scale: float) -> tuple[float, float]:
    """A bar's left edge and width, from the zero line at ``x0``."""
    width = abs(value) * scale
    return (x0 if value >= 0 else x0 - width), width


def attribution_bars(record: RowRecord, previous: RowRecord | None = None) -> str:
    """One horizontal bar per feature, in schema order: green pushes towards the target
    class, red away; with ``previous``, a dashed outline marks the previous attribution."""
    label_width, area, value_width, row_height, top = 290.0, 380.0, 120.0, 26.0, 8.0
    width = label_width + area + value_width
    height = top * 2 + row_height * len(record.columns)
    shown = list(record.attributions.values())
    if previous is not None:
        shown += [previous.attributions.get(c, 0.0) for c in record.columns]
    largest = max((abs(v) for v in shown if math.isfinite(v)), default=0.0) or 1.0
    scale, middle = (area / 2 - 4) / largest, label_width + area / 2
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width:.0f} {height:.0f}" '
        f'width="100%" style="max-width:{width:.0f}px" role="img" data-testid="attribution-bars" '
        'aria-label="attribution per feature" font-size="13" font-family="system-ui, sans-serif">'
    ]
    for position, column in enumerate(record.columns):
        value, y = record.attributions[column], top + position * row_height
        x, bar_width = _bar(middle, value, scale)
        shown_value = f"{column} = {number_text(record.values.get(column))}"
        clipped = shown_value if len(shown_value) <= 38 else shown_value[:37] + "…"
        extra = ""
        if previous is not None and column in previous.attributions:
            before = previous.attributions[column]
            px, pw = _bar(middle, before, scale)
            extra = (
                f'<rect x="{px:.2f}" y="{y + 3:.2f}" width="{max(pw, 0.5):.2f}" '
                f'height="{row_height - 6:.2f}" fill="none" stroke="{_PREVIOUS}" '
                'stroke-dasharray="4 2" data-testid="attribution-previous" '
                f'data-value="{_exact(before)}"/>'
            )
        parts.append(
            f'<g data-testid="attribution" data-feature="{esc(column)}" '
            f'data-value="{_exact(value)}"><title>{esc(shown_value)}: attribution '
            f"{_exact(value)}</title>"
            f'<text x="{label_width - 8:.0f}" y="{y + row_height * 0.66:.2f}" '
            f'text-anchor="end">{esc(clipped)}</text>'
            f'<rect x="{x:.2f}" y="{y + 5:.2f}" width="{bar_width:.2f}" '
            f'height="{row_height - 10:.2f}" fill="{_POSITIVE if value >= 0 else _NEGATIVE}"/>'
            f'{extra}<text x="{label_width + area + 6:.0f}" y="{y + row_height * 0.66:.2f}">'
            f"{value:+.5f}</text></g>"
        )
    parts.append(
        f'<line x1="{middle:.2f}" x2="{middle:.2f}" y1="{top / 2:.1f}" '
        f'y2="{height - top / 2:.1f}" stroke="#1d2330" stroke-width="1"/></svg>'
    )
    return "".join(parts)


# --- the result ------------------------------------------------------------------------------


def _probabilities(record: RowRecord) -> str:
    rows = "".join(
        f'<tr data-testid="probability" data-label="{esc(label)}" data-value="{_exact(p)}">'
        f"<td>{esc(label)}{' (predicted)' if label == record.predicted else ''}</td>"
        f"<td>{p:.4f}</td></tr>"
        for label, p in record.probabilities.items()
    )
    return f'<table class="numbers"><tr><th>class</th><th>probability</th></tr>{rows}</table>'


def _completeness(record: RowRecord) -> str:
    lines = (
        ("f-input", "F(x): target's probability at the row", record.f_input),
        ("f-baseline", "F(x′): at the baseline", record.f_baseline),
        ("attribution-sum", "sum of the attributions", record.attribution_sum),
        ("delta", "delta: sum − (F(x) − F(x′))", record.delta),
    )
    rows = "".join(
        f'<tr data-testid="{key}" data-value="{_exact(value)}"><td>{esc(text)}</td>'
        f"<td>{_shown(value, 6)}</td></tr>"
        for key, text, value in lines
    )
    return f'<table class="numbers">{rows}</table>'


def record_html(record: RowRecord, source: str, previous: RowRecord | None = None) -> str:
    """The result of one row: probabilities, completeness and the bars (no form)."""
    error_note = (
        ""
        if record.standard_error is None
        else '<p class="note">Averaged over the sample\'s references; the standard error of '
        "each attribution is in the JSON export.</p>"
    )
    return (
        f'<div class="card" data-testid="tables-result"><p class="note">{esc(source)} · target '
        f"<strong>{esc(record.target)}</strong> · baseline {esc(record.baseline)} · "
        f"{record.steps} gradient evaluations ({esc(record.method)})</p>"
        f'<div class="pair"><div><h2>Prediction</h2>{_probabilities(record)}</div>'
        f"<div><h2>Completeness</h2>{_completeness(record)}</div></div>"
        f"<h2>Attribution per feature, towards {esc(record.target)}</h2>"
        f'<p class="note">Green bars raise the probability of {esc(record.target)}, red bars '
        "lower it (from the baseline to this row)"
        f"{'; dashed outlines: the previous result' if previous is not None else ''}.</p>"
        f"{attribution_bars(record, previous)}{error_note}</div>"
    )


def what_if_json(record: RowRecord, previous: RowRecord, previous_job: str) -> dict[str, Any]:
    """The change from ``previous`` to ``record``: values, probabilities, attributions."""
    changed = {
        column: {"previous": previous.values.get(column), "current": record.values[column]}
        for column in record.columns
        if previous.values.get(column) != record.values[column]
    }
    return {
        "previous_job": previous_job,
        "changed_values": changed,
        "previous_prediction": previous.predicted,
        "previous_target": previous.target,
        "previous_probabilities": dict(previous.probabilities),
        "probability_change": {
            label: p - previous.probabilities[label]
            for label, p in record.probabilities.items()
            if label in previous.probabilities
        },
        "previous_attributions": dict(previous.attributions),
        "attribution_change": {
            column: a - previous.attributions[column]
            for column, a in record.attributions.items()
            if column in previous.attributions
        },
    }


def _changes_html(changed: Mapping[str, Mapping[str, Any]]) -> str:
    if not changed:
        return '<p class="note">No value changed: only the settings.</p>'
    items = "".join(
        f'<li data-testid="what-if-change" data-feature="{esc(column)}" '
        f'data-previous="{esc(number_text(pair["previous"]))}" '
        f'data-current="{esc(number_text(pair["current"]))}">{esc(column)}: '
        f"{esc(number_text(pair['previous']))} → <strong>{esc(number_text(pair['current']))}"
        "</strong></li>"
        for column, pair in changed.items()
    )
    return f"<p>Changed values:</p><ul>{items}</ul>"


def _what_if_probabilities(
    record: RowRecord, previous: RowRecord, change: Mapping[str, Any]
) -> str:
    moved = change["probability_change"]
    rows = "".join(
        f'<tr data-testid="what-if-probability" data-label="{esc(label)}" '
        f'data-previous="{_exact(previous.probabilities[label])}" data-current="{_exact(p)}" '
        f'data-change="{_exact(moved[label])}"><td>{esc(label)}</td>'
        f"<td>{previous.probabilities[label]:.4f}</td><td>{p:.4f}</td>"
        f"<td>{moved[label]:+.4f}</td></tr>"
        for label, p in record.probabilities.items()
        if label in moved
    )
    return (
        '<table class="numbers"><tr><th>class</th><th>probability before</th><th>after</th>'
        f"<th>change</th></tr>{rows}</table>"
    )


def _what_if_features(record: RowRecord, previous: RowRecord, change: Mapping[str, Any]) -> str:
    moved, changed = change["attribution_change"], change["changed_values"]
    rows = []
    for column, after in record.attributions.items():
        if column not in moved:
            continue
        value = esc(number_text(record.values[column]))
        rows.append(
            f'<tr data-testid="what-if-feature" data-feature="{esc(column)}" '
            f'data-previous="{_exact(previous.attributions[column])}" '
            f'data-current="{_exact(after)}" data-change="{_exact(moved[column])}">'
            f"<td>{esc(column)}</td><td>{esc(number_text(previous.values.get(column)))}</td>"
            f"<td>{f'<strong>{value}</strong>' if column in changed else value}</td>"
            f"<td>{previous.attributions[column]:+.5f}</td><td>{after:+.5f}</td>"
            f"<td>{moved[column]:+.5f}</td></tr>"
        )
    return (
        '<table class="numbers"><tr><th>feature</th><th>value before</th><th>value after</th>'
        "<th>attribution before</th><th>after</th><th>change</th></tr>"
        f"{''.join(rows)}</table>"
    )


def what_if_html(record: RowRecord, previous: RowRecord, change: Mapping[str, Any]) -> str:
    """The what-if section: what changed, the prediction before and after, and each
    feature's attribution before and after (``change`` from :func:`what_if_json`)."""
    target_note = (
        ""
        if previous.target == record.target
        else f'<p class="note">The explained class changed ({esc(previous.target)} before, '
        f"{esc(record.target)} now): the attributions answer different questions.</p>"
    )
    before = previous.probabilities.get(previous.predicted, math.nan)
    return (
        '<div class="card" data-testid="what-if" '
        f'data-previous-job="{esc(change["previous_job"])}">'
        "<h2>What if: compared with the previous result</h2>"
        f"{_changes_html(change['changed_values'])}"
        f'<p data-testid="what-if-prediction">Prediction: {esc(previous.predicted)} '
        f"({before:.4f}) → <strong>{esc(record.predicted)}</strong> "
        f"({record.probabilities[record.predicted]:.4f})</p>{target_note}"
        f"{_what_if_probabilities(record, previous, change)}"
        f"<h2>Attributions before and after</h2>{_what_if_features(record, previous, change)}"
        "</div>"
    )
