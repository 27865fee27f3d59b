"""The models an app serves, by kind and name: one session per model, made once.

Models come only from the server: the embedded ones, and those the person starting the app
adds (``intgrad app --model image=torchvision:resnet18``), with the same specs the CLI's
``--model`` takes. A request names a model; it never passes a path.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["MODEL_KINDS", "ModelEntry", "ModelRegistry", "parse_model_option"]

ModelKind = Literal["image", "text", "tabular"]
MODEL_KINDS: tuple[str, ...] = ("image", "text", "tabular")

_EMBEDDED: dict[str, str] = {
    "image": "efficientnet-lite0",
    "text": "minilm-sentiment",
    "tabular": "adult-mlp",
}


def _image_session(spec: str) -> Any:
    from intgrad.images import ImageExplainer

    return ImageExplainer(spec)


def _text_session(spec: str) -> Any:
    from intgrad.text import TextExplainer, load_text_model

    return TextExplainer(load_text_model(spec))


def _tabular_session(spec: str) -> Any:
    from intgrad.tabular import TabularExplainer

    return TabularExplainer(spec)


_SESSIONS: dict[str, Callable[[str], Any]] = {
    "image": _image_session,
    "text": _text_session,
    "tabular": _tabular_session,
}


@dataclass
class ModelEntry:
    """One served model: its kind, display name, spec, and its session once loaded.

    The session is an ``intgrad.images.ImageExplainer``, ``intgrad.text.TextExplainer`` or
    ``intgrad.tabular.TabularExplainer``: one per model, shared by every request (they are
    safe to use from several threads).
    """

    kind: str
    name: str
    spec: str
    _session: Any = None
    _error: str | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def session(self) -> Any:
        """The model's session, loaded on first use (one load however many threads ask).

        Raises:
            ValueError: the model could not be loaded (the same message on every later call).
        """
        with self._lock:
            if self._session is None and self._error is None:
                try:
                    self._session = _SESSIONS[self.kind](self.spec)
                except (ValueError, OSError, ImportError) as error:
                    self._error = f"model {self.name!r} could not be loaded: {error}"
            if self._error is not None:
                raise ValueError(self._error)
            return self._session


class ModelRegistry:
    """Models by kind and name, in the order they were added (the first is the default)."""

    def __init__(self) -> None:
        self._entries: dict[str, dict[str, ModelEntry]] = {kind: {} for kind in MODEL_KINDS}

    @classmethod
    def embedded(cls) -> ModelRegistry:
        """The embedded models: EfficientNet-Lite0, the MiniLM sentiment model, the Adult MLP."""
        registry = cls()
        for kind, spec in _EMBEDDED.items():
            registry.add(kind, spec)
        return registry

    def add(self, kind: str, spec: str, name: str | None = None) -> ModelEntry:
        """Serve the model ``spec`` (as the CLI's ``--model`` takes it) of ``kind``."""
        if kind not in MODEL_KINDS:
            raise ValueError(f"model kind must be one of {', '.join(MODEL_KINDS)}, got {kind!r}")
        if not spec.strip():
            raise ValueError(f"the {kind} model's spec is empty")
        label = name or spec
        if label in self._entries[kind]:
            raise ValueError(f"{label!r} is already served as a {kind} model")
        entry = ModelEntry(kind, label, spec)
        self._entries[kind][label] = entry
        return entry

    def names(self, kind: str) -> tuple[str, ...]:
        """The names of the served models of ``kind``, the default first."""
        return tuple(self._entries[kind])

    def get(self, kind: str, name: str | None = None) -> ModelEntry:
        """The entry of that name (default: the kind's first model).

        Raises:
            ValueError: no model of that kind and name is served.
        """
        entries = self._entries[kind]
        if not entries:
            raise ValueError(f"no {kind} model is served")
        if name is None or name == "":
            return next(iter(entries.values()))
        if name not in entries:
            raise ValueError(f"unknown {kind} model {name!r}; served: {', '.join(entries)}")
        return entries[name]

    def session(self, kind: str, name: str | None = None) -> Any:
        """The session of a model (see :meth:`ModelEntry.session`)."""
        return self.get(kind, name).session()

    def preload(self) -> list[str]:
        """Load every model now; returns the one-line errors of those that failed."""
        errors = []
        for entries in self._entries.values():
            for entry in entries.values():
                try:
                    entry.session()
                except ValueError as error:
                    errors.append(str(error))
        return errors


def parse_model_option(text: str) -> tuple[str, str]:
    """``"image=torchvision:resnet18"`` → ``("image", "torchvision:resnet18")``.

    Raises:
        ValueError: not ``KIND=SPEC`` with a known kind.
    """
    kind, sep, spec = text.partition("=")
    if not sep or kind not in MODEL_KINDS or not spec.strip():
        raise ValueError(
            f"expected KIND=SPEC with KIND one of {', '.join(MODEL_KINDS)}, got {text!r}"
        )
    return kind, spec.strip()
