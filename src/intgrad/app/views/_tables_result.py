"""The result of a Tables job: one explained row as HTML, JSON and the bars as a PNG."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from intgrad.app.pages import esc, standalone
from intgrad.app.views._tables_render import (
    RowRecord,
    Settings,
    number_text,
    record_html,
    row_form,
    what_if_html,
    what_if_json,
)

if TYPE_CHECKING:
    from intgrad.tabular import TabularSchema

_VIEW = "tables"


def _bars_png(record: RowRecord) -> bytes:
    """The bars as a PNG file (for the picture export)."""
    from intgrad.viz import figure_bytes, new_figure

    columns = list(record.columns)[::-1]
    values = [record.attributions[c] for c in columns]
    names = [f"{c} = {number_text(record.values.get(c))}".replace("$", r"\$") for c in columns]
    figure = new_figure((7.5, 0.35 * len(columns) + 1.2))
    axes = figure.add_subplot()
    axes.barh(names, values, color=["#1f7a3a" if v >= 0 else "#a3211f" for v in values])
    axes.axvline(0.0, color="#1d2330", linewidth=0.8)
    axes.set_xlabel(f"attribution towards {record.target}".replace("$", r"\$"))
    return figure_bytes(figure)


class TablesResult:
    """One explained row: its numbers, the bars, the what-if, and the form to edit it again."""

    def __init__(
        self,
        title: str,
        record: RowRecord,
        context: _FormContext,
        source: str,
        previous: tuple[str, RowRecord | None],
    ) -> None:
        self.title, self.record, self._context = title, record, context
        previous_job, previous_record = previous
        self._what_if = (
            None if previous_record is None else what_if_json(record, previous_record, previous_job)
        )
        body = record_html(record, source, previous_record)
        if previous_record is not None and self._what_if is not None:
            body += what_if_html(record, previous_record, self._what_if)
        elif previous_job:
            body += '<p class="note">The previous result is no longer kept: nothing to compare.</p>'
        self._body, self._source = body, source
        self._png = _bars_png(record)

    def html(self, job_id: str) -> str:
        context = self._context
        form = row_form(
            context.schema,
            self.record.values,
            context.settings,
            self.record.labels,
            max_steps=context.max_steps,
            hidden={**context.hidden, "previous": job_id},
            button="Explain again (what-if)",
        )
        return (
            f'{self._body}<div class="card"><h2>What if? Change any value and explain again</h2>'
            f"{form}</div>"
        )

    def export_html(self) -> str:
        return standalone(self.title, f"<h1>{esc(self.title)}</h1>{self._body}")

    def export_json(self) -> dict[str, Any]:
        record, settings = self.record, self._context.settings
        return {
            "view": _VIEW,
            "model": settings.model,
            "source": self._source,
            "row": dict(record.values),
            "labels": list(record.labels),
            "probabilities": dict(record.probabilities),
            "prediction": record.predicted,
            "target": record.target,
            "attributions": dict(record.attributions),
            "standard_error": record.standard_error,
            "f_input": record.f_input,
            "f_baseline": record.f_baseline,
            "attribution_sum": record.attribution_sum,
            "delta": record.delta,
            "settings": {
                "target": settings.target,
                "baseline": settings.baseline_spec,
                "baseline_description": record.baseline,
                "steps": settings.steps,
                "steps_used": record.steps,
                "method": record.method,
                "seed": 0,
            },
            "what_if": self._what_if,
        }

    def pictures(self) -> dict[str, bytes]:
        return {"attributions.png": self._png}


@dataclass(frozen=True)
class _FormContext:
    """What the result's form needs: the schema, the settings, the hidden fields."""

    schema: TabularSchema
    settings: Settings
    hidden: Mapping[str, str]
    max_steps: int
