"""The IG family on the one path engine: Expected Gradients, SmoothGrad, Blur IG, Guided IG,
IDGI and Integrated/Expected Hessians (XRAI, which ranks image regions, is in
:mod:`intgrad.images.xrai`).

Every function takes a model (or an :class:`~intgrad.Explainer`, whose compiled steps it
reuses) and framework tensors, runs in PyTorch, TensorFlow and JAX through the engine's array
primitives, and returns an :class:`~intgrad.Attribution` with its completeness report where the
method has one — or, for the Hessians, :class:`Interactions`, whose rows add up to IG.
"""

from intgrad.family.blur import blur_ig
from intgrad.family.expected import expected_gradients
from intgrad.family.guided import guided_ig
from intgrad.family.hessians import Interactions, expected_hessians, integrated_hessians
from intgrad.family.idgi import idgi, idgi_step
from intgrad.family.noise import INNER_METHODS, noise_tunnel

__all__ = [
    "INNER_METHODS",
    "Interactions",
    "blur_ig",
    "expected_gradients",
    "expected_hessians",
    "guided_ig",
    "idgi",
    "idgi_step",
    "integrated_hessians",
    "noise_tunnel",
]
