"""InteractionsDisplay: the arrays it computes, what it draws, the PNG it saves, every refusal."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from matplotlib.figure import Figure

from intgrad.family.hessians import integrated_hessians
from intgrad.viz.interactions import InteractionsDisplay

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MATRIX = np.array([[4.0, -0.5, 0.25], [-0.5, -3.0, 0.125], [0.25, 0.125, 2.0]])
LABELS = ("age", "sex", "race")

_opened: list[Figure] = []


@pytest.fixture(autouse=True)
def _no_pyplot_figures() -> Iterator[None]:
    """The display draws outside pyplot: no figure is left in its registry."""
    yield
    import matplotlib.pyplot as plt

    for figure in _opened:
        figure.clear()
    _opened.clear()
    assert plt.get_fignums() == []


def _drawn(display: InteractionsDisplay, **kwargs: Any) -> InteractionsDisplay:
    assert display.plot(**kwargs) is display
    _opened.append(display.figure_)
    return display


class QuadraticForm:
    """F(x) = xᵀ A x per row: Γ_ij = x_i x_j (A + Aᵀ)_ij / 4 off the diagonal (x′ = 0)."""

    def __init__(self, a: np.ndarray) -> None:
        self.a = a

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return np.einsum("ri,ij,rj->r", x, self.a, x)

    def vjp(self, inputs: tuple[Any, ...], cotangent: np.ndarray) -> tuple[np.ndarray, ...]:
        return ((inputs[0] @ (self.a + self.a.T)) * cotangent[:, None],)


@pytest.fixture
def result() -> Any:
    a = np.array([[1.0, 2.0, 0.0], [0.0, 0.0, -4.0], [0.0, 0.0, 0.5]])
    x = np.array([[1.0, 1.0, 1.0], [2.0, -1.0, 1.0]])
    return integrated_hessians(QuadraticForm(a), x, backend="numpy", labels=list(LABELS))


# --- the arrays -----------------------------------------------------------------------------------


def test_the_diagonal_is_out_of_the_scale_by_default() -> None:
    display = InteractionsDisplay(MATRIX, LABELS)
    assert display.column_labels == LABELS and display.own.tolist() == [0, 1, 2]
    np.testing.assert_array_equal(display.masked, np.eye(3, dtype=bool))
    assert display.limit == 0.5 and display.signed and display.annotated
    with_diagonal = InteractionsDisplay(MATRIX, LABELS, diagonal=True)
    assert not with_diagonal.masked.any() and with_diagonal.limit == 4.0


def test_one_row_against_every_column_finds_its_own_cell() -> None:
    display = InteractionsDisplay(MATRIX[[1]], ["sex"], LABELS)
    assert display.own.tolist() == [1] and display.limit == 0.5
    np.testing.assert_array_equal(display.masked, [[False, True, False]])
    foreign = InteractionsDisplay(MATRIX[[1]], ["hours"], LABELS)
    assert foreign.own.tolist() == [-1] and foreign.limit == 3.0 and not foreign.masked.any()
    given = InteractionsDisplay(MATRIX[[1]], ["x"], LABELS, own=np.array([2]))
    assert given.limit == 3.0 and given.masked[0].tolist() == [False, False, True]


def test_all_zero_interactions_get_a_unit_scale() -> None:
    display = InteractionsDisplay(np.diag([1.0, 2.0]), ["a", "b"])
    assert display.limit == 1.0  # ReLU networks: nothing off the diagonal


def test_from_interactions_and_mean_abs(result: Any) -> None:
    # A + Aᵀ = [[2, 2, 0], [2, 0, -4], [0, -4, 1]]: Γ_01 = x0 x1 / 2, Γ_12 = −x1 x2.
    first = InteractionsDisplay.from_interactions(result, 0, title="row 1")
    np.testing.assert_allclose(first.matrix, result.interactions[0], atol=0)
    assert first.row_labels == first.column_labels == LABELS and first.title == "row 1"
    assert first.matrix[0, 1] == pytest.approx(0.5, abs=1e-9)
    assert first.limit == pytest.approx(1.0, abs=1e-9)  # |Γ_12| = 1
    last = InteractionsDisplay.from_interactions(result, -1)
    assert last.matrix[0, 1] == pytest.approx(-1.0, abs=1e-9)
    mean = InteractionsDisplay.mean_abs(result)
    np.testing.assert_allclose(mean.matrix, np.abs(result.interactions).mean(axis=0), atol=0)
    assert not mean.signed and mean.limit == pytest.approx(1.0, abs=1e-9)
    row = integrated_hessians(
        QuadraticForm(np.eye(3)), np.ones((1, 3)), backend="numpy", labels=list(LABELS), features=2
    )
    one = InteractionsDisplay.from_interactions(row)
    assert one.row_labels == ("race",) and one.own.tolist() == [2]


# --- drawing --------------------------------------------------------------------------------------


def test_plot_draws_the_masked_matrix_on_a_symmetric_scale() -> None:
    display = _drawn(InteractionsDisplay(MATRIX, LABELS, title="a $ title"))
    ax = display.ax_
    (image,) = ax.images
    data = image.get_array()
    np.testing.assert_array_equal(np.ma.getdata(data), MATRIX)
    np.testing.assert_array_equal(np.ma.getmaskarray(data), np.eye(3, dtype=bool))
    assert image.get_clim() == (-0.5, 0.5) and image.get_cmap().name.startswith("RdBu_r")
    assert [t.get_text() for t in ax.get_xticklabels()] == list(LABELS)
    assert [t.get_text() for t in ax.get_yticklabels()] == list(LABELS)
    assert ax.get_title() == r"a \$ title"
    texts = [t.get_text() for t in ax.texts]
    assert len(texts) == 9 and texts[:3] == ["+4", "-0.5", "+0.25"]
    assert display.figure_ is ax.figure and len(display.figure_.axes) == 2  # and a colour bar


def test_unsigned_scale_starts_at_zero_and_zeros_read_as_zero() -> None:
    magnitudes = np.abs(MATRIX) * np.array([[1, 0, 1], [0, 1, 1], [1, 1, 1]])
    display = _drawn(InteractionsDisplay(magnitudes, LABELS, signed=False))
    (image,) = display.ax_.images
    assert image.get_clim() == (0.0, 0.25) and image.get_cmap().name.startswith("Reds")
    assert [t.get_text() for t in display.ax_.texts][:3] == ["4", "0", "0.25"]


def test_annotation_follows_the_size_or_the_argument() -> None:
    big = InteractionsDisplay(np.ones((17, 17)), [f"f{i}" for i in range(17)])
    assert not big.annotated
    assert len(_drawn(big).ax_.texts) == 0
    small = _drawn(InteractionsDisplay(MATRIX, LABELS), annotate=False)
    assert len(small.ax_.texts) == 0


def test_plot_into_given_axes_and_custom_colours() -> None:
    figure = Figure()
    ax = figure.add_subplot()
    display = InteractionsDisplay(MATRIX, LABELS).plot(ax=ax, cmap="PiYG")
    assert display.ax_ is ax and display.figure_ is figure
    assert ax.images[0].get_cmap().name.startswith("PiYG")
    figure.clear()


# --- saving ---------------------------------------------------------------------------------------


def test_save_writes_a_png_atomically(tmp_path: Path) -> None:
    display = InteractionsDisplay(MATRIX, LABELS)
    path = tmp_path / "heatmap.png"
    assert display.save(path) == path  # draws first when not yet drawn
    _opened.append(display.figure_)
    assert path.read_bytes().startswith(PNG_SIGNATURE)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["heatmap.png"]
    before = path.read_bytes()
    with pytest.raises(ValueError, match="dpi must be positive"):
        display.save(path, dpi=0)
    assert path.read_bytes() == before
    with pytest.raises(FileNotFoundError, match="does not exist"):
        display.save(tmp_path / "missing" / "heatmap.png")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["heatmap.png"]


# --- refusals -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("matrix", "rows", "columns", "own", "message"),
    [
        (np.ones((2, 3)), ["a", "b"], None, None, r"shape \(rows, columns\) = \(2, 2\)"),
        (np.ones(3), ["a", "b", "c"], None, None, "got \\(3,\\)"),
        (np.ones((0, 0)), [], None, None, "no empty side"),
        (np.array([[np.nan]]), ["a"], None, None, "must be finite"),
        (np.ones((1, 2)), ["a"], ["a", "b"], np.array([0, 1]), "one per row"),
        (np.ones((1, 2)), ["a"], ["a", "b"], np.array([0.5]), "one per row"),
        (np.ones((1, 2)), ["a"], ["a", "b"], np.array([2]), "0..1 or -1"),
        (np.ones((1, 2)), ["a"], ["a", "b"], np.array([-2]), "0..1 or -1"),
    ],
)
def test_invalid_arguments(matrix: Any, rows: Any, columns: Any, own: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        InteractionsDisplay(matrix, rows, columns, own=own)


def test_example_out_of_range(result: Any) -> None:
    with pytest.raises(IndexError, match="example 2 is out of range for 2 examples"):
        InteractionsDisplay.from_interactions(result, 2)
