"""What every Display object shares (scikit-learn's plotting convention): ``ax_``, ``figure_``
and an atomic :meth:`Display.save`; matplotlib is imported only by the subclasses' ``plot``."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from intgrad.io import atomic_write_bytes

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["Display", "new_axes", "require_matplotlib", "root_figure"]


def require_matplotlib(owner: str) -> None:
    """``ImportError`` naming the extra to install when matplotlib is missing."""
    try:
        import matplotlib.figure  # noqa: F401
    except ImportError as error:
        raise ImportError(
            f"{owner}.plot needs matplotlib: pip install 'intgrad[images]' (or matplotlib)"
        ) from error


def new_axes(owner: str, ax: Axes | None, figsize: tuple[float, float]) -> Axes:
    """``ax``, or the one axes of a new constrained-layout figure on the Agg canvas (outside
    pyplot, so nothing is left open in its registry)."""
    require_matplotlib(owner)
    if ax is not None:
        return ax
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(figure)
    return figure.add_subplot()


def root_figure(ax: Axes) -> Figure:
    """The figure that can be saved: in a subfigure ``ax.figure`` is the SubFigure."""
    figure: Any = ax.figure
    return getattr(figure, "figure", None) or figure


class Display:
    """A computed picture: :meth:`plot` draws it (keeping ``ax_`` and ``figure_``), :meth:`save`
    writes it."""

    ax_: Axes
    figure_: Figure

    def plot(self, ax: Axes | None = None, **kwargs: Any) -> Display:
        raise NotImplementedError

    def _keep(self, ax: Axes) -> None:
        self.ax_, self.figure_ = ax, root_figure(ax)

    def save(self, path: str | os.PathLike[str], *, dpi: float = 100.0) -> Path:
        """Write the figure as a PNG at ``path`` atomically (drawing it first if not yet drawn).

        The PNG is rendered to memory first, so a failed render leaves an existing file as it
        was. ``path``'s directory must exist; ``dpi`` must be positive. Returns ``path``.
        """
        if not dpi > 0:
            raise ValueError(f"dpi must be positive, got {dpi}")
        if not hasattr(self, "figure_"):
            self.plot()
        buffer = io.BytesIO()
        self.figure_.savefig(buffer, format="png", dpi=dpi)
        atomic_write_bytes(path, buffer.getvalue())
        return Path(path)
