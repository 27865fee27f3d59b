"""One :class:`~intgrad.images.ImageExplainer` per model, reused by every call and thread.

The session must give exactly what :func:`~intgrad.images.explain_images` gives (which is now a
thin wrapper around a fresh one), keep its backend and compiled steps between calls, refuse
bad options before any work, and give every thread the result it would get alone.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

import intgrad
import intgrad.images.explain as explain_module
from intgrad.backends.torch import PRIVATE_COPIES
from intgrad.images import (
    ImageExplainer,
    ImageExplanation,
    explain_image,
    explain_images,
    load_sample,
    top_k_predictions,
)
from intgrad.images.methods import IMAGE_ATTRIBUTIONS, attribute_photos
from intgrad.images.models import LoadedModel, load_model

SIZE = 24
THREADS = 4


class CountingNet(nn.Module):
    """A small smooth CNN on 24 × 24 RGB with three classes that counts its forward passes."""

    def __init__(self) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(5)
        self.conv = nn.Conv2d(3, 4, 5, padding=2)
        self.head = nn.Linear(4 * 36, 3)
        with torch.no_grad():
            for parameter in self.parameters():
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.3)
        self.calls = 0

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        hidden = torch.tanh(self.conv(images))
        return self.head(nn.functional.avg_pool2d(hidden, 4).flatten(1))


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread() -> Iterator[None]:
    """One intra-op thread per call (restored after): the threads test is about our threads."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def tiny() -> LoadedModel:
    return LoadedModel(CountingNet().eval(), "counting", (SIZE, SIZE), ("a", "b", "c"))


@pytest.fixture(scope="module")
def photos() -> list[np.ndarray]:
    rng = np.random.default_rng(17)
    return [rng.uniform(0.0, 1.0, size=(SIZE, SIZE, 3)).astype(np.float32) for _ in range(2)]


@pytest.fixture(scope="module")
def embedded() -> LoadedModel:
    return load_model()


def _options(attribution: str, photos: list[np.ndarray]) -> dict[str, Any]:
    """Cheap settings of each member on the tiny model."""
    options: dict[str, Any] = {"attribution": attribution, "steps": 4}
    if attribution == "expected-gradients":
        options["attribution_options"] = {"samples": 3, "background": np.stack(photos) * 0.5}
    elif attribution == "smoothgrad":
        options["attribution_options"] = {"samples": 2}
    return options


def _assert_same(got: list[ImageExplanation], expected: list[ImageExplanation]) -> None:
    """Bit for bit the same explanations (all but the wall-clock time)."""
    assert len(got) == len(expected)
    for one, other in zip(got, expected, strict=True):
        np.testing.assert_array_equal(one.attributions, other.attributions)
        np.testing.assert_array_equal(one.baseline, other.baseline)
        np.testing.assert_array_equal(one.image, other.image)
        summary, reference = one.summary(), other.summary()
        summary.pop("seconds"), reference.pop("seconds")
        assert summary == reference


# --- the session and the wrapper --------------------------------------------------------------


@pytest.mark.parametrize("attribution", IMAGE_ATTRIBUTIONS)
def test_session_equals_explain_images(
    attribution: str, tiny: LoadedModel, photos: list[np.ndarray]
) -> None:
    options = _options(attribution, photos)
    fresh = explain_images(photos, model=tiny, **options)
    session = ImageExplainer(tiny)
    first = session.explain(photos, **options)
    again = session.explain(photos, **options)  # the kept session gives the same again
    through = explain_images(photos, model=session, **options)
    _assert_same(first, fresh)
    _assert_same(again, fresh)
    _assert_same(through, fresh)
    assert explain_image(photos[0], model=session, **options).target == fresh[0].target


def test_properties_and_predict(tiny: LoadedModel, photos: list[np.ndarray]) -> None:
    session = ImageExplainer(tiny, backend="tensorflow")  # a loaded model keeps its framework
    assert session.model is tiny
    assert isinstance(session.explainer, intgrad.Explainer)
    assert session.explainer.model is tiny.module
    assert session.explainer.output == "probability"
    assert (session.labels, session.name, session.input_size) == (
        ("a", "b", "c"),
        "counting",
        (SIZE, SIZE),
    )
    assert repr(session) == "ImageExplainer('counting')"
    assert session.predict(np.stack(photos), k=2) == top_k_predictions(tiny, np.stack(photos), 2)
    with pytest.raises(ValueError, match="top-k must be >= 1"):
        session.predict(photos[0], k=0)


def test_the_session_is_reused(tiny: LoadedModel, photos: list[np.ndarray]) -> None:
    session = ImageExplainer(tiny)
    explainer = session.explainer
    session.explain(photos[:1], steps=4)
    backend: Any = explainer._backend
    assert backend is not None
    # Torch runs eagerly (nothing in ``_steps``); what is kept is the session's backend and
    # the model's private channels-last copy (made on the CPU for convolutional models).
    copy = PRIVATE_COPIES.kept(tiny.module)
    assert copy is not None
    session.explain(photos, steps=4, attribution="idgi")
    session.explain(photos, steps=4, target="b")
    assert session.explainer is explainer
    assert explainer._backend is backend
    assert PRIVATE_COPIES.kept(tiny.module) is copy


def test_the_compiled_steps_are_reused_with_keras(photos: list[np.ndarray]) -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    pytest.importorskip("tensorflow")
    keras = pytest.importorskip("keras")
    from intgrad.images.efficientnet_lite_keras import KerasClassifier

    pixels = keras.Input((SIZE, SIZE, 3))
    hidden = keras.layers.Conv2D(4, 3, activation="tanh")(pixels)
    logits = keras.layers.Dense(3)(keras.layers.GlobalAveragePooling2D()(hidden))
    model = KerasClassifier(keras.Model(pixels, logits), "keras", (SIZE, SIZE), ("a", "b", "c"))
    session = ImageExplainer(model)
    first = session.explain(photos, steps=4)
    steps = dict(session.explainer._steps)
    assert steps  # the traced chunk step of this model and path
    again = session.explain(photos, steps=4)
    assert len(session.explainer._steps) == len(steps)
    assert all(session.explainer._steps[key] is step for key, step in steps.items())
    _assert_same(again, first)


# --- bad arguments ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attribution", "options", "message"),
    [
        ("ig", {"x": 1}, "ig takes no option"),
        ("blur-ig", {"samples": 3}, r"blur-ig takes no option\(s\) samples"),
        ("lime", None, "attribution must be one of"),
    ],
)
def test_bad_options_fail_before_any_work(
    attribution: str,
    options: dict[str, Any] | None,
    message: str,
    tiny: LoadedModel,
    photos: list[np.ndarray],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    session = ImageExplainer(tiny)
    with pytest.raises(ValueError, match=message):
        session.explain(photos, attribution=attribution, attribution_options=options)
    with pytest.raises(ValueError, match=message):
        explain_images(photos, model=session, attribution=attribution, attribution_options=options)
    assert isinstance(tiny.module, CountingNet) and tiny.module.calls == 0
    assert session.explainer._backend is None

    def no_loading(*args: object) -> None:
        raise AssertionError("the model was loaded before the options were checked")

    monkeypatch.setattr(explain_module, "load_image_model", no_loading)
    with pytest.raises(ValueError, match=message):
        explain_images(photos, attribution=attribution, attribution_options=options)


def test_attribute_photos_takes_a_probability_session(
    tiny: LoadedModel, photos: list[np.ndarray]
) -> None:
    pixels = np.stack(photos)

    def attribute(session: Any) -> Any:
        return attribute_photos(
            "ig",
            session,
            lambda a: torch.from_numpy(np.ascontiguousarray(a.transpose(0, 3, 1, 2))),
            lambda t: t.detach().numpy().transpose(0, 2, 3, 1),
            pixels,
            np.zeros_like(pixels),
            "black",
            [0, 1],
            steps=4,
        )

    with pytest.raises(TypeError, match=r"takes the model's intgrad\.Explainer"):
        attribute(tiny.module)
    with pytest.raises(ValueError, match="output='probability'"):
        attribute(intgrad.Explainer(tiny.module))
    with pytest.raises(ValueError, match="output='probability'"):
        attribute(intgrad.Explainer(tiny.module, output="probability", multiply_by_inputs=False))
    assert attribute(intgrad.Explainer(tiny.module, output="probability")).attributions.shape == (
        2,
        SIZE,
        SIZE,
        3,
    )


# --- the embedded model -----------------------------------------------------------------------


@pytest.mark.slow
def test_ig_is_the_public_call_on_the_embedded_model(embedded: LoadedModel) -> None:
    """What ``explain_images`` computed before it had a session: ``integrated_gradients``."""
    session = ImageExplainer(embedded)
    (explanation,) = session.explain([load_sample("coffee")], steps=8)
    pixels = torch.from_numpy(explanation.image.transpose(2, 0, 1)[None].copy())
    reference = intgrad.integrated_gradients(
        embedded.module,
        pixels,
        baselines=torch.zeros_like(pixels),
        target=[explanation.target],
        steps=8,
        output="probability",
        return_path=True,
        seed=0,
    )
    np.testing.assert_array_equal(
        explanation.attributions, reference.attributions.numpy()[0].transpose(1, 2, 0)
    )
    assert explanation.result.delta is not None and reference.delta is not None
    np.testing.assert_array_equal(explanation.result.delta, reference.delta)


@pytest.mark.slow
def test_threads_share_one_session(embedded: LoadedModel) -> None:
    """Four threads at once on one ImageExplainer get exactly their sequential results, and
    the model's parameters (values and ``requires_grad``) are left as they were."""
    chelsea, coffee = load_sample("chelsea"), load_sample("coffee")
    jobs: list[tuple[list[np.ndarray], dict[str, Any]]] = [
        ([chelsea], {}),
        ([coffee], {"baseline": "white"}),
        ([chelsea, coffee], {"target": "espresso"}),
        ([coffee], {"attribution": "idgi"}),
    ]
    module = embedded.module
    parameters = list(module.parameters())
    original = parameters[0].requires_grad
    parameters[0].requires_grad_(False)  # a mix of flags, as a user may leave them
    flags = [p.requires_grad for p in parameters]
    values = [p.detach().clone() for p in parameters]
    buffers = [b.detach().clone() for b in module.buffers()]
    session = ImageExplainer(embedded)
    try:
        expected = [session.explain(images, steps=4, **options) for images, options in jobs]
        start = threading.Barrier(THREADS)

        def work(thread: int) -> list[list[ImageExplanation]]:
            start.wait()
            order = [jobs[(thread + turn) % len(jobs)] for turn in range(2)]
            return [session.explain(images, steps=4, **options) for images, options in order]

        with ThreadPoolExecutor(THREADS) as pool:
            results = list(pool.map(work, range(THREADS)))
        for thread, explained in enumerate(results):
            for turn, got in enumerate(explained):
                _assert_same(got, expected[(thread + turn) % len(jobs)])
        assert [p.requires_grad for p in parameters] == flags
        assert all(p.grad is None for p in parameters)
        assert all(torch.equal(p, v) for p, v in zip(parameters, values, strict=True))
        assert all(torch.equal(b, v) for b, v in zip(module.buffers(), buffers, strict=True))
        assert not module.training
    finally:
        parameters[0].requires_grad_(original)


def test_photos_default_to_auto_steps_within_their_tolerance() -> None:
    # The images layer's default is steps="auto" at a 1 % tolerance: a photo's attributions add
    # up to F(x) − F(x′) within it, with the steps it took and its own error estimate.
    from intgrad.images import ImageExplainer, load_sample

    explanation = ImageExplainer().explain([load_sample("rocket")], top_k=1)[0]
    result = explanation.result
    assert result.method == "auto" and result.steps >= 25
    assert abs(float(result.relative_delta[0])) <= 0.01
    assert float(result.estimated_error[0]) <= 0.03
