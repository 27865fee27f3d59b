"""The model-randomisation sanity check (Adebayo, Gilmer, Muelly, Goodfellow, Hardt & Kim 2018).

An explanation that does not change when the model's learned weights are replaced by random
ones cannot be explaining what the model learned. The check explains the model and copies of
it with randomised layers — *cascading* from the top layer down (the last k layers random) or
each layer *independently* — and compares each copy's attributions with the original's per
example: Spearman rank correlation of |φ| and of φ, the overlap of the top-k features, and, for
image-shaped maps, SSIM of the normalised |φ| maps. A copy's attributions *differ* when the
Spearman correlation of |φ| is below ``threshold`` (default 0.5).

Copies never touch the user's model: torch modules are deep-copied, Keras models cloned (or
deep-copied); JAX models given as ``(apply_fn, params)`` get new parameter trees; any other
model can be checked by passing randomised copies made by hand. A randomised tensor is redrawn
from N(0, σ²) with σ its own standard deviation (constant tensors, e.g. fresh biases, are
left as they are), seeded per (seed, layer, tensor) so a layer is randomised the same way in
every cascade stage.
"""

from __future__ import annotations

import copy
import sys
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from intgrad._core.baselines import gaussian_blur
from intgrad._core.session import Explainer
from intgrad.metrics._common import (
    attribution_values,
    check_count,
    check_fraction,
    host,
    resolve_targets,
    tile_targets,
    to_framework,
)
from intgrad.metrics.features import (
    FeatureSpec,
    default_features,
    feature_sums,
    resolve_features,
)

__all__ = [
    "RandomisationCheck",
    "model_randomisation",
    "parameter_layers",
    "randomised_copy",
    "randomised_params",
    "spearman",
    "ssim",
]

ExplainModel = Callable[..., Any]
"""``explain(model, inputs, *, target, additional_forward_args)`` → Attribution or array."""


@dataclass(frozen=True)
class RandomisationCheck:
    """How far the attributions of randomised models are from the original's.

    Attributes:
        stages: the name of each randomised model: in a cascade the top-most layer randomised
            so far, independently the one layer (top first), or the names of given copies.
        randomised: per stage, the layers random in that model.
        cascade: cascading (True) or independent (False) randomisation.
        spearman_abs: shape (stages, examples), the Spearman rank correlation of |φ|.
        spearman: shape (stages, examples), the Spearman rank correlation of φ.
        top_k_overlap: shape (stages, examples), the fraction of the top ``top_fraction``
            features by |φ| that both attributions share.
        ssim: shape (stages, examples), SSIM of the |φ| maps scaled to [0, 1] by their
            maximum, or ``None`` when the maps are not images.
        threshold: copies differ where ``spearman_abs < threshold``.
        differs: shape (stages, examples), bool.
    """

    stages: tuple[str, ...]
    randomised: tuple[tuple[str, ...], ...]
    cascade: bool
    spearman_abs: np.ndarray
    spearman: np.ndarray
    top_k_overlap: np.ndarray
    ssim: np.ndarray | None
    threshold: float
    differs: np.ndarray

    @property
    def all_differ(self) -> bool:
        """Whether every randomised model's attributions differ for every example."""
        return bool(self.differs.all())


# --- copies ----------------------------------------------------------------------------------


def _is_torch_module(model: object) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(model, torch.nn.Module)


def _is_keras_model(model: object) -> bool:
    keras = sys.modules.get("keras")
    return keras is not None and isinstance(model, keras.Model)


def _is_pair(model: object) -> bool:
    return isinstance(model, tuple) and len(model) == 2 and callable(model[0])


def _is_leaf(value: object) -> bool:
    return hasattr(value, "shape") and hasattr(value, "dtype") and not isinstance(value, type)


def _tree_entries(params: Any) -> list[tuple[str, Any]]:
    if isinstance(params, Mapping):
        return [(str(k), v) for k, v in params.items()]
    if isinstance(params, (list, tuple)):
        return [(str(i), v) for i, v in enumerate(params)]
    raise TypeError(f"params must be a dict, list or tuple of arrays, got {type(params).__name__}")


def _has_leaves(value: Any) -> bool:
    if _is_leaf(value):
        return True
    if isinstance(value, (Mapping, list, tuple)):
        return any(_has_leaves(v) for _, v in _tree_entries(value))
    return False


def parameter_layers(model: Any) -> tuple[str, ...]:
    """The names of the layers that hold parameters, from the input to the output.

    Args:
        model: a torch module (names of ``named_modules()`` with parameters of their own),
            a Keras model (its layers with weights), a JAX pair ``(apply_fn, params)`` or a
            parameter tree (its top-level entries that hold arrays).
    """
    if _is_torch_module(model):
        return tuple(
            name
            for name, module in model.named_modules()
            if next(module.parameters(recurse=False), None) is not None
        )
    if _is_keras_model(model):
        return tuple(layer.name for layer in model.layers if layer.weights)
    params = model[1] if _is_pair(model) else model
    return tuple(name for name, value in _tree_entries(params) if _has_leaves(value))


def _draw(values: np.ndarray, seed: int, key: str) -> np.ndarray:
    """A redraw of one tensor from N(0, σ²), σ its standard deviation (constants unchanged)."""
    sigma = float(values.astype(np.float64).std()) if values.size else 0.0
    if sigma == 0.0:
        return values.copy()
    rng = np.random.default_rng([seed, zlib.crc32(key.encode())])
    return rng.normal(0.0, sigma, values.shape).astype(values.dtype)


def _check_layers(layers: Sequence[str] | None, known: tuple[str, ...]) -> tuple[str, ...]:
    if layers is None:
        return known
    if isinstance(layers, str):
        layers = (layers,)
    unknown = [name for name in layers if name not in known]
    if unknown:
        raise ValueError(f"no layer(s) {unknown} with parameters; the model has {list(known)}")
    return tuple(layers)


def _torch_copy(model: Any, seed: int, layers: tuple[str, ...]) -> Any:
    import torch

    clone = copy.deepcopy(model)
    modules = dict(clone.named_modules())
    with torch.no_grad():
        for name in layers:
            for tensor_name, parameter in modules[name].named_parameters(recurse=False):
                drawn = _draw(host(parameter), seed, f"{name}.{tensor_name}")
                parameter.copy_(torch.as_tensor(drawn).to(parameter.device, parameter.dtype))
    return clone


def _keras_clone(model: Any) -> Any:
    import keras

    try:
        clone = keras.models.clone_model(model)
        clone.set_weights(model.get_weights())
        return clone
    except (TypeError, ValueError, NotImplementedError):
        pass
    try:
        return copy.deepcopy(model)
    except Exception as error:  # Keras raises many types for models it cannot copy
        raise TypeError(
            f"cannot copy this Keras model ({type(error).__name__}): pass randomised= copies"
        ) from None


def _keras_copy(model: Any, seed: int, layers: tuple[str, ...]) -> Any:
    clone = _keras_clone(model)
    for layer in clone.layers:
        if layer.name in layers:
            weights = layer.get_weights()
            layer.set_weights(
                [_draw(np.asarray(w), seed, f"{layer.name}/{i}") for i, w in enumerate(weights)]
            )
    return clone


def _check_seed(seed: object) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be an int >= 0, got {seed!r}")
    return int(seed)


def _randomised_tree(value: Any, seed: int, key: str) -> Any:
    if _is_leaf(value):
        drawn = _draw(host(value), seed, key)
        return drawn if isinstance(value, np.ndarray) else to_framework(drawn, value)
    entries = _tree_entries(value)
    children = [_randomised_tree(v, seed, f"{key}/{name}") for name, v in entries]
    if isinstance(value, Mapping):
        return dict(zip(value.keys(), children, strict=True))
    return type(value)(children)


def randomised_params(params: Any, seed: int = 0, layers: Sequence[str] | None = None) -> Any:
    """A copy of a parameter tree (JAX's, or any dict/list of arrays) with layers randomised.

    Args:
        params: nested dicts, lists and tuples of arrays (NumPy, JAX, ...).
        seed: an int >= 0.
        layers: the top-level entries to randomise (see :func:`parameter_layers`); default all.

    Returns:
        The same structure; randomised arrays keep their type and dtype, the others are the
        original objects.
    """
    seed = _check_seed(seed)
    chosen = _check_layers(layers, parameter_layers(params))
    entries = _tree_entries(params)
    children = [_randomised_tree(v, seed, name) if name in chosen else v for name, v in entries]
    if isinstance(params, Mapping):
        return dict(zip(params.keys(), children, strict=True))
    return type(params)(children)


def randomised_copy(model: Any, seed: int = 0, layers: Sequence[str] | None = None) -> Any:
    """A copy of ``model`` whose ``layers`` (default all) have random parameters.

    The model itself is never modified: torch modules are deep-copied, Keras models cloned
    with their weights (or deep-copied), JAX pairs ``(apply_fn, params)`` get a new tree.

    Args:
        model: a ``torch.nn.Module``, a ``keras.Model`` or a pair ``(apply_fn, params)``.
        seed: an int >= 0; each tensor is drawn from (seed, layer, tensor name).
        layers: names from :func:`parameter_layers`.

    Raises:
        TypeError: another kind of model (pass randomised copies to
            :func:`model_randomisation` instead).
        ValueError: an unknown layer name.
    """
    seed = _check_seed(seed)
    if _is_torch_module(model):
        return _torch_copy(model, seed, _check_layers(layers, parameter_layers(model)))
    if _is_keras_model(model):
        return _keras_copy(model, seed, _check_layers(layers, parameter_layers(model)))
    if _is_pair(model):
        return (model[0], randomised_params(model[1], seed, layers))
    raise TypeError(
        "randomised_copy takes a torch module, a Keras model or a JAX pair (apply_fn, params); "
        f"got {type(model).__name__}: pass randomised= copies instead"
    )


# --- similarities ----------------------------------------------------------------------------


def _ranks(values: np.ndarray) -> np.ndarray:
    """Ranks 0..n−1 of one vector, ties given their mean rank."""
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    return np.asarray((starts + (counts - 1) / 2.0)[inverse.reshape(-1)])


def _rank_correlation(a: np.ndarray, b: np.ndarray) -> float:
    ra, rb = _ranks(a), _ranks(b)
    ra, rb = ra - ra.mean(), rb - rb.mean()
    scale = float(np.sqrt((ra**2).sum() * (rb**2).sum()))
    return float((ra * rb).sum()) / scale if scale > 0 else 0.0


def spearman(a: np.ndarray, b: np.ndarray, present: np.ndarray | None = None) -> np.ndarray:
    """Spearman rank correlation per row of two (examples, n) arrays.

    Ties take their mean rank; a constant row correlates 0 with anything. ``present``
    (examples, n), bool, limits each row to its entries.
    """
    mask = np.ones(a.shape, dtype=bool) if present is None else present
    return np.array([_rank_correlation(p[m], q[m]) for p, q, m in zip(a, b, mask, strict=True)])


def _top_k_overlap(
    a: np.ndarray, b: np.ndarray, present: np.ndarray, fraction: float
) -> np.ndarray:
    out = np.zeros(a.shape[0])
    for row, (p, q, m) in enumerate(zip(a, b, present, strict=True)):
        k = max(1, int(np.ceil(fraction * int(m.sum()))))
        top_p = np.argsort(-np.abs(p[m]), kind="stable")[:k]
        top_q = np.argsort(-np.abs(q[m]), kind="stable")[:k]
        out[row] = np.intersect1d(top_p, top_q).size / k
    return out


def _scaled(maps: np.ndarray) -> np.ndarray:
    magnitude = np.abs(maps)
    top = magnitude.reshape(maps.shape[0], -1).max(axis=1).reshape(-1, 1, 1)
    return np.divide(magnitude, top, out=np.zeros_like(magnitude), where=top > 0)


def ssim(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Mean SSIM per example of two (examples, height, width) maps' |values| scaled to [0, 1].

    Wang, Bovik, Sheikh & Simoncelli (2004), "Image Quality Assessment: From Error Visibility
    to Structural Similarity", IEEE TIP: Gaussian window σ = 1.5, C1 = 0.01², C2 = 0.03².
    """
    x, y = _scaled(a), _scaled(b)

    def local(values: np.ndarray) -> np.ndarray:
        return gaussian_blur(values, 1.5, (1, 2))

    mx, my = local(x), local(y)
    vx, vy, cxy = local(x * x) - mx**2, local(y * y) - my**2, local(x * y) - mx * my
    c1, c2 = 0.01**2, 0.03**2
    index = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
    return np.asarray(index.reshape(index.shape[0], -1).mean(axis=1))


def _image_shape(
    shape: tuple[int, ...], features: FeatureSpec, channel_axis: int | None
) -> tuple[int, int] | None:
    """(height, width) of the per-feature map when it is an image, else ``None``."""
    per_example = shape[1:]
    features = default_features(features, shape, channel_axis)
    if isinstance(features, str) and features == "elements" and len(per_example) == 2:
        return per_example[0], per_example[1]
    if (
        isinstance(features, str)
        and features == "pixels"
        and channel_axis is not None
        and len(per_example) == 3
    ):
        spatial = [s for i, s in enumerate(shape) if i not in (0, channel_axis % 4)]
        return spatial[0], spatial[1]
    return None


# --- the check -------------------------------------------------------------------------------


def _stages(
    model: Any,
    randomised: Mapping[str, Any] | Sequence[Any] | None,
    layers: Sequence[str] | None,
    cascade: bool,
    seed: int,
) -> list[tuple[str, tuple[str, ...], Any]]:
    """(name, randomised layers, the given copy or ``None``) per stage, top layer first."""
    if randomised is not None:
        if layers is not None:
            raise ValueError("layers applies to copies made here; omit it with randomised=")
        items = (
            list(randomised.items())
            if isinstance(randomised, Mapping)
            else [(str(i), m) for i, m in enumerate(randomised)]
        )
        if not items:
            raise ValueError("randomised must hold at least one model")
        return [(name, (name,), m) for name, m in items]
    if not (_is_torch_module(model) or _is_keras_model(model) or _is_pair(model)):
        raise TypeError(
            f"cannot randomise a {type(model).__name__} here: pass randomised= copies "
            "(for a JAX function, the function with randomised parameters)"
        )
    chosen = _check_layers(layers, parameter_layers(model))
    if not chosen:
        raise ValueError("the model has no layers with parameters to randomise")
    top_down = tuple(reversed(chosen))
    return [
        (name, top_down[: position + 1] if cascade else (name,), None)
        for position, name in enumerate(top_down)
    ]


def _default_explain(batch_size: int | None) -> ExplainModel:
    def explain(model: Any, inputs: Any, *, target: object, additional_forward_args: Any) -> Any:
        return Explainer(model).attribute(
            inputs,
            target=target,
            additional_forward_args=additional_forward_args,
            batch_size=batch_size,
        )

    return explain


def model_randomisation(
    model: Any,
    inputs: Any,
    attributions: Any = None,
    *,
    randomised: Mapping[str, Any] | Sequence[Any] | None = None,
    layers: Sequence[str] | None = None,
    cascade: bool = True,
    explain: ExplainModel | None = None,
    features: FeatureSpec = None,
    channel_axis: int | None = -1,
    top_fraction: float = 0.1,
    threshold: float = 0.5,
    target: object = None,
    additional_forward_args: Any = None,
    batch_size: int | None = None,
    seed: int = 0,
) -> RandomisationCheck:
    """Compare the attributions of the model with those of randomised copies, per example.

    Args:
        model: a torch module, a Keras model or a JAX pair ``(apply_fn, params)`` (copies
            are made here), or any model with ``randomised=`` copies.
        inputs: shape (examples, ...), a tensor or a NumPy array.
        attributions: the model's own attributions; default: ``explain(model, inputs, ...)``.
        randomised: randomised models made by the caller, by name (or in a sequence).
        layers: the layers to randomise (names of :func:`parameter_layers`); default all.
        cascade: randomise cumulatively from the top layer down (Adebayo's cascading
            randomisation); ``False``: one layer at a time.
        explain: ``explain(model, inputs, *, target, additional_forward_args)`` → an
            Attribution, array or tensor; default: Integrated Gradients (50 steps, black).
        features: how elements are grouped before comparing, as in
            :func:`~intgrad.metrics.deletion` (default: pixels for 4-D inputs, summing
            the channels as Adebayo et al. do; else each element).
        channel_axis: the channels' axis, for ``features="pixels"``.
        top_fraction: the share of features whose overlap ``top_k_overlap`` measures.
        threshold: attributions differ where the Spearman correlation of |φ| is below it.
        target: the explained output, the same for every model; default: the Attribution's.
        additional_forward_args: extra model arguments.
        batch_size: the default explainer's batch size.
        seed: the seed of the randomised copies.

    Returns:
        A :class:`RandomisationCheck`.

    References:
        Adebayo, Gilmer, Muelly, Goodfellow, Hardt & Kim (2018), "Sanity Checks for Saliency
        Maps", NeurIPS, arXiv:1810.03292.
    """
    seed = _check_seed(seed)
    top_fraction = check_fraction("top_fraction", top_fraction)
    if top_fraction == 0:
        raise ValueError("top_fraction must be > 0")
    if batch_size is not None:
        check_count("batch_size", batch_size)
    if isinstance(model, Explainer):
        raise TypeError("model_randomisation takes the model itself, not an Explainer")
    if isinstance(inputs, (tuple, list)):
        raise ValueError("metrics take one input tensor; got a tuple or list")
    x = host(inputs)
    shape = tuple(x.shape)
    explain_fn = explain or _default_explain(batch_size)
    targets = tile_targets(resolve_targets(target, attributions, shape[0]), 1)

    def attributions_of(m: Any) -> np.ndarray:
        result = explain_fn(
            m, inputs, target=targets, additional_forward_args=additional_forward_args
        )
        return attribution_values(result, shape)

    original = (
        attributions_of(model) if attributions is None else attribution_values(attributions, shape)
    )
    ids = resolve_features(features, shape, channel_axis)
    image = _image_shape(shape, features, channel_axis)
    base, present = feature_sums(original, ids)
    rows: dict[str, list[np.ndarray]] = {"abs": [], "signed": [], "top": [], "ssim": []}
    plan = _stages(model, randomised, layers, cascade, seed)
    for _, group, given in plan:
        copied = randomised_copy(model, seed, group) if given is None else given
        other, _ = feature_sums(attributions_of(copied), ids)
        rows["abs"].append(spearman(np.abs(base), np.abs(other), present))
        rows["signed"].append(spearman(base, other, present))
        rows["top"].append(_top_k_overlap(base, other, present, top_fraction))
        if image is not None:
            rows["ssim"].append(ssim(base.reshape(-1, *image), other.reshape(-1, *image)))
    spearman_abs = np.stack(rows["abs"])
    return RandomisationCheck(
        stages=tuple(name for name, _, _ in plan),
        randomised=tuple(group for _, group, _ in plan),
        cascade=bool(cascade) if randomised is None else False,
        spearman_abs=spearman_abs,
        spearman=np.stack(rows["signed"]),
        top_k_overlap=np.stack(rows["top"]),
        ssim=np.stack(rows["ssim"]) if rows["ssim"] else None,
        threshold=float(threshold),
        differs=spearman_abs < threshold,
    )
