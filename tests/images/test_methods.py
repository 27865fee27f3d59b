"""Every member of the IG family through the images layer, on a tiny convolutional classifier.

The dispatcher (``intgrad.images.methods``) is what ``explain_images``, the CLI and the
benchmark call, so each method must come back channels-last with its own completeness report.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from intgrad.images import explain_images
from intgrad.images.methods import IMAGE_ATTRIBUTIONS, method_options
from intgrad.images.models import LoadedModel


class PatchNet(nn.Module):
    """A small smooth CNN on 24 × 24 RGB: conv, tanh, pooled, linear; three classes."""

    def __init__(self) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(3)
        self.conv = nn.Conv2d(3, 4, 5, padding=2)
        self.head = nn.Linear(4 * 36, 3)
        with torch.no_grad():
            for parameter in self.parameters():
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.3)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        hidden = torch.tanh(self.conv(images))
        pooled = nn.functional.avg_pool2d(hidden, 4)
        return self.head(pooled.flatten(1))


@pytest.fixture(scope="module")
def tiny() -> LoadedModel:
    return LoadedModel(PatchNet().eval(), "patchnet", (24, 24), ("a", "b", "c"))


@pytest.fixture(scope="module")
def photos() -> list[np.ndarray]:
    rng = np.random.default_rng(11)
    return [rng.uniform(0.0, 1.0, size=(24, 24, 3)).astype(np.float32) for _ in range(2)]


# The steps each method is run with here and the completeness it then promises on this smooth
# model (relative gap), or None where the method has no completeness check of its own. Blur IG
# changes the image fastest at small σ, so it takes "auto" (a fixed 32 left a 40 % gap);
# Guided IG's Riemann sum along its adaptive path converges slowly: with PAIR's 128 steps the
# gap here is 8–10 % (3–7 % at 512, 0.6–1.1 % at 2048, measured).
CASES = {
    "ig": (32, 1e-3),
    "expected-gradients": (32, None),
    "smoothgrad": (32, 1e-3),
    "blur-ig": ("auto", 0.011),
    "guided-ig": (128, 0.12),
    "idgi": (32, 1e-6),
    "xrai": (32, None),
}


@pytest.mark.parametrize("attribution", IMAGE_ATTRIBUTIONS)
def test_every_method_comes_back_channels_last_and_adds_up(
    attribution: str, tiny: LoadedModel, photos: list[np.ndarray]
) -> None:
    options: dict[str, Any] | None = (
        {"samples": 4} if attribution in ("expected-gradients", "smoothgrad") else None
    )
    if attribution == "expected-gradients":
        options = {"samples": 4, "background": np.stack(photos) * 0.5}
    steps, promised = CASES[attribution]
    explained = explain_images(
        photos, model=tiny, attribution=attribution, attribution_options=options, steps=steps
    )
    assert len(explained) == 2
    for explanation in explained:
        assert explanation.attributions.shape == (24, 24, 3)
        assert explanation.attributions.dtype == np.float32
        assert np.isfinite(explanation.attributions).all()
        assert np.abs(explanation.attributions).sum() > 0
        assert explanation.baseline.shape == (24, 24, 3)
        if promised is not None:
            gap = explanation.result.relative_delta
            assert gap is not None and float(gap[0]) < promised, (attribution, gap)
    summary = explained[0].summary()
    assert summary["attribution"] == explained[0].result.algorithm


def test_expected_gradients_averages_over_references(
    tiny: LoadedModel, photos: list[np.ndarray]
) -> None:
    # With the photo itself as the only reference, every sample's path is empty: all zeros.
    (explanation,) = explain_images(
        photos[:1],
        model=tiny,
        attribution="expected-gradients",
        attribution_options={"samples": 3, "background": photos[0][None]},
    )
    np.testing.assert_allclose(explanation.attributions, 0.0, atol=1e-7)
    np.testing.assert_allclose(explanation.baseline, photos[0], atol=1e-7)


def test_options_are_checked_before_any_work() -> None:
    with pytest.raises(ValueError, match="attribution must be one of"):
        method_options("lime")
    with pytest.raises(ValueError, match=r"blur-ig takes no option\(s\) samples"):
        method_options("blur-ig", {"samples": 3})
    assert method_options("smoothgrad", {"samples": 2})["samples"] == 2
    with pytest.raises(ValueError, match="ig takes no option"):
        explain_images([np.zeros((4, 4, 3))], attribution="ig", attribution_options={"x": 1})
