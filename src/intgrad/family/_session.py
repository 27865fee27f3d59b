"""How every member of the family gets its :class:`~intgrad.Explainer`: given, or made once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from intgrad._core.session import Explainer

__all__ = ["as_explainer"]


def as_explainer(
    model: Any,
    *,
    backend: str | None = None,
    output: str | Callable[[Any], Any] | None = None,
    layer: object = None,
) -> Explainer:
    """``model`` itself when it is an :class:`Explainer` (its compiled steps are reused), else a
    new session on ``model``; passing ``backend``/``output``/``layer`` with a session is refused,
    since the session already fixed them."""
    if isinstance(model, Explainer):
        if backend is not None or output is not None or layer is not None:
            raise ValueError(
                "backend, output and layer belong to the Explainer; set them when creating it"
            )
        return model
    return Explainer(model, backend=backend, output=output, layer=layer)
