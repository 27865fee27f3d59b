"""Tabular classifiers to explain: a small MLP trained on Adult, saved and loaded as ``.npz``.

A :class:`TabularModel` bundles a model with the :class:`~intgrad.tabular.TabularSchema` that
encodes its input rows and its class names. :func:`train_adult_mlp` trains the embedded one
(seconds on a CPU, deterministic for a seed); :func:`load_tabular_model` gives it by name,
trained once per process, or loads one saved by :func:`save_tabular_model`. The MLP is a stack
of dense layers with ReLU between them; :func:`as_keras` and :func:`as_jax` build the same
function with the same weights in Keras and JAX, so one model can be explained in all three.
Nothing here modifies a model the caller passes in.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from intgrad._io import atomic_writer
from intgrad.tabular._frameworks import forward_logits, framework_of
from intgrad.tabular.data import ADULT_LABELS, ADULT_TARGET, load_adult
from intgrad.tabular.schema import TabularSchema, describe_row

__all__ = [
    "DEFAULT_TABULAR_MODEL",
    "TabularModel",
    "accuracy",
    "as_framework",
    "as_jax",
    "as_keras",
    "as_tabular_model",
    "load_tabular_model",
    "mlp_jax_apply",
    "mlp_weights",
    "model_weights",
    "save_tabular_model",
    "torch_mlp",
    "train_adult_mlp",
    "train_tabular_mlp",
]

DEFAULT_TABULAR_MODEL = "adult-mlp"
"""The name of the embedded Adult income classifier (trained on first use)."""

_FORMAT = "intgrad.tabular.model"
_VERSION = 1
_SAVED_BACKGROUND_ROWS = 1000

Weights = list[tuple[np.ndarray, np.ndarray]]
"""An MLP's dense layers in order: (kernel of shape (inputs, outputs), bias (outputs,)), float32."""


@dataclass(frozen=True)
class TabularModel:
    """A classifier of encoded table rows, its schema and its class names.

    Attributes:
        module: the model of ``framework``: a ``torch.nn.Module`` (``"torch"``), a Keras model
            (``"tensorflow"``) or a pair ``(apply_fn, params)`` (``"jax"``), mapping encoded
            rows (rows, ``schema.width``) float32 to logits (rows, classes).
        schema: encodes the rows.
        labels: the class names by output index.
        name: a display name.
        framework: ``"torch"``, ``"tensorflow"`` or ``"jax"``.
        background: training rows (their feature columns): the default background of the
            ``sample:K`` baselines, or ``None``.
        report: how it was made (seed, epochs, seconds, test accuracy, ...), JSON-ready.
    """

    module: Any
    schema: TabularSchema
    labels: tuple[str, ...]
    name: str
    framework: str = "torch"
    background: pd.DataFrame | None = None
    report: Mapping[str, Any] = field(default_factory=dict)


def _torch() -> Any:
    try:
        import torch
    except ImportError:
        raise ImportError("the tabular MLP needs PyTorch: pip install 'intgrad[tabular]'") from None
    return torch


def as_tabular_model(
    model: Any,
    schema: TabularSchema | None = None,
    labels: Sequence[str] | None = None,
    name: str | None = None,
) -> TabularModel:
    """A :class:`TabularModel` of a model object (its framework detected), or the one given.

    Args:
        model: a :class:`TabularModel` (``schema`` and ``labels`` then replace its own when
            given), a ``torch.nn.Module``, a Keras model or a JAX pair ``(apply_fn, params)``.
        schema: how rows are encoded; required unless ``model`` is a :class:`TabularModel`.
        labels: the class names; default: the model's, or ``"0"``, ``"1"``, ... .
        name: a display name; default: the model's, or its type's name.
    """
    if isinstance(model, TabularModel):
        changes: dict[str, Any] = {}
        if schema is not None:
            changes["schema"] = schema
        if labels is not None:
            changes["labels"] = tuple(labels)
        if name is not None:
            changes["name"] = name
        return dataclasses.replace(model, **changes) if changes else model
    if schema is None:
        raise ValueError(
            "schema is required when the model is not a TabularModel: "
            "schema = TabularSchema.fit(training_frame, target=...)"
        )
    if not isinstance(schema, TabularSchema):
        raise TypeError(f"schema must be a TabularSchema, got {type(schema).__name__}")
    framework = framework_of(model)
    shown = name or type(model).__name__
    return TabularModel(model, schema, tuple(labels or ()), shown, framework)


# --- the MLP in each framework ---------------------------------------------------------------


def torch_mlp(weights: Weights) -> Any:
    """The MLP as a ``torch.nn.Sequential`` of ``Linear`` and ``ReLU`` layers, in eval mode."""
    torch = _torch()
    layers: list[Any] = []
    for index, (kernel, bias) in enumerate(weights):
        linear = torch.nn.Linear(kernel.shape[0], kernel.shape[1])
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(np.array(kernel.T, np.float32)))
            linear.bias.copy_(torch.from_numpy(np.array(bias, np.float32)))
        layers.append(linear)
        if index < len(weights) - 1:
            layers.append(torch.nn.ReLU())
    return torch.nn.Sequential(*layers).eval()


def _new_torch_mlp(widths: Sequence[int]) -> Any:
    torch = _torch()
    layers: list[Any] = []
    for index, (inputs, outputs) in enumerate(itertools.pairwise(widths)):
        layers.append(torch.nn.Linear(inputs, outputs))
        if index < len(widths) - 2:
            layers.append(torch.nn.ReLU())
    return torch.nn.Sequential(*layers)


def mlp_weights(module: Any) -> Weights:
    """The dense layers of a torch MLP (``Linear`` layers with ``ReLU`` between them).

    Raises:
        ValueError: the module is not such a stack, so no other framework can copy it.
    """
    torch = _torch()
    children = list(module.children()) if isinstance(module, torch.nn.Sequential) else []
    linears = children[::2]
    activations = children[1::2]
    if (
        not linears
        or not all(isinstance(m, torch.nn.Linear) for m in linears)
        or not all(isinstance(m, torch.nn.ReLU) for m in activations)
        or len(activations) != len(linears) - 1
    ):
        raise ValueError(
            "only an MLP (torch.nn.Sequential of Linear layers with ReLU between them) can be "
            f"converted or saved, got {type(module).__name__}"
        )
    return [
        (
            np.ascontiguousarray(linear.weight.detach().cpu().numpy().T, np.float32),
            np.ascontiguousarray(linear.bias.detach().cpu().numpy(), np.float32),
        )
        for linear in linears
    ]


def _not_an_mlp(model: TabularModel) -> ValueError:
    return ValueError(
        f"only an MLP made by torch_mlp, as_keras or as_jax can be converted or saved, got a "
        f"{model.framework} {type(model.module).__name__}"
    )


def _keras_weights(model: TabularModel) -> Weights:
    import keras

    layers = [layer for layer in model.module.layers if layer.weights]
    hidden, last = keras.activations.relu, keras.activations.linear
    if not layers or any(
        not isinstance(layer, keras.layers.Dense)
        or layer.activation is not (last if index == len(layers) - 1 else hidden)
        for index, layer in enumerate(layers)
    ):
        raise _not_an_mlp(model)
    return [
        (np.asarray(kernel, np.float32), np.asarray(bias, np.float32))
        for kernel, bias in (layer.get_weights() for layer in layers)
    ]


def _jax_weights(model: TabularModel) -> Weights:
    module = model.module
    if not (isinstance(module, tuple) and len(module) == 2 and module[0] is mlp_jax_apply):
        raise _not_an_mlp(model)
    return [
        (np.asarray(layer["kernel"], np.float32), np.asarray(layer["bias"], np.float32))
        for layer in module[1]
    ]


def model_weights(model: TabularModel) -> Weights:
    """The dense layers of an MLP of any of the three frameworks (as made here).

    Raises:
        ValueError: the model is not such an MLP.
    """
    if model.framework == "torch":
        return mlp_weights(model.module)
    if model.framework == "jax":
        return _jax_weights(model)
    return _keras_weights(model)


def as_keras(model: TabularModel) -> Any:
    """The MLP (of any framework) as a functional Keras model with the same weights.

    The Keras model maps encoded rows (rows, width) float32 to logits (rows, classes).
    """
    try:
        import keras
    except ImportError:
        raise ImportError("as_keras needs Keras: pip install 'intgrad[tensorflow]'") from None
    weights = model_weights(model)
    inputs = keras.Input((weights[0][0].shape[0],), dtype="float32", name="encoded_rows")
    outputs, layers = inputs, []
    for index, (kernel, _) in enumerate(weights):
        last = index == len(weights) - 1
        layer = keras.layers.Dense(
            kernel.shape[1], activation=None if last else "relu", name=f"dense_{index}"
        )
        outputs = layer(outputs)
        layers.append(layer)
    keras_model = keras.Model(inputs, outputs, name=model.name.replace("-", "_"))
    for layer, (kernel, bias) in zip(layers, weights, strict=True):
        layer.set_weights([kernel, bias])
    return keras_model


def mlp_jax_apply(params: Sequence[Mapping[str, Any]], rows: Any) -> Any:
    """The MLP in JAX: encoded rows (rows, width) → logits (rows, classes).

    ``params``: one ``{"kernel": (inputs, outputs), "bias": (outputs,)}`` per dense layer.
    """
    import jax.numpy as jnp

    hidden = rows
    for layer in params[:-1]:
        hidden = jnp.maximum(hidden @ layer["kernel"] + layer["bias"], 0.0)
    return hidden @ params[-1]["kernel"] + params[-1]["bias"]


def as_jax(model: TabularModel) -> tuple[Callable[..., Any], list[dict[str, Any]]]:
    """The MLP (of any framework) as the JAX pair ``(mlp_jax_apply, params)``, same weights."""
    try:
        import jax.numpy as jnp
    except ImportError:
        raise ImportError("as_jax needs JAX: pip install 'intgrad[jax]'") from None
    params = [
        {"kernel": jnp.asarray(kernel), "bias": jnp.asarray(bias)}
        for kernel, bias in model_weights(model)
    ]
    return mlp_jax_apply, params


def as_framework(model: TabularModel, framework: str) -> TabularModel:
    """The same model in ``"torch"``, ``"tensorflow"`` (Keras) or ``"jax"``."""
    if framework == model.framework:
        return model
    builders: dict[str, Callable[[TabularModel], Any]] = {
        "tensorflow": as_keras,
        "jax": as_jax,
        "torch": lambda m: torch_mlp(model_weights(m)),
    }
    if framework not in builders:
        raise ValueError(f"framework must be one of {', '.join(builders)}, got {framework!r}")
    return dataclasses.replace(model, module=builders[framework](model), framework=framework)


# --- training --------------------------------------------------------------------------------


def _label_indices(values: pd.Series, labels: Sequence[str]) -> np.ndarray:
    lookup = {label: index for index, label in enumerate(labels)}
    indices = values.astype(object).map(lookup)
    unknown = indices.isna().to_numpy()
    if unknown.any():
        first = np.flatnonzero(unknown)[0]
        raise ValueError(
            f"{describe_row(values.index[first])}: label {values.iloc[first]!r} "
            f"is not one of {list(labels)}"
        )
    return np.array(indices.to_numpy(dtype=np.int64))


def _fit(
    module: Any,
    inputs: Any,
    classes: Any,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    generator: Any,
) -> None:
    torch = _torch()
    optimizer = torch.optim.Adam(module.parameters(), lr=learning_rate)
    rows = inputs.shape[0]
    module.train()
    for _ in range(epochs):
        order = torch.randperm(rows, generator=generator)
        for start in range(0, rows, batch_size):
            batch = order[start : start + batch_size]
            optimizer.zero_grad(set_to_none=True)
            loss = torch.nn.functional.cross_entropy(module(inputs[batch]), classes[batch])
            loss.backward()
            optimizer.step()
    module.eval()


def train_tabular_mlp(
    frame: pd.DataFrame,
    *,
    target: str,
    labels: Sequence[str] | None = None,
    schema: TabularSchema | None = None,
    seed: int = 0,
    hidden: Sequence[int] = (64, 64),
    epochs: int = 6,
    batch_size: int = 256,
    learning_rate: float = 3e-3,
    name: str = "tabular-mlp",
) -> TabularModel:
    """Train an MLP classifier (ReLU, Adam, cross-entropy) on a frame's rows.

    Deterministic for a seed: the same process gives bit-identical weights. The global torch
    random state is forked and restored, so the caller's is left as it was.

    Args:
        frame: the training rows, features and ``target``.
        target: the label column.
        labels: the class names by output index; default: the sorted label values (as text).
        schema: the encoding; default: fitted on ``frame``.
        seed: initialisation and shuffling seed.
        hidden: the widths of the hidden layers.
        epochs, batch_size, learning_rate: the optimisation.
        name: the display name.
    """
    torch = _torch()
    schema = schema or TabularSchema.fit(frame, target=target)
    names = tuple(labels) if labels is not None else tuple(sorted(map(str, frame[target].unique())))
    classes = torch.from_numpy(_label_indices(frame[target], names))
    inputs = torch.from_numpy(schema.encode(frame))
    started = time.perf_counter()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        module = _new_torch_mlp([schema.width, *hidden, len(names)])
        generator = torch.Generator().manual_seed(seed)
        _fit(module, inputs, classes, epochs, batch_size, learning_rate, generator)
    seconds = time.perf_counter() - started
    report = {
        "seed": seed,
        "hidden": list(hidden),
        "epochs": epochs,
        "batch_size": batch_size,
        "learning_rate": learning_rate,
        "training_rows": len(frame),
        "train_seconds": round(seconds, 3),
        "torch_threads": torch.get_num_threads(),
    }
    background = frame[list(schema.columns)].reset_index(drop=True)
    return TabularModel(module, schema, names, name, "torch", background, report)


def accuracy(model: TabularModel, frame: pd.DataFrame, target: str | None = None) -> float:
    """The share of ``frame``'s rows whose label is the model's most probable class."""
    column = target or model.schema.target
    if column is None:
        raise ValueError("give target=: the schema has no target column")
    truth = _label_indices(frame[column], model.labels)
    logits = forward_logits(model.module, model.framework, model.schema.encode(frame))
    return float(np.mean(np.argmax(logits, axis=1) == truth))


def train_adult_mlp(
    seed: int = 0,
    *,
    hidden: Sequence[int] = (64, 64),
    epochs: int = 6,
    batch_size: int = 256,
    learning_rate: float = 3e-3,
    evaluate: bool = True,
) -> TabularModel:
    """The Adult income classifier: an MLP on the one-hot encoded train split.

    Numeric columns standardised, categorical ones one-hot (87 encoded columns); logits of
    (``"<=50K"``, ``">50K"``). About 85 % accuracy on the test split in a few seconds on a CPU.

    Args:
        seed, hidden, epochs, batch_size, learning_rate: as :func:`train_tabular_mlp`.
        evaluate: record the test split's accuracy in ``report["test_accuracy"]``.
    """
    model = train_tabular_mlp(
        load_adult("train"),
        target=ADULT_TARGET,
        labels=ADULT_LABELS,
        seed=seed,
        hidden=hidden,
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        name=DEFAULT_TABULAR_MODEL,
    )
    if not evaluate:
        return model
    report = {**model.report, "test_accuracy": round(accuracy(model, load_adult("test")), 4)}
    return dataclasses.replace(model, report=report)


# --- saving and loading ----------------------------------------------------------------------


def _background_json(frame: pd.DataFrame | None, rows: int) -> dict[str, Any] | None:
    if frame is None or rows <= 0:
        return None
    if len(frame) > rows:
        frame = frame.sample(n=rows, random_state=0).sort_index()
    return {
        "index": [str(label) for label in frame.index],
        "data": {str(c): frame[c].tolist() for c in frame.columns},
    }


def save_tabular_model(
    model: TabularModel,
    path: str | Path,
    *,
    background_rows: int = _SAVED_BACKGROUND_ROWS,
) -> Path:
    """Write an MLP model (of any of the three frameworks) to an ``.npz`` file, atomically.

    The file holds the dense layers (``kernel_<i>``, ``bias_<i>``, float32), the schema as
    JSON, and a ``meta`` JSON with the labels, name, report and up to ``background_rows``
    background rows (a seeded sample) for the ``sample:K`` baselines. It is written to a
    temporary file in the same directory and moved over ``path`` (readers never see a part).

    Returns:
        The path written.
    """
    weights = model_weights(model)
    arrays: dict[str, np.ndarray] = {}
    for index, (kernel, bias) in enumerate(weights):
        arrays[f"kernel_{index}"], arrays[f"bias_{index}"] = kernel, bias
    meta = {
        "format": _FORMAT,
        "version": _VERSION,
        "name": model.name,
        "labels": list(model.labels),
        "layers": len(weights),
        "report": dict(model.report),
        "background": _background_json(model.background, background_rows),
    }
    arrays["schema"] = np.array(json.dumps(model.schema.to_dict()))
    arrays["meta"] = np.array(json.dumps(meta))
    target = Path(path)
    with atomic_writer(target) as temp, open(temp, "wb") as file:
        np.savez(file, **arrays)  # type: ignore[arg-type]
    return target


def _read_saved(path: Path) -> tuple[dict[str, Any], TabularSchema, Weights]:
    try:
        with np.load(path, allow_pickle=False) as stored:
            meta = json.loads(str(stored["meta"]))
            if meta.get("format") != _FORMAT or meta.get("version") != _VERSION:
                raise ValueError("its meta names another format")
            schema = TabularSchema.from_dict(json.loads(str(stored["schema"])))
            weights = [
                (
                    np.asarray(stored[f"kernel_{i}"], np.float32),
                    np.asarray(stored[f"bias_{i}"], np.float32),
                )
                for i in range(int(meta["layers"]))
            ]
    except (OSError, KeyError, ValueError, json.JSONDecodeError) as error:
        raise ValueError(
            f"{str(path)!r} is not a tabular model saved by save_tabular_model: {error}"
        ) from None
    return meta, schema, weights


def _load_saved(path: Path) -> TabularModel:
    meta, schema, weights = _read_saved(path)
    saved = meta.get("background")
    background = None if saved is None else pd.DataFrame(saved["data"], index=saved["index"])
    return TabularModel(
        torch_mlp(weights),
        schema,
        tuple(meta["labels"]),
        str(meta["name"]),
        "torch",
        background,
        meta.get("report") or {},
    )


_named: dict[str, TabularModel] = {}
_named_lock = threading.Lock()


def load_tabular_model(spec: str | Path | TabularModel = DEFAULT_TABULAR_MODEL) -> TabularModel:
    """A tabular model by name or path.

    Args:
        spec: ``"adult-mlp"`` (default): the Adult MLP of :func:`train_adult_mlp` with seed 0,
            trained on the first call and kept for the process (one training however many
            threads ask; treat the shared model as read-only); or the path of an ``.npz``
            written by :func:`save_tabular_model` (read on every call); or a
            :class:`TabularModel`, returned as it is.

    Raises:
        ValueError: neither a known name nor a saved model's path.
    """
    if isinstance(spec, TabularModel):
        return spec
    if str(spec) == DEFAULT_TABULAR_MODEL:
        with _named_lock:
            if DEFAULT_TABULAR_MODEL not in _named:
                _named[DEFAULT_TABULAR_MODEL] = train_adult_mlp(seed=0)
            return _named[DEFAULT_TABULAR_MODEL]
    path = Path(spec)
    if not path.is_file():
        raise ValueError(
            f"unknown tabular model {str(spec)!r}: give {DEFAULT_TABULAR_MODEL!r} or the path "
            "of a model saved by save_tabular_model"
        )
    return _load_saved(path)
