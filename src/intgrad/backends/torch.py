"""PyTorch backend: the core's few tensor operations on ``torch.Tensor``, on the inputs' device.

Convolutional models on the CPU run as a private channels-last copy (faster there; the user's
model is not touched). Float32 models run in full float32 on CUDA: TF32 is switched off for the
call (see :func:`_float32_arithmetic`) unless ``allow_tf32`` is set.

Two opt-in levers (:class:`~intgrad._core.backend.Acceleration`): ``autocast`` runs the model
under ``torch.autocast`` in bfloat16 or float16 while gradients are taken with respect to the
float32 path points and summed in float32; ``compile_model`` calls ``torch.compile(model)``
with static shapes and pads every chunk to one size, so the model compiles once per call
signature (Dynamo keeps its compiled code between calls).
"""

from __future__ import annotations

import contextlib
import copy
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from intgrad._core.backend import Acceleration, ChunkRecord, Rows
from intgrad._core.baselines import BaselineRule, ConstantBaseline, ExplicitBaseline
from intgrad._core.integrate import DEFAULT_CHUNK_ELEMENTS
from intgrad.backends._common import select_outputs

__all__ = [
    "ACCELERATOR_CHUNK_ELEMENTS",
    "CHANNELS_LAST_MAX_BYTES",
    "CPU_CHUNK_ELEMENTS",
    "TorchBackend",
]

CPU_CHUNK_ELEMENTS = DEFAULT_CHUNK_ELEMENTS
"""Default input elements per chunk on the CPU: 6 rows of a 224×224 RGB image. On 2 cores
EfficientNet-Lite0 ran 2 to 8 rows per chunk within 10 % of each other per step, 16 rows 9 %
and 32 rows 67 % slower than 6 (docs/benchmarks.md)."""

CHANNELS_LAST_MAX_BYTES = 2**29
"""Largest model (parameters and buffers, bytes) that gets a private channels-last copy on the
CPU (see :func:`_channels_last_copy`)."""

ACCELERATOR_CHUNK_ELEMENTS = 2**24
"""Default input elements per chunk on a GPU: 111 rows of a 224×224 RGB image (GPUs need
large batches to be busy; docs/benchmarks-gpu.md)."""


def _torch() -> Any:
    import torch

    return torch


class TorchBackend:
    """Integrated Gradients on PyTorch modules and callables."""

    name = "torch"

    def __init__(self, acceleration: Acceleration | None = None) -> None:
        self.acceleration = acceleration or Acceleration()

    def accelerated(self, acceleration: Acceleration) -> TorchBackend:
        return TorchBackend(acceleration.checked())

    def chunk_elements(self, inputs: tuple[Any, ...]) -> int:
        on_cpu = all(x.device.type == "cpu" for x in inputs)
        return CPU_CHUNK_ELEMENTS if on_cpu else ACCELERATOR_CHUNK_ELEMENTS

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
    def model_guard(self, model: Any, inputs: tuple[Any, ...]) -> Iterator[Callable[..., Any]]:
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
            with torch.enable_grad(), _float32_arithmetic(torch, self.acceleration.allow_tf32):
                if self.acceleration.compile_model is not False:
                    yield self._compiled(model)
                else:
                    yield self._channels_last(model, inputs) or model
        finally:
            for parameter, flag in zip(parameters, flags, strict=True):
                parameter.requires_grad_(flag)
            # Nothing here changes train/eval mode; restoring it guards against models whose
            # forward does.
            for module, mode in zip(modules, modes, strict=True):
                module.training = mode

    def _channels_last(self, model: Any, inputs: tuple[Any, ...]) -> _ChannelsLast | None:
        """The private channels-last copy when asked for or when it pays, else ``None``."""
        wanted = self.acceleration.channels_last
        if wanted is False or not _convolutional(model) or not any(x.dim() == 4 for x in inputs):
            return None
        if wanted is None and (
            any(x.device.type != "cpu" for x in inputs)
            or _has_hooks(model)
            or _state_bytes(model) > CHANNELS_LAST_MAX_BYTES
        ):
            return None
        return _channels_last_copy(model)

    def _compiled(self, model: Any) -> Any:
        """``model`` compiled in the mode asked for (``torch.compile`` wraps, never edits)."""
        mode = self.acceleration.compile_model
        return _torch().compile(model, dynamic=False, mode=None if mode is True else mode)

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
            model_fn,
            inputs,
            baselines,
            targets,
            output,
            additional_forward_args,
            autocast=self.acceleration.autocast,
            pad_rows_to=None if self.acceleration.compile_model is False else chunk_rows,
        )

    def mean(self, attributions: Sequence[tuple[Any, ...]]) -> tuple[Any, ...]:
        torch = _torch()
        return tuple(torch.stack(group).mean(dim=0) for group in zip(*attributions, strict=True))


class _ChannelsLast:
    """A private channels-last copy of a convolutional model; 4-D arguments are converted to match.

    Gradients still arrive in the layout of the path points: autograd carries them back through
    the conversion.
    """

    def __init__(self, module: Any) -> None:
        self.module = module

    def __call__(self, *args: Any) -> Any:
        torch = _torch()
        return self.module(
            *(
                a.contiguous(memory_format=torch.channels_last)
                if isinstance(a, torch.Tensor) and a.dim() == 4
                else a
                for a in args
            )
        )


def _convolutional(model: Any) -> bool:
    torch = _torch()
    return isinstance(model, torch.nn.Module) and any(
        isinstance(m, torch.nn.Conv2d) for m in model.modules()
    )


def _has_hooks(model: Any) -> bool:
    """Whether any submodule has hooks (a copy would call them with the copy's modules)."""
    hook_tables = (
        "_forward_hooks",
        "_forward_pre_hooks",
        "_backward_hooks",
        "_backward_pre_hooks",
    )
    return any(getattr(m, table, None) for m in model.modules() for table in hook_tables)


def _state_bytes(model: Any) -> int:
    return sum(t.numel() * t.element_size() for t in (*model.parameters(), *model.buffers()))


def _channels_last_copy(model: Any) -> _ChannelsLast | None:
    """A channels-last copy of ``model``, or ``None`` when it cannot be copied.

    Why, by default on the CPU: on 2 cores Gauss–Legendre at 128 steps on EfficientNet-Lite0
    took 15–19 % less time with the copy (docs/benchmarks.md, the ``channels_last=False``
    column). Converting only the inputs does not pay, and converting the user's model would
    modify it, so a copy is converted (about 30 ms for 4.7 M parameters). The default leaves
    out models with hooks and models over ``CHANNELS_LAST_MAX_BYTES``. Called after parameter
    gradients are switched off, so the copy has them off too.
    """
    torch = _torch()
    try:
        private = copy.deepcopy(model)
    except Exception:  # deepcopy can fail in many ways on exotic modules: keep the original
        return None
    return _ChannelsLast(private.to(memory_format=torch.channels_last))


@contextmanager
def _float32_arithmetic(torch: Any, allow_tf32: bool) -> Iterator[None]:
    """TF32 off for CUDA convolutions and matrix products during the call, unless allowed.

    PyTorch lets cuDNN convolutions run in TF32 (a 10-bit mantissa) by default. On an H100
    that alone put a 3 % relative L2 error into EfficientNet-Lite0's attributions (0.1 % with
    it off, at the same speed; docs/benchmarks-gpu.md). The flags are process-wide, so the
    user's values are restored on exit.
    """
    cudnn, matmul = torch.backends.cudnn, torch.backends.cuda.matmul
    saved = (cudnn.allow_tf32, matmul.allow_tf32)
    try:
        if not allow_tf32:
            cudnn.allow_tf32 = matmul.allow_tf32 = False
        yield
    finally:
        cudnn.allow_tf32, matmul.allow_tf32 = saved


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
        autocast: str | None = None,
        pad_rows_to: int | None = None,
    ) -> None:
        """Bind one call's tensors.

        Args:
            autocast: ``"bfloat16"``/``"float16"`` to run the model under ``torch.autocast``.
            pad_rows_to: give the model chunks of exactly this many rows (compiled models);
                padding rows (:meth:`Rows.padded`) have weight 0 and their outputs are dropped.
        """
        torch = _torch()
        self._torch = torch
        self._autocast_dtype = None if autocast is None else getattr(torch, autocast)
        self._pad_rows_to = pad_rows_to
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
        torch = self._torch
        mixed = (
            contextlib.nullcontext()
            if self._autocast_dtype is None
            else torch.autocast(self._device.type, dtype=self._autocast_dtype)
        )
        with mixed:
            outputs = self._model_fn(*points, *self._extra_rows(index))
        if self._autocast_dtype is not None and isinstance(outputs, torch.Tensor):
            # Softmax and the selected scalar in float32, whatever the model computed in.
            outputs = outputs.to(torch.promote_types(outputs.dtype, torch.float32))
        targets = None if self._targets is None else self._targets[rows.example_index]
        return select_outputs(self, outputs, targets, self._output)

    def accumulate(self, state: list[Any], rows: Rows, record: bool) -> tuple[Any, Any]:
        torch = self._torch
        real_rows = len(rows)
        rows = rows if self._pad_rows_to is None else rows.padded(self._pad_rows_to)
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
            outputs=self._host(selected)[:real_rows],
            mean_gradients=self._host(_mean_per_row(grads))[:real_rows],
        )

    def forward(self, rows: Rows) -> np.ndarray:
        real_rows = len(rows)
        rows = rows if self._pad_rows_to is None else rows.padded(self._pad_rows_to)
        index, points = self._points(rows)
        with self._torch.no_grad():
            return self._host(self._selected(points, rows, index))[:real_rows]

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
