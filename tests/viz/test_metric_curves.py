"""CurveDisplay: the metrics' perturbation curves of several attributions in one plot."""

from __future__ import annotations

import numpy as np
import pytest

from intgrad import Explainer, metrics
from intgrad.viz import CurveDisplay
from tests.closed_forms import Quadratic


def test_curves_of_two_attributions_are_drawn_with_their_areas(tmp_path) -> None:
    x = np.array([[1.0, -2.0, 0.5, 3.0]])
    explainer = Explainer(Quadratic(np.array([1.0, 0.5, 2.0, 0.1])))
    ig = explainer.attribute(x, steps=8)
    good = metrics.deletion(explainer, x, ig, steps=4, random_orders=2)
    bad = metrics.deletion(explainer, x, -ig.attributions, steps=4, random_orders=2)
    display = CurveDisplay.from_curves({"IG": good, "reversed": bad}).plot()
    lines = display.ax_.get_lines()
    assert len(lines) == 3  # two curves and the chance level
    np.testing.assert_allclose(lines[0].get_ydata(), good.mean_scores)
    assert f"{good.mean_auc:.3g}" in lines[0].get_label()
    assert good.mean_auc < bad.mean_auc
    path = display.save(tmp_path / "curves.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_curves_of_different_metrics_are_refused() -> None:
    x = np.array([[1.0, 2.0]])
    explainer = Explainer(Quadratic(1.0))
    ig = explainer.attribute(x, steps=4)
    deletion = metrics.deletion(explainer, x, ig, steps=2)
    insertion = metrics.insertion(explainer, x, ig, steps=2)
    with pytest.raises(ValueError, match="one metric and one perturbation"):
        CurveDisplay.from_curves({"a": deletion, "b": insertion})
    with pytest.raises(ValueError, match="at least one curve"):
        CurveDisplay.from_curves({})
