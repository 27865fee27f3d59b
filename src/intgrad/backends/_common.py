"""What several backends share: refusing the torch-only levers."""

from __future__ import annotations

from intgrad._core.backend import Acceleration

__all__ = ["refuse_acceleration"]


def refuse_acceleration(backend_name: str, acceleration: Acceleration) -> None:
    """``ValueError`` when a lever is requested from a backend that has none.

    TensorFlow and JAX already compile every chunk's step (``tf.function``, ``jax.jit``);
    mixed precision there belongs to the model (Keras policies, the parameters' dtype).
    """
    acceleration.checked()
    if acceleration.requested:
        raise ValueError(
            "autocast, compile_model, allow_tf32 and channels_last are available with the"
            " torch backend only;"
            f" the {backend_name} backend compiles each step already (use the model's own"
            " mixed precision instead of autocast)"
        )
