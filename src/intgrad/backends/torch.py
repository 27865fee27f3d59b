"""PyTorch backend: the core's few tensor operations on ``torch.Tensor``, on the inputs' device.

Convolutional models on the CPU run as a private channels-last copy, with eval-mode batch norms
folded into the convolutions that feed them (faster there; the user's model is not touched).
Float32 models run in full float32 on CUDA: TF32 is switched off for the call (see
:func:`_float32_arithmetic`) unless ``allow_tf32`` is set.

Two opt-in levers (:class:`~intgrad._core.backend.Acceleration`): ``autocast`` runs the model
under ``torch.autocast`` in bfloat16 or float16 while gradients are taken with respect to the
float32 path points and summed in float32; ``compile_model`` calls ``torch.compile(model)``
with static shapes and pads every chunk to one size, so the model compiles once per call
signature (Dynamo keeps its compiled code between calls).
"""

from __future__ import annotations

import copy
import functools
import sys
import threading
import weakref
from collections.abc import Callable, Hashable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import numpy as np

from intgrad._core.arguments import ArgumentLayout
from intgrad._core.backend import Acceleration, LayerBinding
from intgrad._core.baselines import BaselineRule, ConstantBaseline, ExplicitBaseline
from intgrad._core.layers import is_layer_pair, layer_pair, split_binding
from intgrad.backends._torch_folding import fold_batch_norms

__all__ = [
    "ACCELERATOR_CHUNK_ELEMENTS",
    "CHANNELS_LAST_MAX_BYTES",
    "CPU_CHUNK_ELEMENTS",
    "TorchBackend",
    "TorchOps",
    "counting_layer_tensors",
]

CPU_CHUNK_ELEMENTS = 5 * 2**17
"""Default input elements per chunk on the CPU: 4 rows of a 224×224 RGB image (2.5 MiB of
float32 input). On 2 AMD EPYC cores, the folded channels-last EfficientNet-Lite0 took 21 ms
per row for a gradient at 3 or 4 rows per chunk, 24 at 2, 26 at 6 and 30 at 8, and a forward
pass 9–10 ms per row at 2 to 4 rows against 12.6 at 6 and 22 at 48 (timed by hand,
alternately, medians of 4: a small call's activations stay in the cache); the chunk sweep of
docs/benchmarks.md, whole calls with two repeats, found 2 to 8 rows within 10 % of each other
and 16 or 32 rows 30–50 % slower."""

CHANNELS_LAST_MAX_BYTES = 2**29
"""Largest model (parameters and buffers, bytes) that gets a private channels-last copy on the
CPU (see :func:`_channels_last_copy`)."""

ACCELERATOR_CHUNK_ELEMENTS = 2**24
"""Default input elements per chunk on a GPU: 111 rows of a 224×224 RGB image (GPUs need
large batches to be busy; docs/benchmarks-gpu.md)."""


def _torch() -> Any:
    import torch

    return torch


class TorchOps:
    """:class:`~intgrad._core.primitives.ArrayOps` on ``torch.Tensor`` on one device."""

    name = "torch"

    def __init__(self, device: Any, pads_chunks: bool) -> None:
        self._torch = _torch()
        self.device = device
        self.pads_chunks = pads_chunks

    def from_host(self, values: np.ndarray, like: Any = None) -> Any:
        tensor = self._torch.as_tensor(values, device=self.device)
        if like is not None and tensor.is_floating_point():
            return tensor.to(like.dtype)
        return tensor

    def to_host(self, values: Any) -> np.ndarray:
        values = values.detach()
        if values.is_floating_point():
            values = values.to(self._torch.float64)
        return np.asarray(values.cpu().numpy())

    def take(self, values: Any, index: Any) -> Any:
        if isinstance(values, np.ndarray):  # a per-example NumPy argument stays NumPy
            return values[index.cpu().numpy()]
        torch = self._torch
        if isinstance(values, torch.Tensor) and values.dim() > 0 and index.dim() == 1:
            # index_select is several times faster than advanced indexing on CPU (460 µs
            # against 60 µs for 4,096 rows of 87 floats) and the same values.
            return torch.index_select(values, 0, index)
        return values[index]

    def concat(self, values: tuple[Any, ...]) -> Any:
        return self._torch.cat(values, dim=0)

    def per_row(self, column: Any, like: Any) -> Any:
        return column.to(like.dtype).reshape((-1,) + (1,) * (like.dim() - 1))

    def zeros(self, like: Any) -> Any:
        torch = self._torch
        return torch.zeros(
            like.shape, dtype=torch.promote_types(like.dtype, torch.float32), device=like.device
        )

    def cast(self, values: Any, like: Any) -> Any:
        return values.to(like.dtype)

    def scatter_add(self, accumulator: Any, index: Any, rows: Any) -> Any:
        return accumulator.index_add_(0, index, rows)

    def row_sums(self, values: Any) -> Any:
        torch = self._torch
        wide = torch.float64 if values.device.type != "mps" else torch.float32
        return values.detach().reshape(values.shape[0], -1).to(wide).sum(dim=1)

    def value_and_grad(
        self, f: Callable[[tuple[Any, ...]], Any], points: tuple[Any, ...]
    ) -> tuple[Any, tuple[Any, ...]]:
        torch = self._torch
        points = tuple(p.detach().requires_grad_(True) for p in points)
        with torch.enable_grad():
            values = f(points)
            grads = torch.autograd.grad(values.sum(), points, allow_unused=True)
        return values.detach(), tuple(
            torch.zeros_like(p) if g is None else g for p, g in zip(points, grads, strict=True)
        )

    def value(self, f: Callable[[tuple[Any, ...]], Any], points: tuple[Any, ...]) -> Any:
        with self._torch.no_grad():
            return f(points)

    def hessian_vector(
        self,
        f: Callable[[tuple[Any, ...]], Any],
        points: tuple[Any, ...],
        tangents: tuple[Any, ...],
    ) -> tuple[Any, tuple[Any, ...], tuple[Any, ...]]:
        torch = self._torch
        points = tuple(p.detach().requires_grad_(True) for p in points)
        with torch.enable_grad():
            values = f(points)
            grads = torch.autograd.grad(values.sum(), points, create_graph=True, allow_unused=True)
            grads = tuple(
                torch.zeros_like(p) if g is None else g for p, g in zip(points, grads, strict=True)
            )
            directional = sum(
                (g * t.to(g.dtype)).sum() for g, t in zip(grads, tangents, strict=True)
            )
            products: tuple[Any, ...] = (
                torch.autograd.grad(directional, points, allow_unused=True)
                if directional.requires_grad  # a model linear in the points has H = 0
                else (None,) * len(points)
            )
        return (
            values.detach(),
            tuple(g.detach() for g in grads),
            tuple(
                torch.zeros_like(p) if h is None else h
                for p, h in zip(points, products, strict=True)
            ),
        )

    def exp(self, values: Any) -> Any:
        return self._torch.exp(values)

    def einsum(self, subscripts: str, *operands: Any) -> Any:
        return self._torch.einsum(subscripts, *operands)

    def compile(self, step: Any) -> Any:
        return step

    def softmax(self, outputs: Any) -> Any:
        return self._torch.softmax(outputs, dim=-1)

    def shape(self, values: Any) -> tuple[int, ...]:
        return tuple(values.shape)

    def reshape(self, values: Any, shape: tuple[int, ...]) -> Any:
        return values.reshape(shape)

    def take_columns(self, outputs: Any, columns: Any) -> Any:
        rest = tuple(outputs.shape[2:])
        index = columns.long().clamp(max=outputs.shape[1] - 1)
        index = index.reshape((-1, 1) + (1,) * len(rest)).expand((-1, 1, *rest))
        return outputs.gather(1, index).reshape((outputs.shape[0], *rest))


class _Program:
    """Calls the guarded model at the path points (the model's inputs are the path)."""

    key: Hashable | None = None
    fixed: tuple[Any, ...] = ()

    def __init__(self, model_fn: Callable[..., Any], layout: ArgumentLayout, autocast: Any) -> None:
        self._model_fn, self._layout, self._autocast = model_fn, layout, autocast

    def call(self, args: tuple[Any, ...]) -> Any:
        torch = _torch()
        if self._autocast is None:
            return self._model_fn(*args)
        device = next((a.device.type for a in args if isinstance(a, torch.Tensor)), "cpu")
        with torch.autocast(device, dtype=self._autocast):
            outputs = self._model_fn(*args)
        # Softmax and the selected scalar in float32, whatever the model computed in.
        if isinstance(outputs, torch.Tensor):
            outputs = outputs.to(torch.promote_types(outputs.dtype, torch.float32))
        return outputs

    def outputs(
        self, points: tuple[Any, ...], row_args: tuple[Any, ...], fixed: tuple[Any, ...]
    ) -> Any:
        return self.call((*points, *self._layout.join(row_args, fixed)))


class _LayerProgram:
    """Runs the model from its inputs with the layers' activations replaced by the points.

    The hooks act only in the thread that registered them, so concurrent calls on one model
    (each registering its own hooks) do not see each other's points.
    """

    key: Hashable | None = None
    fixed: tuple[Any, ...] = ()

    def __init__(self, base: _Program, hooks: _LayerHooks, num_inputs: int) -> None:
        self._base, self._hooks, self._num_inputs = base, hooks, num_inputs

    def outputs(
        self, points: tuple[Any, ...], row_args: tuple[Any, ...], fixed: tuple[Any, ...]
    ) -> Any:
        inputs, extras = row_args[: self._num_inputs], row_args[self._num_inputs :]
        with self._hooks.replacing(points):
            return self._base.outputs(inputs, extras, fixed)


class _LayerHooks:
    """Forward hooks on the layer modules that capture their activations or replace them.

    A module's activations are the tensors of its output — a tensor, or the tensors in a tuple
    or list — or, with ``to_input``, the tensors among its positional arguments; entries that
    are not tensors pass unchanged (Captum's layer semantics). Each activation tensor is one
    path tensor, module after module; :attr:`counts` says how many each module has.

    Hooks are registered for one forward pass at a time and act only in the thread that
    registered them, so concurrent calls on one model never see each other's points, and the
    model carries no hook of ours between chunks.
    """

    def __init__(self, modules: tuple[Any, ...], to_input: bool) -> None:
        self.modules, self.to_input = modules, to_input
        self.counts: tuple[int, ...] | None = None
        """Activation tensors per module, known after the first :meth:`capture`."""

    @contextmanager
    def _registered(
        self, act: Callable[[int, tuple[Any, ...]], tuple[Any, ...] | None]
    ) -> Iterator[None]:
        """Within: ``act(position, tensors)`` sees each module's activation tensors and may
        return replacements for them (``None`` keeps them)."""
        owner = threading.get_ident()

        def make(position: int) -> Callable[..., Any]:
            def swap(value: Any) -> Any:
                replaced = act(position, self._tensors(position, value))
                return None if replaced is None else _with_tensors(value, replaced)

            if self.to_input:

                def pre_hook(module: Any, args: tuple[Any, ...]) -> Any:
                    return swap(args) if threading.get_ident() == owner else None

                return pre_hook

            def hook(module: Any, args: Any, output: Any) -> Any:
                return swap(output) if threading.get_ident() == owner else None

            return hook

        handles = [
            m.register_forward_pre_hook(make(i))
            if self.to_input
            else m.register_forward_hook(make(i))
            for i, m in enumerate(self.modules)
        ]
        try:
            yield
        finally:
            for handle in handles:
                handle.remove()

    def _tensors(self, position: int, value: Any) -> tuple[Any, ...]:
        tensors = _activation_tensors(value)
        if not tensors:
            raise TypeError(
                f"layer {position} ({type(self.modules[position]).__name__}) "
                f"{'takes' if self.to_input else 'returns'} no tensor (got a "
                f"{type(value).__name__}); pick a layer whose "
                f"{'positional arguments' if self.to_input else 'output'} hold tensors"
            )
        return tensors

    def capture(self, run: Callable[[], Any]) -> tuple[Any, ...]:
        """The layers' activation tensors (detached copies) during ``run()``, flattened."""
        captured: list[tuple[Any, ...] | None] = [None] * len(self.modules)

        def act(position: int, tensors: tuple[Any, ...]) -> None:
            # Copies: an in-place module after the layer must not change what was captured.
            captured[position] = tuple(t.detach().clone() for t in tensors)

        with self._registered(act), _torch().no_grad():
            run()
        missing = [i for i, c in enumerate(captured) if c is None]
        if missing:
            raise ValueError(f"layer {missing[0]} was not called by the model's forward pass")
        groups = [c for c in captured if c is not None]
        counts = tuple(len(group) for group in groups)
        if self.counts is not None and counts != self.counts:
            raise ValueError(
                f"the layers gave {counts} activation tensors at the baseline but "
                f"{self.counts} at the inputs"
            )
        self.counts = counts
        return tuple(t for group in groups for t in group)

    def replacing(self, points: tuple[Any, ...]) -> AbstractContextManager[None]:
        """Within: every forward pass sees ``points`` as the layers' activations."""
        assert self.counts is not None, "capture the activations first"
        offsets = np.cumsum((0, *self.counts)).tolist()

        def act(position: int, tensors: tuple[Any, ...]) -> tuple[Any, ...]:
            mine = points[offsets[position] : offsets[position + 1]]
            if len(tensors) != len(mine):
                raise ValueError(
                    f"layer {position} gave {len(tensors)} activation tensors where the path "
                    f"has {len(mine)}"
                )
            for value, point in zip(tensors, mine, strict=True):
                if tuple(point.shape) != tuple(value.shape):
                    raise ValueError(
                        f"layer {position} gave activations of shape {tuple(value.shape)} "
                        f"where the path has {tuple(point.shape)}"
                    )
            # A copy on the tape, so that in-place modules after the layer (ReLU(inplace=True))
            # do not write into the path points, which autograd needs as they are.
            return tuple(point.clone() for point in mine)

        return self._registered(act)


def _activation_tensors(value: Any) -> tuple[Any, ...]:
    """The tensors a layer hook sees: ``value`` itself, or the tensors in a tuple or list."""
    torch = _torch()
    if isinstance(value, torch.Tensor):
        return (value,)
    if isinstance(value, (tuple, list)):
        return tuple(v for v in value if isinstance(v, torch.Tensor))
    return ()


def _with_tensors(value: Any, tensors: tuple[Any, ...]) -> Any:
    """``value`` with its activation tensors replaced by ``tensors``, in order."""
    torch = _torch()
    if isinstance(value, torch.Tensor):
        return tensors[0]
    replacements = iter(tensors)
    items = [next(replacements) if isinstance(v, torch.Tensor) else v for v in value]
    if isinstance(value, list):
        return items
    return type(value)(*items) if hasattr(value, "_fields") else tuple(items)


@contextmanager
def counting_layer_tensors(layer: object, to_input: bool) -> Iterator[list[int | None]]:
    """Within: entry ``i`` of the list yielded is the number of activation tensors module
    ``i`` of ``layer`` had when it last ran in this thread (how layer attributions group).

    Observes only: registered around a layer attribution call, it costs no extra pass.
    """
    hooks = _LayerHooks(_layer_modules(layer), to_input)
    counts: list[int | None] = [None] * len(hooks.modules)

    def act(position: int, tensors: tuple[Any, ...]) -> None:
        counts[position] = len(tensors)

    with hooks._registered(act):
        yield counts


class TorchBackend:
    """Integrated Gradients on PyTorch modules and callables."""

    name = "torch"

    def __init__(self, acceleration: Acceleration | None = None) -> None:
        self.acceleration = acceleration or Acceleration()

    def accelerated(self, acceleration: Acceleration) -> TorchBackend:
        return TorchBackend(acceleration.checked())

    def ops(self, inputs: tuple[Any, ...]) -> TorchOps:
        return TorchOps(inputs[0].device, pads_chunks=self.acceleration.compile_model is not False)

    def chunk_elements(self, inputs: tuple[Any, ...]) -> int:
        on_cpu = all(x.device.type == "cpu" for x in inputs)
        return CPU_CHUNK_ELEMENTS if on_cpu else ACCELERATOR_CHUNK_ELEMENTS

    def is_native(self, value: object) -> bool:
        torch = sys.modules.get("torch")
        return torch is not None and isinstance(value, torch.Tensor)

    def accepts_model(self, model: object) -> bool:
        torch = sys.modules.get("torch")
        return torch is not None and isinstance(model, torch.nn.Module)

    def prepare_inputs(self, inputs: Sequence[Any], allow_integer: bool = False) -> tuple[Any, ...]:
        torch = _torch()
        prepared = []
        for position, value in enumerate(inputs):
            tensor = value if isinstance(value, torch.Tensor) else torch.as_tensor(value)
            integer = not tensor.is_floating_point() and not tensor.is_complex()
            if not tensor.is_floating_point() and not (allow_integer and integer):
                raise TypeError(
                    f"inputs[{position}] must be a floating-point tensor, got {tensor.dtype}"
                    + ("" if allow_integer else " (integer inputs need layer=)")
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
        modules = list(model.modules()) if is_module else []
        modes = [m.training for m in modules]
        try:
            with (
                _frozen_parameters(model),
                _float32_arithmetic(torch, self.acceleration.allow_tf32),
            ):
                if self.acceleration.compile_model is not False:
                    yield self._compiled(model)
                else:
                    yield self._channels_last(model, inputs) or model
        finally:
            # Nothing here changes train/eval mode; restoring it guards against models whose
            # forward does.
            for module, mode in zip(modules, modes, strict=True):
                module.training = mode

    def program(self, model_fn: Callable[..., Any], layout: ArgumentLayout) -> _Program:
        autocast = self.acceleration.autocast
        return _Program(model_fn, layout, None if autocast is None else getattr(_torch(), autocast))

    def layer_program(
        self,
        model_fn: Callable[..., Any],
        layer: object,
        to_layer_input: bool,
        layout: ArgumentLayout,
        extras: tuple[Any, ...],
        inputs: tuple[Any, ...],
        baseline_inputs: Sequence[tuple[Any, ...]],
    ) -> LayerBinding:
        if is_layer_pair(layer):
            if to_layer_input:
                raise ValueError("attribute_to_layer_input needs a module, not (embed_fn, head_fn)")
            embed, head = layer_pair(layer)
            return split_binding(self, embed, head, layout, inputs, baseline_inputs)
        hooks = _LayerHooks(_layer_modules(layer), to_layer_input)
        base = self.program(model_fn, layout)
        ends = hooks.capture(functools.partial(base.call, (*inputs, *extras)))
        starts = [
            hooks.capture(functools.partial(base.call, (*b, *extras))) for b in baseline_inputs
        ]
        return LayerBinding(_LayerProgram(base, hooks, len(inputs)), ends, starts, inputs)

    def _channels_last(self, model: Any, inputs: tuple[Any, ...]) -> Any:
        """The private channels-last copy when asked for or when it pays, else ``None``.

        The copy is kept between calls, of any backend instance and any thread, while the
        model lives and its parameters and buffers are the same tensors at the same version
        (:data:`PRIVATE_COPIES`).
        """
        wanted = self.acceleration.channels_last
        if wanted is False or not _convolutional(model) or not any(x.dim() == 4 for x in inputs):
            return None
        if wanted is None and (
            any(x.device.type != "cpu" for x in inputs)
            or _has_hooks(model)
            or _state_bytes(model) > CHANNELS_LAST_MAX_BYTES
        ):
            return None
        return PRIVATE_COPIES.get(model, _channels_last_copy)

    def _compiled(self, model: Any) -> Any:
        """``model`` compiled in the mode asked for (``torch.compile`` wraps, never edits)."""
        mode = self.acceleration.compile_model
        return _torch().compile(model, dynamic=False, mode=None if mode is True else mode)


def _layer_modules(layer: object) -> tuple[Any, ...]:
    torch = _torch()
    modules = tuple(layer) if isinstance(layer, (tuple, list)) else (layer,)
    if not modules or not all(isinstance(m, torch.nn.Module) for m in modules):
        raise TypeError(
            "layer must be a torch.nn.Module, a tuple or list of modules or a pair"
            " (embed_fn, head_fn);"
            f" got {type(layer).__name__}"
        )
    return modules


class _ModelState:
    """What a private copy was made from: each parameter and buffer (by identity, held weakly)
    with its version counter, storage address and float64 sum, and each module's train/eval
    mode (batch norms are folded only in eval mode). An optimiser step, ``load_state_dict``,
    ``model.to(...)``, a replaced tensor, an in-place edit through ``.data`` (which the version
    counter misses; the sum does not) or ``model.train()`` all make it stale. The sums cost
    less than one forward pass, which reads every parameter too."""

    def __init__(self, model: Any) -> None:
        tensors = _state_tensors(model)
        self._tensors = [weakref.ref(t) for t in tensors]
        self._versions = [(t._version, t.data_ptr()) for t in tensors]
        self._sums = _sums(tensors)
        self._modes = [m.training for m in model.modules()]

    def matches(self, model: Any) -> bool:
        tensors = _state_tensors(model)
        return (
            len(tensors) == len(self._tensors)
            and all(
                (t._version, t.data_ptr()) == version and kept() is t
                for kept, t, version in zip(self._tensors, tensors, self._versions, strict=True)
            )
            and [m.training for m in model.modules()] == self._modes
            and _sums(tensors) == self._sums
        )


def _state_tensors(model: Any) -> tuple[Any, ...]:
    return (*model.parameters(), *model.buffers())


def _sums(tensors: tuple[Any, ...]) -> list[float]:
    torch = _torch()
    if not tensors:
        return []
    with torch.no_grad():
        sums = torch.stack([t.detach().sum(dtype=torch.float64).cpu() for t in tensors])
    return [float(v) for v in sums.tolist()]


class _PrivateCopies:
    """Process-wide: the private copy of each live model, remade when the model's state changes.

    Held weakly by the model (it goes when the model goes), one per model; a copy of a model
    made ``None`` (it could not be copied) is remembered too, so it is not tried again.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._kept: weakref.WeakKeyDictionary[Any, tuple[_ModelState, Any]] = (
            weakref.WeakKeyDictionary()
        )

    def get(self, model: Any, make: Callable[[Any], Any]) -> Any:
        """The kept copy of ``model`` if its state is unchanged, else ``make(model)``, kept."""
        with self._lock:
            kept = self._kept.get(model)
            if kept is not None and kept[0].matches(model):
                return kept[1]
            state = _ModelState(model)
            made = make(model)
            self._kept[model] = (state, made)
            return made

    def __len__(self) -> int:
        return len(self._kept)

    def kept(self, model: Any) -> Any:
        """The copy kept for ``model`` (``None`` if none), whether or not it is stale."""
        entry = self._kept.get(model)
        return None if entry is None else entry[1]

    def clear(self) -> None:
        with self._lock:
            self._kept.clear()


PRIVATE_COPIES = _PrivateCopies()
"""The private channels-last copies of the models explained in this process. Plain
``integrated_gradients`` calls in a loop over one model make its copy and fold its batch norms
once (on EfficientNet-Lite0 on 2 cores that was 0.2–0.3 s a call); ``PRIVATE_COPIES.clear()``
releases them."""


class _ChannelsLast:
    """A private channels-last copy of a convolutional model; 4-D arguments are converted to match.

    Gradients still arrive in the layout of the path points: autograd carries them back through
    the conversion. On the first call the copy's eval-mode batch norms are folded into the
    convolutions that feed them (:func:`~intgrad.backends._torch_folding.fold_batch_norms`,
    probed on that call's arguments); ``folded`` then says how many were.
    """

    def __init__(self, module: Any) -> None:
        self.module = module
        self.folded: int | None = None
        self._lock = threading.Lock()

    def __call__(self, *args: Any) -> Any:
        torch = _torch()
        converted = tuple(
            a.contiguous(memory_format=torch.channels_last)
            if isinstance(a, torch.Tensor) and a.dim() == 4
            else a
            for a in args
        )
        if self.folded is None:
            with self._lock:
                if self.folded is None:
                    self.folded = fold_batch_norms(self.module, converted)
        return self.module(*converted)


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
    took 14–43 % less time with the copy, its batch norms folded on its first call
    (docs/benchmarks.md, the ``channels_last=False`` column). Converting only the inputs does
    not pay, and converting the user's model would modify it, so a copy is converted (about
    30 ms for 4.7 M parameters). The default leaves out models with hooks and models over
    ``CHANNELS_LAST_MAX_BYTES``. Called after parameter gradients are switched off, so the
    copy has them off too.
    """
    torch = _torch()
    try:
        private = copy.deepcopy(model)
    except Exception:  # deepcopy can fail in many ways on exotic modules: keep the original
        return None
    return _ChannelsLast(private.to(memory_format=torch.channels_last))


_Setting = tuple[Hashable, Callable[[], Any], Callable[[Any], Any]]
"""A process-wide setting: its key, what applies it (returns the saved value), what restores it."""


class _SharedSettings:
    """Process-wide settings changed for the duration of calls, counted across threads.

    The first call to enter saves the current values and applies its own; later calls that
    overlap it find them applied; the last call to leave restores the saved values. So no call
    sees another call's restore under its feet, whatever the threads.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: dict[Hashable, tuple[int, Any]] = {}

    @contextmanager
    def held(
        self, key: Hashable, apply: Callable[[], Any], restore: Callable[[Any], None]
    ) -> Iterator[None]:
        with self.held_each([(key, apply, restore)]):
            yield

    @contextmanager
    def held_each(self, entries: Sequence[_Setting]) -> Iterator[None]:
        """:meth:`held` for several settings at once, each counted on its own key."""
        with self._lock:
            for key, apply, _ in entries:
                count, saved = self._held.get(key, (0, None))
                if count == 0:
                    saved = apply()
                self._held[key] = (count + 1, saved)
        try:
            yield
        finally:
            with self._lock:
                for key, _, restore in entries:
                    count, saved = self._held[key]
                    if count == 1:
                        del self._held[key]
                        restore(saved)
                    else:
                        self._held[key] = (count - 1, saved)


_SHARED = _SharedSettings()


def _frozen_parameters(model: Any) -> AbstractContextManager[None]:
    """Parameters' ``requires_grad`` off during the call, the user's flags restored after.

    Gradients with respect to inputs only: parameter gradients would cost time and memory and
    would leak into the user's ``.grad`` fields. Counted per parameter, not per model: calls on
    two models that share parameters (a model and a wrapper of it, a model and a slice of its
    layers) overlap in any order and still restore the user's flags.
    """
    torch = _torch()
    parameters = list(model.parameters()) if isinstance(model, torch.nn.Module) else []

    def entry(parameter: Any) -> _Setting:
        def apply() -> bool:
            flag = bool(parameter.requires_grad)
            parameter.requires_grad_(False)
            return flag

        return ("parameter", id(parameter)), apply, parameter.requires_grad_

    return _SHARED.held_each([entry(p) for p in parameters])


@contextmanager
def _float32_arithmetic(torch: Any, allow_tf32: bool) -> Iterator[None]:
    """TF32 off for CUDA convolutions and matrix products during the call, unless allowed.

    PyTorch lets cuDNN convolutions run in TF32 (a 10-bit mantissa) by default. On an H100
    that alone put a 3 % relative L2 error into EfficientNet-Lite0's attributions (0.1 % with
    it off, at the same speed; docs/benchmarks-gpu.md). The flags are process-wide: they are
    held off while any such call runs and the user's values come back after the last one.
    """
    if allow_tf32:
        yield
        return
    cudnn, matmul = torch.backends.cudnn, torch.backends.cuda.matmul

    def apply() -> tuple[bool, bool]:
        saved = (cudnn.allow_tf32, matmul.allow_tf32)
        cudnn.allow_tf32 = matmul.allow_tf32 = False
        return saved

    def restore(saved: tuple[bool, bool]) -> None:
        cudnn.allow_tf32, matmul.allow_tf32 = saved

    with _SHARED.held("tf32", apply, restore):
        yield


def _broadcast(value: Any, inputs: Any) -> Any:
    try:
        return value.expand_as(inputs).clone()
    except RuntimeError:
        raise ValueError(
            f"baseline of shape {tuple(value.shape)} does not broadcast to the input's shape "
            f"{tuple(inputs.shape)}"
        ) from None
