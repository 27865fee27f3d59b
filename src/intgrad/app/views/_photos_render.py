"""The photos view's result: pictures of each explanation, its numbers, and its exports."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from intgrad.app.pages import data_uri, esc, standalone

__all__ = ["PhotoPanel", "PhotoResult", "PhotoSettings", "panel_of"]

#: Pictures of one explanation, in the order they are shown, with their captions.
PICTURES: tuple[tuple[str, str], ...] = (
    ("overlay.png", "Attribution overlay"),
    ("mask.png", "Attribution mask"),
    ("figure.png", "The tutorial's figure: photo, baseline, mask, overlay"),
    ("path.png", "Along the path: target probability and mean gradient against alpha"),
    ("interpolation.png", "Images along the path, baseline (alpha = 0) to photo (alpha = 1)"),
)


@dataclass(frozen=True)
class PhotoSettings:
    """What one explanation was asked for (as the form had it)."""

    model: str
    target: str
    baseline: str
    attribution: str
    steps: int | str
    tolerance: float
    rule: str
    signed: bool

    def label(self) -> str:
        """A short caption: method, baseline and steps."""
        steps = f"auto (tolerance {self.tolerance:g})" if self.steps == "auto" else self.steps
        return f"{self.attribution} · baseline {self.baseline} · steps {steps}"


@dataclass(frozen=True)
class PhotoPanel:
    """One explanation of the photo: its numbers and its PNG pictures."""

    settings: PhotoSettings
    summary: dict[str, Any]
    pictures: dict[str, bytes]


def panel_of(explanation: Any, settings: PhotoSettings) -> PhotoPanel:
    """Render one ``intgrad.images.ImageExplanation`` (pictures made here, once)."""
    from intgrad.viz import render_explanation

    pictures = render_explanation(explanation, signed=settings.signed, dpi=80.0)
    return PhotoPanel(settings, explanation.summary(), pictures)


def _number(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return esc(value)


def _cell(name: str, label: str, value: object, testid: str) -> str:
    return (
        f'<tr><td>{esc(label)}</td><td data-testid="{esc(testid)}" data-value="{esc(repr(value))}"'
        f' data-field="{esc(name)}">{_number(value)}</td></tr>'
    )


def _numbers(summary: dict[str, Any], prefix: str) -> str:
    rows = [
        ("f_input", "F(x), target probability at the photo", "f-input"),
        ("f_baseline", "F(x′), at the baseline", "f-baseline"),
        ("attribution_sum", "Sum of the attributions", "attribution-sum"),
        ("delta", "Completeness gap: sum − (F(x) − F(x′))", "delta"),
        ("relative_delta", "Gap relative to F(x) − F(x′)", "relative-delta"),
        ("steps", "Gradient evaluations", "steps"),
        ("seconds", "Seconds", "seconds"),
    ]
    cells = "".join(
        _cell(key, label, summary.get(key), prefix + testid) for key, label, testid in rows
    )
    return f'<table class="numbers">{cells}</table>'


def _completeness(summary: dict[str, Any], tolerance: float, prefix: str) -> str:
    """Whether the attributions add up to F(x) − F(x′) within the tolerance, in words."""
    gap = summary.get("relative_delta")
    if gap is None:
        return ""
    within = abs(gap) <= tolerance
    verdict = (
        f"The attributions add up to F(x) − F(x′) within {abs(gap):.2%} "
        f"(tolerance {tolerance:.2%})."
        if within
        else f"The attributions miss F(x) − F(x′) by {abs(gap):.2%} (tolerance {tolerance:.2%}): "
        'use more steps or "auto".'
    )
    return (
        f'<p class="{"good" if within else "bad"}" data-testid="{esc(prefix)}completeness" '
        f'data-within="{str(within).lower()}">{esc(verdict)}</p>'
    )


def _top_k(summary: dict[str, Any], explain_form: str) -> str:
    rows = []
    for rank, prediction in enumerate(summary["top_k"]):
        chosen = " (explained)" if prediction["index"] == summary["target"] else ""
        button = explain_form.replace("{TARGET}", esc(str(prediction["index"])))
        rows.append(
            f'<tr data-testid="prediction" data-index="{prediction["index"]}" data-rank="{rank}">'
            f"<td>{esc(prediction['label'])}{chosen}</td>"
            f'<td data-value="{prediction["probability"]!r}">{prediction["probability"]:.4f}</td>'
            f"<td>{button}</td></tr>"
        )
    return (
        '<table class="numbers"><tr><th>Class</th><th>Probability</th><th></th></tr>'
        + "".join(rows)
        + "</table>"
    )


def _panel_html(panel: PhotoPanel, source: str, prefix: str) -> str:
    summary = panel.summary
    figures = []
    for name, caption in PICTURES:
        if name in panel.pictures:
            figures.append(
                f'<figure><img class="picture" data-testid="{esc(prefix + name[:-4])}" '
                f'alt="{esc(caption)}" src="{esc(source.replace("{NAME}", prefix + name))}">'
                f"<figcaption>{esc(caption)}</figcaption></figure>"
            )
    overlay, mask, *rest = figures
    return (
        f'<div class="card" data-testid="{esc(prefix)}panel">'
        f"<h2>{esc(summary['target_label'])} ({summary['target']}) — "
        f"{esc(panel.settings.label())}</h2>"
        f'<div class="grid">{overlay}{mask}<div>{_numbers(summary, prefix)}'
        f"{_completeness(summary, panel.settings.tolerance, prefix)}"
        f'<p class="note">Baseline: {esc(summary["baseline"])}; rule: {esc(summary["method"])}; '
        f"model: {esc(summary['model'])}.</p></div></div>"
        f"{''.join(rest)}</div>"
    )


@dataclass(frozen=True)
class PhotoResult:
    """A finished photos job: one panel, or two side by side (the comparison)."""

    title: str
    photo: str
    panels: tuple[PhotoPanel, ...]
    explain_form: str
    settings_form: str

    def _body(self, source: str, interactive: bool) -> str:
        first = self.panels[0].summary
        top = _top_k(first, self.explain_form if interactive else "")
        panels = "".join(
            _panel_html(panel, source, "" if index == 0 else "compare-")
            for index, panel in enumerate(self.panels)
        )
        layout_class = "pair" if len(self.panels) > 1 else ""
        settings = self.settings_form if interactive else ""
        return (
            f'<p class="note">Photo: {esc(self.photo)}</p>'
            f'<div class="card"><h2>Top predictions</h2>{top}</div>'
            f'<div class="{layout_class}">{panels}</div>{settings}'
        )

    def html(self, job_id: str) -> str:
        """The result inside the job's page; pictures are served by the job's routes."""
        return self._body(f"/jobs/{esc(job_id)}/pictures/{{NAME}}", interactive=True)

    def export_html(self) -> str:
        """A self-contained page: the same numbers and every picture inline."""
        pictures = self.pictures()
        body = self._body("{NAME}", interactive=False)
        for name, png in pictures.items():
            body = body.replace(f'src="{esc(name)}"', f'src="{data_uri(png)}"')
        return standalone(self.title, f"<h1>{esc(self.title)}</h1>{body}")

    def export_json(self) -> dict[str, Any]:
        """The photo, each explanation's settings and numbers."""
        return {
            "photo": self.photo,
            "explanations": [
                {"settings": vars(panel.settings), "summary": panel.summary}
                for panel in self.panels
            ],
        }

    def pictures(self) -> dict[str, bytes]:
        """Every picture, the comparison's prefixed with ``compare-``."""
        named: dict[str, bytes] = {}
        for index, panel in enumerate(self.panels):
            prefix = "" if index == 0 else "compare-"
            named.update({prefix + name: png for name, png in panel.pictures.items()})
        return named


def hidden(fields: Sequence[tuple[str, str]]) -> str:
    """Hidden form inputs (escaped)."""
    return "".join(
        f'<input type="hidden" name="{esc(name)}" value="{esc(value)}">' for name, value in fields
    )
