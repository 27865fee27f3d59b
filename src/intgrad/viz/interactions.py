"""A heatmap of pairwise interactions Γ (Integrated Hessians) as a Display object.

:class:`InteractionsDisplay` follows scikit-learn's plotting API, as :mod:`intgrad.viz.dataset`
does: the constructor (or :meth:`~InteractionsDisplay.from_interactions`) computes every array
once with NumPy, ``plot(ax=None)`` draws them with matplotlib and keeps ``ax_`` and ``figure_``,
and ``save(path)`` writes a PNG atomically. matplotlib is imported only inside ``plot``, and a new
figure is built on the Agg canvas outside pyplot, so no global figure state is created.

A group's main effect Γ_aa is usually far larger than its interactions and would wash out the
colour scale, so by default the diagonal cells are drawn grey and left out of the scale (their
values are still written in the cells of a small matrix); ``diagonal=True`` colours them too.

References:
    Janizek, Sturmfels & Lee (2021), "Explaining Explanations: Axiomatic Feature Interactions
    for Deep Networks", Journal of Machine Learning Research 22.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike

from intgrad.viz._display import Display

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["InteractionsDisplay"]

_SIGNED_CMAP, _UNSIGNED_CMAP, _MASKED_COLOR = "RdBu_r", "Reds", "0.85"
_ANNOTATE_CELLS = 16  # write the values when neither side has more cells than this
_CELL_INCHES, _MIN_INCHES, _MAX_INCHES = 0.55, 4.0, 16.0


def _label(text: object) -> str:
    # A "$" in a token or column name would start matplotlib's mathtext.
    return str(text).replace("$", r"\$")


def _own_columns(rows: Sequence[str], columns: Sequence[str]) -> np.ndarray:
    """Each row's own column (the one of the same name), or -1."""
    position = {name: i for i, name in enumerate(columns)}
    return np.array([position.get(name, -1) for name in rows], dtype=np.int64)


class InteractionsDisplay(Display):
    """The interactions Γ_ab of row groups a against column groups b as a heatmap.

    Args:
        matrix: shape (rows, columns): Γ_ab (or, say, mean |Γ_ab| over examples); finite.
        row_labels: shape (rows,), the row groups' names.
        column_labels: shape (columns,), the column groups' names; default ``row_labels``.
        own: shape (rows,), int: the column of each row's own group (its main effect), −1 for
            none; default: the column of the same name.
        signed: diverging colours around zero (default); ``False``: a sequential scale from
            zero, for magnitudes such as mean |Γ|.
        diagonal: colour the main effects too; by default they are grey and out of the scale.
        title: the axes' title.

    Attributes:
        matrix: the matrix, float64.
        masked: shape (rows, columns), bool: the cells left out of the colour scale.
        limit: the largest |value| of the coloured cells (1.0 when they are all zero): the
            scale runs from −limit (0 when unsigned) to +limit.
        ax_: the :class:`~matplotlib.axes.Axes` drawn into, after :meth:`plot`.
        figure_: its (root) :class:`~matplotlib.figure.Figure`, after :meth:`plot`.
    """

    ax_: Axes
    figure_: Figure

    def __init__(
        self,
        matrix: ArrayLike,
        row_labels: Sequence[str],
        column_labels: Sequence[str] | None = None,
        *,
        own: ArrayLike | None = None,
        signed: bool = True,
        diagonal: bool = False,
        title: str | None = None,
    ) -> None:
        self.matrix = np.asarray(matrix, dtype=np.float64)
        self.row_labels = tuple(str(n) for n in row_labels)
        columns = row_labels if column_labels is None else column_labels
        self.column_labels = tuple(str(n) for n in columns)
        shape = (len(self.row_labels), len(self.column_labels))
        if self.matrix.shape != shape or 0 in shape:
            raise ValueError(
                f"matrix must have shape (rows, columns) = {shape} like the labels (and no "
                f"empty side), got {self.matrix.shape}"
            )
        if not np.isfinite(self.matrix).all():
            raise ValueError("matrix must be finite")
        self.own = self._own(own)
        self.signed, self.diagonal, self.title = bool(signed), bool(diagonal), title
        self.masked = np.zeros(shape, dtype=bool)
        if not self.diagonal:
            has_own = self.own >= 0
            self.masked[np.flatnonzero(has_own), self.own[has_own]] = True
        shown = np.abs(self.matrix[~self.masked])
        largest = float(shown.max()) if shown.size else 0.0
        self.limit = largest if largest > 0 else 1.0

    def _own(self, own: ArrayLike | None) -> np.ndarray:
        if own is None:
            return _own_columns(self.row_labels, self.column_labels)
        values = np.asarray(own)
        if values.shape != (len(self.row_labels),) or not np.issubdtype(values.dtype, np.integer):
            raise ValueError(f"own must be {len(self.row_labels)} integers, one per row")
        if ((values < -1) | (values >= len(self.column_labels))).any():
            raise ValueError(
                f"own must be column indices in 0..{len(self.column_labels) - 1} or -1"
            )
        return values.astype(np.int64)

    @classmethod
    def from_interactions(
        cls, result: Any, example: int = 0, *, diagonal: bool = False, title: str | None = None
    ) -> InteractionsDisplay:
        """One example of an :class:`~intgrad.family.hessians.Interactions`: its rows against
        every group."""
        count = result.interactions.shape[0]
        if not -count <= example < count:
            raise IndexError(f"example {example} is out of range for {count} examples")
        labels = result.labels
        return cls(
            result.interactions[example],
            [labels[int(r)] for r in result.rows],
            labels,
            own=np.asarray(result.rows, dtype=np.int64),
            diagonal=diagonal,
            title=title,
        )

    @classmethod
    def mean_abs(
        cls, result: Any, *, diagonal: bool = False, title: str | None = None
    ) -> InteractionsDisplay:
        """Mean |Γ_ab| over the examples of an :class:`~intgrad.family.hessians.Interactions`."""
        labels = result.labels
        return cls(
            np.abs(result.interactions).mean(axis=0),
            [labels[int(r)] for r in result.rows],
            labels,
            own=np.asarray(result.rows, dtype=np.int64),
            signed=False,
            diagonal=diagonal,
            title=title,
        )

    @property
    def annotated(self) -> bool:
        """Whether :meth:`plot` writes the values in the cells by default (small matrices)."""
        return max(self.matrix.shape) <= _ANNOTATE_CELLS

    def _figsize(self) -> tuple[float, float]:
        rows, columns = self.matrix.shape

        def side(cells: int, extra: float) -> float:
            return min(max(_CELL_INCHES * cells + extra, _MIN_INCHES), _MAX_INCHES)

        return side(columns, 2.5), side(rows, 2.0)

    def plot(
        self, ax: Axes | None = None, *, annotate: bool | None = None, **kwargs: Any
    ) -> InteractionsDisplay:
        """Draw the heatmap with a colour bar.

        Args:
            ax: the axes to draw into; a new figure (Agg canvas, no pyplot) when None.
            annotate: write each value in its cell; default for at most 16 rows and columns.
            **kwargs: passed to :meth:`~matplotlib.axes.Axes.imshow` (``cmap`` replaces the
                default colours).
        """
        ax = _axes(ax, self._figsize())
        import matplotlib

        cmap = kwargs.pop("cmap", _SIGNED_CMAP if self.signed else _UNSIGNED_CMAP)
        colours = matplotlib.colormaps[cmap].with_extremes(bad=_MASKED_COLOR)
        low = -self.limit if self.signed else 0.0
        values = np.ma.masked_array(self.matrix, mask=self.masked)
        image = ax.imshow(values, cmap=colours, vmin=low, vmax=self.limit, **kwargs)
        rows, columns = self.matrix.shape
        ax.set_xticks(np.arange(columns), [_label(n) for n in self.column_labels], rotation=90)
        ax.set_yticks(np.arange(rows), [_label(n) for n in self.row_labels])
        figure: Any = ax.figure
        bar = figure.colorbar(image, ax=ax, shrink=0.8)
        bar.set_label("mean |Γ|" if not self.signed else "Γ (interaction)")
        if annotate if annotate is not None else self.annotated:
            self._annotate(ax)
        if self.title:
            ax.set_title(_label(self.title))
        self._keep(ax)
        return self

    def _annotate(self, ax: Axes) -> None:
        spec = "+.2g" if self.signed else ".2g"
        for (row, column), value in np.ndenumerate(self.matrix):
            strong = abs(value) > 0.6 * self.limit and not self.masked[row, column]
            style = "italic" if self.masked[row, column] else "normal"
            ax.text(
                column,
                row,
                "0" if value == 0 else format(value, spec),
                ha="center",
                va="center",
                fontsize="x-small",
                fontstyle=style,
                color="white" if strong else "black",
            )


def _axes(ax: Axes | None, figsize: tuple[float, float]) -> Axes:
    """``ax``, or the one axes of a new constrained-layout figure on the Agg canvas."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as error:
        raise ImportError(
            "InteractionsDisplay.plot needs matplotlib: pip install 'intgrad[images]' "
            "(or matplotlib)"
        ) from error
    if ax is not None:
        return ax
    figure = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(figure)
    return figure.add_subplot()
