"""``intgrad explain --attribution``: every family member from the shell, and its bad options."""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from intgrad import Explainer
from intgrad.cli import main
from intgrad.images import prepare_image
from intgrad.images.xrai import xrai

SIZE = 8


@pytest.mark.slow
def test_idgi_from_the_shell_adds_up_and_records_the_method(tmp_path: Path) -> None:
    code = main(
        ["explain", "--sample", "chelsea", "--attribution", "idgi", "--steps", "4", "--quiet",
         "--output-dir", str(tmp_path)]
    )  # fmt: skip
    assert code == 0
    summary = json.loads((tmp_path / "chelsea.json").read_text())
    assert summary["attribution"] == "idgi" and summary["settings"]["attribution"] == "idgi"
    # IDGI's completeness is exact by construction, even at 4 steps.
    assert abs(summary["relative_delta"]) < 1e-4
    attributions = np.load(tmp_path / "chelsea-attributions.npy")
    total = summary["f_input"] - summary["f_baseline"]
    assert attributions.shape == (224, 224, 3)
    assert abs(float(attributions.sum(dtype=np.float64)) - total) < 1e-4 * abs(total) + 1e-6


@pytest.mark.slow
def test_smoothgrad_options_reach_the_method(tmp_path: Path) -> None:
    code = main(
        ["explain", "--sample", "coffee", "--attribution", "smoothgrad", "--samples", "2",
         "--stdev", "0.05", "--noise-kind", "vargrad", "--steps", "2", "--quiet",
         "--output-dir", str(tmp_path)]
    )  # fmt: skip
    assert code == 0
    summary = json.loads((tmp_path / "coffee.json").read_text())
    assert summary["attribution"] == "vargrad:integrated_gradients"
    assert summary["settings"]["attribution_options"] == {
        "samples": 2,
        "stdev": 0.05,
        "kind": "vargrad",
    }
    assert summary["delta"] is None  # a variance has no completeness
    assert (np.load(tmp_path / "coffee-attributions.npy") >= 0).all()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--max-sigma", "10"], "--max-sigma applies to --attribution blur-ig"),
        (["--attribution", "ig", "--samples", "4"], "--samples applies to"),
        (["--attribution", "smoothgrad", "--noise-kind", "mean"], "--noise-kind: expected one of"),
        (["--attribution", "guided-ig", "--fraction", "1.5"], "--fraction: must be in (0, 1]"),
        (["--attribution", "blur-ig", "--max-sigma", "-2"], "--max-sigma: must be a finite"),
        (["--attribution", "smoothgrad", "--stdev", "nan"], "--stdev: must be a finite"),
        (["--attribution", "lime"], "--attribution: invalid choice"),
        (["--attribution", "guided-ig", "--reweight", "smooth"], "the one reweighting is 'idgi'"),
        (["--attribution", "idgi", "--reweight", "idgi"], "--reweight applies to"),
        (
            ["--attribution", "smoothgrad", "--noise-inner", "lime"],
            "--noise-inner: expected one of ig, gradient",
        ),
        (["--noise-inner", "gradient"], "--noise-inner applies to --attribution smoothgrad"),
        (
            ["--attribution", "smoothgrad", "--noise", "relative"],
            "--noise: expected one of fraction, absolute",
        ),
        (["--attribution", "guided-ig", "--max-dist", "1.5"], "--max-dist: must be in [0, 1]"),
        (["--attribution", "idgi", "--path", "curved"], "--path: expected one of straight, blur"),
        (
            ["--attribution", "idgi", "--max-sigma", "10"],
            "--max-sigma applies to --attribution idgi with --path blur",
        ),
        (
            ["--attribution", "xrai", "--scales", "50,-1"],
            "--scales: expected comma-separated numbers > 0",
        ),
        (
            ["--attribution", "xrai", "--min-region-fraction", "1.5"],
            "--min-region-fraction: must be in (0, 1]",
        ),
        (["--attribution", "xrai", "--dilation-radius", "-1"], "--dilation-radius: must be >= 0"),
        (
            ["--attribution", "expected-gradients", "--background", "/no/such/dir"],
            "--background: '/no/such/dir' is neither an image file nor a directory",
        ),
        (["--background", "."], "--background applies to --attribution expected-gradients"),
    ],
)
def test_bad_family_options_are_usage_errors(
    arguments: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["explain", "--sample", "chelsea", "--output-dir", str(tmp_path), *arguments])
    assert code == 2
    error = capsys.readouterr().err
    assert message in error and "Traceback" not in error and len(error.splitlines()) == 1
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_a_background_directory_without_photos_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "empty").mkdir()
    out = tmp_path / "out"
    code = main(
        ["explain", "--sample", "chelsea", "--attribution", "expected-gradients", "--background",
         str(tmp_path / "empty"), "--output-dir", str(out)]
    )  # fmt: skip
    error = capsys.readouterr().err
    assert code == 2 and len(error.splitlines()) == 1
    assert "--background: no images (.jpg" in error and not out.exists()


# --- the options reach the methods: a tiny TorchScript classifier of 8x8 photos ---------------


class _Tiny(nn.Module):
    """Two logits linear in the pixels; F is the softmax probability of the target."""

    def __init__(self) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(0)
        self.linear = nn.Linear(3 * SIZE * SIZE, 2)
        with torch.no_grad():
            self.linear.weight.copy_(0.3 * torch.randn(2, 3 * SIZE * SIZE, generator=generator))
            self.linear.bias.zero_()
        self.labels = ["a", "b"]
        self.input_size = [SIZE, SIZE]

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.linear(images.flatten(1))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The model file, a photo with values in [0, 127/255] and a background directory."""
    root = tmp_path_factory.mktemp("tiny")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # TorchScript, deprecated in 2.9
        torch.jit.script(_Tiny()).save(str(root / "tiny.pt"))
    pixels = np.random.default_rng(1).integers(0, 129, (SIZE, SIZE, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(root / "photo.png")
    (root / "background").mkdir()
    Image.fromarray(pixels).save(root / "background" / "same.png")
    Image.fromarray(np.zeros_like(pixels)).save(root / "background" / "black.png")
    (root / "background" / "notes.txt").write_text("not a photo")
    return {"model": root / "tiny.pt", "photo": root / "photo.png", "root": root}


def _explain(tiny: dict[str, Path], out: Path, *arguments: str) -> tuple[dict[str, Any], Any]:
    code = main(
        ["explain", str(tiny["photo"]), "--model", str(tiny["model"]), "--quiet",
         "--output-dir", str(out), *arguments]
    )  # fmt: skip
    assert code == 0
    summary = json.loads((out / "photo.json").read_text())
    return summary, np.load(out / "photo-attributions.npy")


def _gradient(tiny: dict[str, Path], target: int) -> np.ndarray:
    """∂p_target/∂x at the photo, channels-last."""
    pixels, _ = prepare_image(str(tiny["photo"]), (SIZE, SIZE), "pad")
    module = _Tiny()  # the weights of the saved file: the same seed
    images = torch.tensor(pixels.transpose(2, 0, 1)[None], requires_grad=True)
    torch.softmax(module(images), dim=-1)[0, target].backward()
    assert images.grad is not None
    return images.grad[0].numpy().transpose(1, 2, 0)


def test_smoothgrad_of_the_gradient_with_tiny_noise_is_the_gradient(
    tiny: dict[str, Path], tmp_path: Path
) -> None:
    summary, attributions = _explain(
        tiny, tmp_path, "--attribution", "smoothgrad", "--noise-inner", "gradient",
        "--noise", "absolute", "--stdev", "1e-5", "--samples", "4",
    )  # fmt: skip
    assert summary["attribution"] == "smoothgrad:gradient"
    assert summary["baseline"] == "none (the gradient)" and summary["delta"] is None
    gradient = _gradient(tiny, summary["target"])
    assert np.abs(gradient).max() > 0.1  # measured 0.19
    # Noise of 1e-5 moves the gradient by ~1e-6 here (measured 2.8e-6 at most).
    np.testing.assert_allclose(attributions, gradient, atol=2e-5)


def test_absolute_noise_is_the_stdev_itself(tiny: dict[str, Path], tmp_path: Path) -> None:
    pixels, _ = prepare_image(str(tiny["photo"]), (SIZE, SIZE), "pad")
    spread = float(pixels.max() - pixels.min())
    assert abs(spread - 127 / 255) < 1e-6  # not 1: a fraction of it is not the stdev itself
    common = ("--attribution", "smoothgrad", "--noise-inner", "gradient", "--samples", "8")
    _, fraction = _explain(tiny, tmp_path / "fraction", *common, "--stdev", "0.5")
    _, same = _explain(
        tiny, tmp_path / "same", *common, "--noise", "absolute", "--stdev", repr(0.5 * spread)
    )
    _, wider = _explain(tiny, tmp_path / "wider", *common, "--noise", "absolute", "--stdev", "0.5")
    # The same seed draws the same normals: σ = 0.5 · range either way (measured 7e-9 apart).
    np.testing.assert_allclose(same, fraction, atol=1e-6)
    # Twice the noise smooths more (measured 0.033 apart, on attributions of up to 0.14).
    assert np.abs(wider - fraction).max() > 0.01


def test_guided_ig_max_dist_zero_is_left_riemann_ig(tiny: dict[str, Path], tmp_path: Path) -> None:
    _, anchored = _explain(
        tiny, tmp_path / "zero", "--attribution", "guided-ig", "--max-dist", "0", "--steps", "8"
    )
    _, unbounded = _explain(tiny, tmp_path / "one", "--attribution", "guided-ig", "--steps", "8")
    summary, ig = _explain(tiny, tmp_path / "ig", "--steps", "8", "--method", "riemann_left")
    assert summary["settings"]["method"] == "riemann_left"
    np.testing.assert_allclose(anchored, ig, atol=1e-6)  # measured 1.5e-8
    assert np.abs(unbounded - ig).max() > 0.01  # measured 0.020, attributions up to 0.12
    options = json.loads((tmp_path / "zero" / "photo.json").read_text())["settings"]
    assert options["attribution_options"] == {"max_dist": 0.0}


def test_idgi_on_the_blur_path_starts_at_the_blur_and_adds_up(
    tiny: dict[str, Path], tmp_path: Path
) -> None:
    summary, attributions = _explain(
        tiny, tmp_path, "--attribution", "idgi", "--path", "blur", "--max-sigma", "20",
        "--steps", "8",
    )  # fmt: skip
    assert summary["baseline"] == "blur(sigma=20)"
    assert summary["settings"]["attribution_options"] == {"path": "blur", "max_sigma": 20.0}
    total = summary["f_input"] - summary["f_baseline"]
    assert abs(total) > 0.05  # measured 0.10 at sigma 50
    assert abs(float(attributions.sum(dtype=np.float64)) - total) < 1e-5


def test_xrai_options_reach_the_regions(tiny: dict[str, Path], tmp_path: Path) -> None:
    options = ("--scales", "50", "--min-region-fraction", "0.25", "--dilation-radius", "0")
    _, chosen = _explain(
        tiny, tmp_path / "chosen", "--attribution", "xrai", "--steps", "8", *options
    )
    _, default = _explain(tiny, tmp_path / "default", "--attribution", "xrai", "--steps", "8")
    pixels, _ = prepare_image(str(tiny["photo"]), (SIZE, SIZE), "pad")
    images = pixels[None]
    session = Explainer(_Tiny(), output="probability")
    summary = json.loads((tmp_path / "chosen" / "photo.json").read_text())
    nchw = torch.tensor(images.transpose(0, 3, 1, 2))
    ig = session.attribute(
        nchw,
        baselines=[torch.zeros_like(nchw), torch.ones_like(nchw)],
        target=[summary["target"]],
        steps=8,
    )
    regions = xrai(
        None,
        images,
        attributions=ig.attributions.numpy().sum(axis=1),
        scales=(50.0,),
        min_region_fraction=0.25,
        dilation_radius=0,
    )
    np.testing.assert_allclose(chosen.sum(axis=-1), regions.saliency[0], atol=1e-6)
    assert np.abs(chosen - default).max() > 1e-3  # measured 0.011


def test_expected_gradients_reads_the_background_directory(
    tiny: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    same = str(tiny["root"] / "background" / "same.png")
    _, zero = _explain(
        tiny, tmp_path / "same", "--attribution", "expected-gradients", "--background", same
    )
    assert not zero.any()  # the one reference is the photo itself: x − x′ = 0
    background = tmp_path / "background"
    shutil.copytree(tiny["root"] / "background", background)
    summary, _ = _explain(
        tiny, tmp_path / "both", "--attribution", "expected-gradients", "--samples", "4",
        "--background", str(background),
    )  # fmt: skip
    assert summary["baseline"] == "2 background photos"
    recorded = summary["settings"]["attribution_options"]["background"]
    assert [Path(file).name for file in recorded] == ["black.png", "same.png"]  # no notes.txt
    # intgrad evaluate re-runs the method with the recorded background...
    result = str(tmp_path / "both" / "photo.json")
    evaluate = ["evaluate", result, "--metrics", "sensitivity", "--samples", "2", "--json"]
    assert main(evaluate) == 0
    report = json.loads(capsys.readouterr().out)["results"][0]
    sensitivity = report["metrics"]["sensitivity"]["value"]
    assert np.isfinite(sensitivity) and sensitivity > 0  # measured 2.5: 4 Monte Carlo samples
    # ... and says so in one line when a background photo has gone.
    (background / "black.png").unlink()
    assert main(evaluate) == 2  # a result that cannot be read, as a missing photo
    error = capsys.readouterr().err
    assert len(error.splitlines()) == 1 and "its background photo" in error


def test_a_background_file_that_is_not_a_photo_is_a_usage_error(
    tiny: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    notes = str(tiny["root"] / "background" / "notes.txt")
    code = main(
        ["explain", str(tiny["photo"]), "--model", str(tiny["model"]), "--attribution",
         "expected-gradients", "--background", notes, "--output-dir", str(tmp_path / "out")]
    )  # fmt: skip
    error = capsys.readouterr().err
    assert code == 2 and len(error.splitlines()) == 1 and f"--background {notes}:" in error
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_guided_ig_reweighted_by_idgi_adds_up_from_the_shell(tmp_path: Path) -> None:
    code = main(
        ["explain", "--sample", "rocket", "--attribution", "guided-ig", "--reweight", "idgi",
         "--steps", "4", "--quiet", "--output-dir", str(tmp_path)]
    )  # fmt: skip
    assert code == 0
    summary = json.loads((tmp_path / "rocket.json").read_text())
    assert summary["attribution"] == "idgi:guided_ig"
    assert abs(summary["relative_delta"]) < 1e-4
