"""intgrad: Integrated Gradients for PyTorch, TensorFlow/Keras and JAX models.

``import intgrad`` imports none of the frameworks; a backend loads its framework when used.
"""

from intgrad._api import integrated_gradients
from intgrad._captum import IntegratedGradients, LayerIntegratedGradients
from intgrad._core.baselines import (
    BASELINE_NAMES,
    BlurBaseline,
    ConstantBaseline,
    GaussianBaseline,
    UniformBaseline,
)
from intgrad._core.quadrature import METHODS, QuadratureRule, quadrature_rule
from intgrad._core.result import Attribution, PathRecord
from intgrad._core.session import Explainer
from intgrad.backends import BACKEND_NAMES

__version__ = "0.1.0"

__all__ = [
    "BACKEND_NAMES",
    "BASELINE_NAMES",
    "METHODS",
    "Attribution",
    "BlurBaseline",
    "ConstantBaseline",
    "Explainer",
    "GaussianBaseline",
    "IntegratedGradients",
    "LayerIntegratedGradients",
    "PathRecord",
    "QuadratureRule",
    "UniformBaseline",
    "__version__",
    "integrated_gradients",
    "quadrature_rule",
]
