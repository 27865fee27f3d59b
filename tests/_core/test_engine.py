"""The core's one loop, its paths and planners, on the NumPy reference backend.

Every number here comes from a closed form (tests/closed_forms.py), so a failure is the core's,
never a framework's.
"""

from __future__ import annotations

import numpy as np
import pytest

import intgrad
from intgrad import METHODS, Explainer, integrated_gradients, quadrature_rule
from intgrad._core.arguments import ArgumentLayout
from tests.closed_forms import Cubic, ListArgument, Quadratic, TanhLinear, TwoInputs


@pytest.fixture
def x(rng: np.random.Generator) -> np.ndarray:
    return rng.normal(size=(3, 5))


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("batch_size", [1, 4, None])
def test_every_rule_gives_its_closed_form(x: np.ndarray, method: str, batch_size) -> None:
    c, baseline = np.linspace(0.5, 2.0, 5), 0.3
    rule = quadrature_rule(method, 6)
    mean_alpha = float(rule.weights @ rule.alphas)
    result = integrated_gradients(
        Quadratic(c), x, baselines=baseline, steps=6, method=method, batch_size=batch_size
    )
    expected = 2 * c * (x - baseline) * (baseline + mean_alpha * (x - baseline))
    np.testing.assert_allclose(result.attributions, expected, rtol=1e-12)
    exact = (c * (x**2 - baseline**2)).sum(axis=1)
    np.testing.assert_allclose(result.delta, expected.sum(axis=1) - exact, atol=1e-12)
    assert result.steps == 6 and result.method == method


def test_several_baselines_run_in_one_pass_and_f_of_x_once(x: np.ndarray) -> None:
    model = Quadratic(1.5)
    baselines = [0.0, 0.5, x * 0.25]
    together = integrated_gradients(model, x, baselines=baselines, steps=4)
    # F(x) once per example, F(x′) once per baseline and example, then 4 steps per pair:
    # 3 + 9 forward rows and 36 gradient rows, in chunks of the call's size.
    assert sum(model.calls) == 3 + 9 + 36
    alone = [integrated_gradients(Quadratic(1.5), x, baselines=b, steps=4) for b in baselines]
    np.testing.assert_allclose(
        together.attributions, np.mean([r.attributions for r in alone], axis=0), rtol=1e-12
    )
    np.testing.assert_allclose(together.baseline_deltas, [r.delta for r in alone], atol=1e-12)
    np.testing.assert_allclose(together.f_baseline, np.mean([r.f_baseline for r in alone], 0))
    assert together.forward_evaluations == 1 + 3
    assert together.steps_per_example.tolist() == [12, 12, 12]


def test_two_path_tensors_each_get_their_share(rng: np.random.Generator) -> None:
    a, b = rng.normal(size=(2, 3)), rng.normal(size=(2, 4))
    u = np.array([1.0, -2.0, 0.5])
    result = integrated_gradients(TwoInputs(u), (a, b), steps=64)
    np.testing.assert_allclose(result.attributions[0], (a * u) ** 2, rtol=1e-12)
    np.testing.assert_allclose(result.attributions[1].sum(axis=1), np.sin(b).sum(axis=1))
    np.testing.assert_allclose(result.delta, 0.0, atol=1e-12)


def test_multiply_by_inputs_false_is_the_path_averaged_gradient(x: np.ndarray) -> None:
    c = 2.0
    averaged = integrated_gradients(Quadratic(c), x, steps=8, multiply_by_inputs=False)
    np.testing.assert_allclose(averaged.attributions, c * x, rtol=1e-12)  # ∫ 2cαx dα
    # The completeness check still measures the attributions (x − x′) · averaged gradient.
    np.testing.assert_allclose(averaged.delta, 0.0, atol=1e-12)


def test_extra_arguments_follow_captum_conventions(x: np.ndarray, rng) -> None:
    weight = rng.normal(size=(5, 2))
    model = TanhLinear(weight)
    scale = rng.uniform(1.0, 2.0, size=(3, 1))
    result = integrated_gradients(model, x, target=1, steps=5, additional_forward_args=scale)
    # One argument, not a tuple: passed as one; per-example rows follow their example.
    assert all(len(extra) == 1 and extra[0].shape == (rows, 1) for rows, extra in model.extras)
    plain = integrated_gradients(TanhLinear(weight), x, target=1, steps=5)
    np.testing.assert_allclose(result.attributions, scale * plain.attributions, rtol=1e-12)
    # A bare list is one argument (Captum's convention), passed whole.
    listed = integrated_gradients(ListArgument(), x, steps=3, additional_forward_args=[2.0, 1.0])
    np.testing.assert_allclose(listed.attributions, 2.0 * x, rtol=1e-12)


def _no_native(value: object) -> bool:
    """A backend whose own tensors are none of the test's values (TF or JAX, to NumPy)."""
    return False


def test_extra_argument_keys_hold_values_never_identities() -> None:
    def key(*args: object) -> object:
        return ArgumentLayout.split(args, _no_native, 3)[0].key

    scale = [1.0, {"mode": "a", "sizes": (2, 3)}, {4, 5}]
    first = key(scale, "name")
    assert key([1.0, {"mode": "a", "sizes": (2, 3)}, {5, 4}], "name") == first  # equal copies
    scale[1]["mode"] = "b"
    assert key(scale, "name") != first  # changed in place: another program
    assert key((1,)) != key([1]) and key(1) != key(1.0) != key(True)
    assert key(np.array(["a", "b"])) == key(np.array(["a", "b"])) != key(np.array(["a", "c"]))
    with pytest.raises(TypeError, match=r"additional_forward_args\[1\]: a 'bytearray' object"):
        key("fine", [bytearray(b"not hashable")])


def test_numeric_numpy_arrays_travel_as_arrays() -> None:
    mask, scale = np.ones((3, 4)), np.ones(4, np.float32)
    layout, rows, fixed = ArgumentLayout.split((mask, scale, 2.0), _no_native, 3)
    assert layout.kinds == ("row", "fixed", "constant") and layout.host == (True, True, False)
    assert rows[0] is mask and fixed[0] is scale
    # Another call's arrays of other values (and shapes) make the same program.
    other, _, _ = ArgumentLayout.split((2 * mask[:2], 3 * scale, 2.0), _no_native, 2)
    assert other.key == layout.key
    # The backend's own arrays are not host arrays.
    native, _, _ = ArgumentLayout.split((mask, scale, 2.0), lambda v: isinstance(v, np.ndarray), 3)
    assert native.kinds == layout.kinds and native.host == (False, False, False)


def test_the_default_chunk_never_changes_the_result(x: np.ndarray) -> None:
    reference = integrated_gradients(Cubic(), x, steps=7, batch_size=21)
    for batch_size in (1, 2, 5, 20):
        chunked = integrated_gradients(Cubic(), x, steps=7, batch_size=batch_size)
        np.testing.assert_allclose(chunked.attributions, reference.attributions, rtol=1e-13)


def test_progress_counts_gradient_rows(x: np.ndarray) -> None:
    calls: list[tuple[int, int]] = []
    integrated_gradients(
        Cubic(), x, steps=4, batch_size=5, progress=lambda d, t: calls.append((d, t))
    )
    assert calls == [(4, 12), (8, 12), (12, 12)]  # 12 rows in even chunks of 4


def test_adaptive_mode_reaches_its_tolerance_per_example(rng: np.random.Generator) -> None:
    x = np.stack([np.full(4, 0.1), rng.normal(size=4) * 3.0])
    result = integrated_gradients(Cubic(), x, steps="auto", tolerance=1e-4, return_path=True)
    np.testing.assert_allclose(result.attributions, x**3, rtol=5e-3, atol=1e-9)
    assert (result.relative_delta <= 1e-4).all()
    assert result.steps == int(result.steps_per_example.max())
    # The nearly linear first example stops first; the path record keeps NaN only past its end.
    first, second = result.steps_per_example.tolist()
    assert first <= second
    assert np.isfinite(result.path.alphas[0, :first]).all()
    assert result.estimated_error.shape == (2,)


def test_layer_pair_puts_the_path_in_the_activations(x: np.ndarray) -> None:
    c = np.linspace(1.0, 2.0, 5)

    def embed(values: np.ndarray) -> np.ndarray:
        return np.tanh(values)

    head = Quadratic(c)
    result = integrated_gradients(head, x, layer=(embed, head), steps=4)
    activations = np.tanh(x)
    np.testing.assert_allclose(result.attributions, c * activations**2, rtol=1e-12)
    np.testing.assert_allclose(result.delta, 0.0, atol=1e-12)
    given = integrated_gradients(
        head, x, layer=(embed, head), steps=4, layer_baselines=np.tanh(0.5) * np.ones(5)
    )
    np.testing.assert_allclose(
        given.attributions, c * (activations**2 - np.tanh(0.5) ** 2), rtol=1e-12
    )


def test_a_session_is_reusable_and_reports_like_the_one_shot_call(x: np.ndarray) -> None:
    explainer = Explainer(Cubic())
    assert explainer.multiplies_by_inputs
    first = explainer.attribute(x, steps=5)
    second = explainer.attribute(x * 2, steps=5, baselines=0.5)
    one_shot = integrated_gradients(Cubic(), x * 2, steps=5, baselines=0.5)
    np.testing.assert_allclose(second.attributions, one_shot.attributions, rtol=1e-14)
    assert first.baselines == ("black",) and second.baselines == ("constant(0.5)",)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"layer_baselines": 0.0}, ValueError, "layer_baselines needs a layer"),
        ({"steps": "many"}, ValueError, "steps must be a positive int or 'auto'"),
        ({"batch_size": True}, TypeError, "batch_size must be a positive int"),
        ({"multiply_by_inputs": "no"}, TypeError, "multiply_by_inputs must be a bool"),
    ],
)
def test_argument_errors(x: np.ndarray, kwargs, error, message) -> None:
    with pytest.raises(error, match=message):
        integrated_gradients(Cubic(), x, **{"steps": 2, **kwargs})


def test_empty_and_integer_inputs_are_refused(x: np.ndarray) -> None:
    with pytest.raises(ValueError, match="at least one example"):
        integrated_gradients(Cubic(), x[:0], steps=2)
    with pytest.raises(TypeError, match="must be a floating-point array"):
        integrated_gradients(Cubic(), np.arange(6).reshape(2, 3), steps=2)


def test_reference_backend_is_found_by_name_and_by_model(x: np.ndarray) -> None:
    named = integrated_gradients(Cubic(), x, steps=3, backend="numpy")
    found = integrated_gradients(Cubic(), x, steps=3)
    np.testing.assert_array_equal(named.attributions, found.attributions)
    assert isinstance(found, intgrad.Attribution)
