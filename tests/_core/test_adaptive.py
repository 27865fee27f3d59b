"""The adaptive mode: the warp, the nested levels, and ``steps="auto"`` on every backend."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from intgrad import integrated_gradients
from intgrad._core import adaptive as adaptive_module
from intgrad._core.adaptive import (
    CELLS,
    FIRST_CHECK_NODES,
    GAP_SHARE,
    PILOT_INTERVALS,
    AdaptiveSettings,
    PathWarp,
    _Cells,
    _correction,
    _final_combination,
    _refinement_rows,
    accumulator_slots,
    max_nodes,
    warp_from_pilot,
)


def _identity_warp() -> PathWarp:
    return warp_from_pilot(np.linspace(0, 1, 17), np.zeros(17))


def test_accumulator_rows_and_the_final_sum_are_the_cells_trapezoid_rules() -> None:
    slots = 2
    layout = accumulator_slots(slots)
    assert layout.shape == ((3 * CELLS + 1) * slots,) and (layout[:slots] == [0, 1]).all()
    cells = _Cells(slots)
    cells.levels[0] = np.arange(CELLS) % 4  # uneven levels: 1, 2, 4, 8 sub-intervals
    combination = _final_combination(cells)
    mine = combination.targets == 0
    rows, weights = combination.sources[mine], combination.weights[mine]
    # The interiors count once (their rows hold weighted sums); each boundary gets half the
    # width of the sub-intervals on either side, so every node's weights sum to 1 over t.
    assert (weights[rows < CELLS * slots] == 1.0).all()
    widths = 1.0 / (CELLS * 2.0 ** cells.levels[0])
    interior_weight = (widths * (2 ** cells.levels[0] - 1)).sum()
    assert interior_weight + weights[rows >= CELLS * slots].sum() == pytest.approx(1.0, abs=1e-15)
    np.testing.assert_allclose(weights[rows >= CELLS * slots][[0, -1]], widths[[0, -1]] / 2)
    assert (layout[rows] == 0).all() and max_nodes(100) == 100


def test_a_refinement_adds_the_midpoints_of_the_chosen_cells_only() -> None:
    owners = np.array([0, 1])
    levels = np.zeros((2, CELLS), dtype=np.int64)
    levels[1, 3] = 2
    chosen = np.zeros((2, CELLS), dtype=bool)
    chosen[0, 0] = chosen[1, 3] = True
    rows = _refinement_rows(owners, [_identity_warp()] * 2, chosen, levels)
    np.testing.assert_allclose(rows.alphas[:1], [0.5 / CELLS], atol=1e-12)
    expected = (3 + (2 * np.arange(4) + 1) / 8) / CELLS
    np.testing.assert_allclose(rows.alphas[1:], expected, atol=1e-12)
    np.testing.assert_allclose(rows.weights, [1 / (2 * CELLS)] + [1 / (8 * CELLS)] * 4, atol=1e-12)
    # Each goes into its cell's interior row: kind · slots + slot.
    assert rows.start_index.tolist() == [0, 3 * 2 + 1, 7, 7, 7]
    assert rows.example_index.tolist() == [0, 1, 1, 1, 1]


def test_warp_is_monotone_smooth_and_follows_the_change() -> None:
    alphas = np.linspace(0, 1, 17)
    outputs = np.tanh(20 * alphas)  # nearly all change in the first cells
    warp = warp_from_pilot(alphas, outputs)
    t = np.linspace(0, 1, 20001)
    mapped = warp.alphas(t)
    assert mapped[0] == 0.0 and mapped[-1] == 1.0 and (np.diff(mapped) >= 0).all()
    # φ′ is the derivative of φ and integrates to 1 over t.
    np.testing.assert_allclose(np.gradient(mapped, t)[1:-1], warp.slopes(t)[1:-1], rtol=2e-3)
    assert np.trapezoid(warp.slopes(t), t) == pytest.approx(1.0, abs=1e-6)
    # Half the density is uniform; the other half follows |ΔF|, so the first quarter of α
    # (where tanh(20α) changes) takes more than half of t.
    assert warp.alphas(np.array([0.5]))[0] < 0.25
    flat = warp_from_pilot(alphas, np.zeros(17))
    np.testing.assert_allclose(flat.alphas(t), t, atol=1e-12)


@pytest.mark.parametrize(
    ("settings", "error", "message"),
    [
        (AdaptiveSettings(tolerance=0.0), ValueError, "tolerance must be in"),
        (AdaptiveSettings(tolerance=1.5), ValueError, "tolerance must be in"),
        (AdaptiveSettings(attribution_tolerance=0.0), ValueError, "attribution_tolerance"),
        (AdaptiveSettings(max_steps=24), ValueError, "max_steps must be >= 25"),
        (AdaptiveSettings(max_steps=9.5), TypeError, "max_steps must be an int"),
    ],
)
def test_settings_errors(settings: AdaptiveSettings, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        settings.checked()


def _mlp(framework: Any, rng: np.random.Generator) -> Any:
    layers = [
        (rng.normal(size=(5, 12)), rng.normal(0, 0.1, 12)),
        (rng.normal(size=(12, 3)) / 3, np.zeros(3)),
    ]
    return framework.mlp(layers, "tanh", softmax=True)


def test_auto_matches_a_fine_fixed_rule_within_tolerance(framework: Any, rng) -> None:
    model = _mlp(framework, rng)
    x = framework.tensor(rng.normal(size=(4, 5)) * 2, "float64")
    reference = integrated_gradients(model, x, target=[0, 1, 2, 0], steps=256)
    result = integrated_gradients(model, x, target=[0, 1, 2, 0], steps="auto", tolerance=1e-3)
    expected = framework.numpy(reference.attributions)
    errors = np.linalg.norm(framework.numpy(result.attributions) - expected, axis=1)
    relative = errors / np.linalg.norm(expected, axis=1)
    assert (relative <= 3e-3).all()
    assert (result.relative_delta <= 1e-3).all()
    assert (result.estimated_error <= 3e-3).all()
    # The completeness check comes from the pilot: F(x), F(x′) equal the fixed rule's.
    np.testing.assert_allclose(result.f_input, reference.f_input, rtol=1e-12)
    np.testing.assert_allclose(result.f_baseline, reference.f_baseline, rtol=1e-12)
    assert result.method == "auto" and result.forward_evaluations >= PILOT_INTERVALS + 1
    assert result.steps == result.steps_per_example.max() >= 25


def test_linear_model_stops_at_the_first_check(framework: Any, rng) -> None:
    # A constant integrand: every cell is exact at once, so the first check (25) suffices.
    weight = rng.normal(size=(4, 2))
    model = framework.mlp([(weight, np.zeros(2))], "none")
    x_np = rng.normal(size=(3, 4))
    result = integrated_gradients(model, framework.tensor(x_np, "float64"), target=1, steps="auto")
    np.testing.assert_allclose(
        framework.numpy(result.attributions), weight[:, 1] * x_np, rtol=1e-12
    )
    assert result.steps_per_example.tolist() == [FIRST_CHECK_NODES] * 3


def test_max_steps_is_respected_and_the_run_is_deterministic(framework: Any, rng) -> None:
    model = _mlp(framework, rng)
    x = framework.tensor(rng.normal(size=(2, 5)) * 3, "float64")
    runs = [
        integrated_gradients(model, x, target=1, steps="auto", tolerance=1e-9, max_steps=60)
        for _ in range(2)
    ]
    assert (runs[0].steps_per_example <= 60).all() and (runs[0].steps_per_example > 49).all()
    np.testing.assert_array_equal(
        framework.numpy(runs[0].attributions), framework.numpy(runs[1].attributions)
    )
    np.testing.assert_array_equal(runs[0].estimated_error, runs[1].estimated_error)
    assert (runs[0].estimated_error > 1e-9).all()


def test_auto_with_several_baselines_path_and_progress(framework: Any, rng) -> None:
    model = _mlp(framework, rng)
    x = framework.tensor(rng.normal(size=(2, 5)), "float64")
    calls: list[tuple[int, int]] = []
    result = integrated_gradients(
        model,
        x,
        target=0,
        steps="auto",
        baselines=["black", 0.5],
        return_path=True,
        max_steps=60,
        progress=lambda done, total: calls.append((done, total)),
    )
    assert len(result.paths) == 2 and result.baseline_deltas.shape == (2, 2)
    path = result.paths[0]
    counts = np.isfinite(path.alphas).sum(axis=1)
    assert (counts >= FIRST_CHECK_NODES).all() and (counts <= 60).all()
    assert (np.diff(path.alphas[0][: counts[0]]) > 0).all()
    both = counts + np.isfinite(result.paths[1].alphas).sum(axis=1)
    np.testing.assert_array_equal(both, result.steps_per_example)
    # The adaptive mode may stop early; the last report is (done, done).
    done = int(result.steps_per_example.sum())
    assert calls[-1] == (done, done)


def test_auto_argument_errors(framework: Any, rng) -> None:
    model = _mlp(framework, rng)
    x = framework.tensor(rng.normal(size=(2, 5)), "float64")
    with pytest.raises(ValueError, match="omit it with steps='auto'"):
        integrated_gradients(model, x, target=0, steps="auto", method="riemann_left")
    with pytest.raises(ValueError, match="steps must be a positive int or 'auto'"):
        integrated_gradients(model, x, target=0, steps="many")
    with pytest.raises(ValueError, match="tolerance must be in"):
        integrated_gradients(model, x, target=0, steps="auto", tolerance=2.0)


def test_pilot_reads_its_bisections_from_one_fine_call_when_a_chunk_holds_it(
    framework: Any, rng
) -> None:
    model = _mlp(framework, rng)
    x = framework.tensor(rng.normal(size=(2, 5)) * 2, "float64")
    calls: list[int] = []

    def counted(*args: Any) -> Any:
        calls.append(int(args[0].shape[0]))
        return model(*args)

    small = integrated_gradients(counted, x, target=[0, 1], steps="auto", batch_size=6)
    small_calls = len(calls)
    calls.clear()
    large = integrated_gradients(counted, x, target=[0, 1], steps="auto", batch_size=130)
    # Same pilot points, hence the same warp and the same attributions...
    np.testing.assert_allclose(
        framework.numpy(large.attributions), framework.numpy(small.attributions), rtol=1e-10
    )
    np.testing.assert_array_equal(large.steps_per_example, small.steps_per_example)
    # ...from the 65-point grid in one call (plus any bisection finer than it).
    assert PILOT_INTERVALS + 1 <= small.forward_evaluations < 65 <= large.forward_evaluations
    if framework.name == "torch":  # TensorFlow and JAX call the model only when tracing
        assert calls[0] == 2 * 65 and len(calls) < small_calls


def test_examples_that_finish_early_leave_the_others_unchanged(framework: Any, rng) -> None:
    # Example 0 sits where the model is nearly linear along its path (it stops at the first
    # check); example 1 crosses the tanh's bend (it needs more). Each gets what it would get
    # alone: cells, steps and attributions do not depend on the rest of the batch.
    model = _mlp(framework, rng)
    x_np = np.stack([rng.normal(size=5) * 0.05, rng.normal(size=5) * 3])
    together = integrated_gradients(
        model, framework.tensor(x_np, "float64"), target=1, steps="auto", tolerance=1e-4
    )
    steps = together.steps_per_example
    assert steps[0] < steps[1]
    for index in range(2):
        alone = integrated_gradients(
            model,
            framework.tensor(x_np[index : index + 1], "float64"),
            target=1,
            steps="auto",
            tolerance=1e-4,
        )
        assert alone.steps == steps[index]
        np.testing.assert_allclose(
            framework.numpy(alone.attributions)[0],
            framework.numpy(together.attributions)[index],
            rtol=1e-9,
            atol=1e-12,
        )


def test_the_completeness_gap_alone_drives_refinement_to_its_tolerance(
    framework: Any, rng, monkeypatch: pytest.MonkeyPatch
) -> None:
    # With the L2 bar out of the way and no correction to close the gap, the cells with the
    # largest exact local gap (their sum against F's change over the cell) are refined until
    # the total gap meets the tolerance.
    monkeypatch.setattr(adaptive_module, "_correction", lambda *args: None)
    model = _mlp(framework, rng)
    x = framework.tensor(rng.normal(size=(3, 5)) * 3, "float64")
    loose = integrated_gradients(
        model, x, target=2, steps="auto", tolerance=0.5, attribution_tolerance=10.0
    )
    tight = integrated_gradients(
        model, x, target=2, steps="auto", tolerance=1e-4, attribution_tolerance=10.0
    )
    assert (loose.steps_per_example == FIRST_CHECK_NODES).all()
    assert (loose.relative_delta > 1e-4).any()
    assert (tight.relative_delta <= 1e-4).all()
    assert (tight.steps_per_example <= 513).all()
    assert tight.steps > FIRST_CHECK_NODES


def test_a_gap_within_the_l2_budget_is_closed_along_the_latest_changes(
    framework: Any, rng, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The same examples: where the L2 estimate leaves room, the gap is closed to GAP_SHARE of
    # the tolerance at the first check, and the result stays as accurate as its estimate says.
    taken: list[float] = []
    original = adaptive_module._correction

    def recorded(*args: Any) -> Any:
        found = original(*args)
        taken.append(np.nan if found is None else found[1])
        return found

    monkeypatch.setattr(adaptive_module, "_correction", recorded)
    model = _mlp(framework, rng)
    x = framework.tensor(rng.normal(size=(3, 5)) * 3, "float64")
    reference = integrated_gradients(model, x, target=2, steps=1024)
    result = integrated_gradients(
        model, x, target=2, steps="auto", tolerance=1e-4, attribution_tolerance=0.05
    )
    plain = integrated_gradients(
        model, x, target=2, steps="auto", tolerance=0.9, attribution_tolerance=0.05
    )
    # Examples that stopped at the first check although its plain gap was over the tolerance.
    corrected = (result.steps_per_example == FIRST_CHECK_NODES) & (plain.relative_delta > 1e-4)
    assert (plain.steps_per_example == FIRST_CHECK_NODES).all()
    assert corrected.any() and taken
    # Exactly the aimed gap: the measured latest changes are the ones the sum adds.
    np.testing.assert_allclose(result.relative_delta[corrected], GAP_SHARE * 1e-4, rtol=1e-6)
    assert (result.relative_delta <= 1e-4).all()
    expected = framework.numpy(reference.attributions)
    error = np.linalg.norm(framework.numpy(result.attributions) - expected, axis=1)
    relative = error / np.linalg.norm(expected, axis=1)
    assert (relative <= result.estimated_error + 1e-3).all()
    assert (result.estimated_error <= 0.05).all()
    # The move is small: the uncorrected first check differs from it by at most its bound.
    moved = np.linalg.norm(
        framework.numpy(result.attributions) - framework.numpy(plain.attributions), axis=1
    )
    assert (moved[corrected] > 0).all()
    bound = np.hypot(result.estimated_error, plain.estimated_error)
    assert (
        moved[corrected] / np.linalg.norm(expected, axis=1)[corrected] <= bound[corrected]
    ).all()


def test_the_correction_is_the_least_move_that_meets_the_aim() -> None:
    cells = _Cells(1)
    cells.change_sums[0] = np.linspace(-1.0, 2.0, CELLS)
    cells.previous[0] = np.linspace(0.5, 3.0, CELLS)
    settings = AdaptiveSettings(tolerance=0.01)
    found = _correction(cells, 0, 0.3, settings, 10.0)
    assert found is not None
    betas, bound = found
    aim = GAP_SHARE * 0.01 * 10.0
    assert float(betas @ cells.change_sums[0]) == pytest.approx(-(0.3 - aim), rel=1e-12)
    ratio = betas / (cells.change_sums[0] / cells.previous[0] ** 2)
    np.testing.assert_allclose(ratio, ratio[0], rtol=1e-12)  # β ∝ s / ‖D‖²: least Σβ²‖D‖²
    assert bound == pytest.approx(float(np.abs(betas * cells.previous[0]).sum()), rel=1e-12)
    # A gap already within the aim is left alone; no change that moves the sum, no move.
    within = _correction(cells, 0, -0.02, settings, 10.0)
    assert within is not None and np.abs(within[0]).max() == 0.0
    cells.change_sums[0] = 0.0
    assert _correction(cells, 0, 0.3, settings, 10.0) is None
