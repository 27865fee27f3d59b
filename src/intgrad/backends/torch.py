"""PyTorch backend: the core's few tensor operations on ``torch.Tensor``, on the inputs' device."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from intgrad._core.backend import ChunkRecord, Rows
from intgrad._core.baselines import BaselineRule, ConstantBaseline, ExplicitBaseline
from intgrad.backends._common import select_outputs

__all__ = ["TorchBackend"]


def _torch() -> Any:
    import torch

    return torch


class TorchBackend:
    """Integrated Gradients on PyTorch modules and callables."""

    name = "torch"

    def is_native(self, value: object) -> bool:
        torch = sys.modules.get("torch")
        return torch is not None and isinstance(value, torch.Tensor)

    def accepts_model(self, model: object) -> bool:
        torch = sys.modules.get("torch")
        return torch is not None and isinstance(model, torch.nn.Module)

    def prepare_inputs(self, inputs: Sequence[Any]) -> tuple[Any, ...]:
        torch = _torch()
        prepared = []
        for position, value in enumerate(inputs):
            tensor = value if isinstance(value, torch.Tensor) else torch.as_tensor(value)
            if not tensor.is_floating_point():
                raise TypeError(
                    f"inputs[{position}] must be a floating-point tensor, got {tensor.dtype}"
                )
            prepared.append(tensor.detach())
        return tuple(prepared)

    def to_numpy(self, value: Any) -> np.ndarray:
        if self.is_native(value):
            return np.asarray(value.detach().cpu().numpy())
        return np.asarray(value)

    def make_baseline(self, rule: BaselineRule, inputs: Any) -> Any:
        torch = _torch()
        if isinstance(rule, ConstantBaseline):
            return torch.full_like(inputs, rule.value)
        if isinstance(rule, ExplicitBaseline):
            value = torch.as_tensor(rule.value, dtype=inputs.dtype, device=inputs.device)
            return _broadcast(value, inputs)
        drawn = rule.sample(self.to_numpy(inputs).astype(np.float64))
        return torch.as_tensor(drawn, dtype=inputs.dtype, device=inputs.device)

    @contextmanager
    def model_guard(self, model: Any) -> Iterator[Callable[..., Any]]:
        torch = _torch()
        is_module = isinstance(model, torch.nn.Module)
        parameters = list(model.parameters()) if is_module else []
        modules = list(model.modules()) if is_module else []
        flags = [p.requires_grad for p in parameters]
        modes = [m.training for m in modules]
        try:
            # Gradients with respect to inputs only: parameter gradients would cost time and
            # memory and would leak into the user's .grad fields.
            for parameter in parameters:
                parameter.requires_grad_(False)
            with torch.enable_grad():
                yield model
        finally:
            for parameter, flag in zip(parameters, flags, strict=True):
                parameter.requires_grad_(flag)
            # Nothing here changes train/eval mode; restoring it guards against models whose
            # forward does.
            for module, mode in zip(modules, modes, strict=True):
                module.training = mode

    def evaluator(
        self,
        model_fn: Callable[..., Any],
        inputs: tuple[Any, ...],
        baselines: tuple[Any, ...],
        targets: np.ndarray | None,
        output: str | Callable[[Any], Any] | None,
        additional_forward_args: tuple[Any, ...],
        chunk_rows: int,
    ) -> TorchPathEvaluator:
        return TorchPathEvaluator(
            model_fn, inputs, baselines, targets, output, additional_forward_args
        )

    def mean(self, attributions: Sequence[tuple[Any, ...]]) -> tuple[Any, ...]:
        torch = _torch()
        return tuple(torch.stack(group).mean(dim=0) for group in zip(*attributions, strict=True))


def _broadcast(value: Any, inputs: Any) -> Any:
    try:
        return value.expand_as(inputs).clone()
    except RuntimeError:
        raise ValueError(
            f"baseline of shape {tuple(value.shape)} does not broadcast to the input's shape "
            f"{tuple(inputs.shape)}"
        ) from None


class TorchPathEvaluator:
    """Interpolate, differentiate and accumulate for one baseline (see ``PathEvaluator``)."""

    def __init__(
        self,
        model_fn: Callable[..., Any],
        inputs: tuple[Any, ...],
        baselines: tuple[Any, ...],
        targets: np.ndarray | None,
        output: str | Callable[[Any], Any] | None,
        additional_forward_args: tuple[Any, ...],
    ) -> None:
        torch = _torch()
        self._torch = torch
        self._model_fn = model_fn
        self._inputs = inputs
        self._baselines = baselines
        self._differences = tuple(x - b for x, b in zip(inputs, baselines, strict=True))
        self._targets = targets
        self._output = output
        self._extra = additional_forward_args
        self._num_examples = int(inputs[0].shape[0])
        self._device = inputs[0].device
        # Accumulate in at least float32 so half-precision inputs don't lose the sum.
        self._acc_dtypes = tuple(torch.promote_types(x.dtype, torch.float32) for x in inputs)

    def zeros(self) -> list[Any]:
        torch = self._torch
        return [
            torch.zeros_like(x, dtype=d)
            for x, d in zip(self._inputs, self._acc_dtypes, strict=True)
        ]

    def _points(self, rows: Rows) -> tuple[Any, Any]:
        torch = self._torch
        index = torch.as_tensor(rows.example_index, device=self._device)
        points = []
        for baseline, difference in zip(self._baselines, self._differences, strict=True):
            alphas = torch.as_tensor(rows.alphas, dtype=baseline.dtype, device=self._device)
            alphas = alphas.reshape((-1,) + (1,) * (baseline.dim() - 1))
            points.append(baseline[index] + alphas * difference[index])
        return index, tuple(points)

    def _extra_rows(self, index: Any) -> tuple[Any, ...]:
        torch = self._torch
        return tuple(
            arg[index]
            if isinstance(arg, torch.Tensor)
            and arg.dim() > 0
            and arg.shape[0] == self._num_examples
            else arg
            for arg in self._extra
        )

    def _selected(self, points: tuple[Any, ...], rows: Rows, index: Any) -> Any:
        outputs = self._model_fn(*points, *self._extra_rows(index))
        targets = None if self._targets is None else self._targets[rows.example_index]
        return select_outputs(self, outputs, targets, self._output)

    def accumulate(self, state: list[Any], rows: Rows, record: bool) -> tuple[Any, Any]:
        torch = self._torch
        index, points = self._points(rows)
        points = tuple(p.requires_grad_(True) for p in points)
        selected = self._selected(points, rows, index)
        grads = torch.autograd.grad(selected.sum(), points, allow_unused=True)
        grads = tuple(
            torch.zeros_like(p) if g is None else g for p, g in zip(points, grads, strict=True)
        )
        weights = torch.as_tensor(rows.weights, device=self._device)
        for acc, grad in zip(state, grads, strict=True):
            shaped = weights.to(acc.dtype).reshape((-1,) + (1,) * (grad.dim() - 1))
            acc.index_add_(0, index, grad.to(acc.dtype) * shaped)
        if not record:
            return state, None
        return state, ChunkRecord(
            outputs=self._host(selected), mean_gradients=self._host(_mean_per_row(grads))
        )

    def forward(self, rows: Rows) -> np.ndarray:
        index, points = self._points(rows)
        with self._torch.no_grad():
            return self._host(self._selected(points, rows, index))

    def _per_example(self, scale: np.ndarray, like: Any) -> Any:
        values = self._torch.as_tensor(scale, dtype=like.dtype, device=self._device)
        return values.reshape((-1,) + (1,) * (like.dim() - 1))

    def combine(
        self, first: list[Any], first_scale: np.ndarray, second: list[Any], second_scale: Any
    ) -> list[Any]:
        return [
            a * self._per_example(first_scale, a) + b * self._per_example(second_scale, b)
            for a, b in zip(first, second, strict=True)
        ]

    def measure(self, state: list[Any]) -> tuple[np.ndarray, np.ndarray]:
        torch = self._torch
        flat = [
            (acc * difference.to(acc.dtype)).to(torch.float64).reshape(self._num_examples, -1)
            for acc, difference in zip(state, self._differences, strict=True)
        ]
        sums = sum(f.sum(dim=1) for f in flat)
        squares = sum((f * f).sum(dim=1) for f in flat)
        return self._host(sums), np.sqrt(self._host(squares))

    def finish(self, state: list[Any]) -> tuple[tuple[Any, ...], np.ndarray]:
        attributions = tuple(
            (acc * difference.to(acc.dtype)).to(x.dtype)
            for acc, difference, x in zip(state, self._differences, self._inputs, strict=True)
        )
        per_example = sum(
            a.detach().to(self._torch.float64).reshape(self._num_examples, -1).sum(dim=1)
            for a in attributions
        )
        return attributions, self._host(per_example)

    def _host(self, value: Any) -> np.ndarray:
        return np.asarray(value.detach().to(self._torch.float64).cpu().numpy())

    # -- the operations select_outputs needs -------------------------------------------------
    def softmax(self, outputs: Any) -> Any:
        return self._torch.softmax(outputs, dim=-1)

    def shape(self, outputs: Any) -> tuple[int, ...]:
        return tuple(outputs.shape)

    def reshape(self, outputs: Any, shape: tuple[int, ...]) -> Any:
        return outputs.reshape(shape)

    def take(self, outputs: Any, targets: np.ndarray) -> Any:
        columns = self._torch.as_tensor(targets, device=outputs.device)
        return outputs.gather(1, columns.reshape(-1, 1)).reshape(-1)


def _mean_per_row(grads: tuple[Any, ...]) -> Any:
    total = sum(g.reshape(g.shape[0], -1).sum(dim=1) for g in grads)
    count = sum(int(np.prod(g.shape[1:])) for g in grads)
    return total / count
