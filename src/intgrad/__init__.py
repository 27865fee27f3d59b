"""intgrad: Integrated Gradients for PyTorch, TensorFlow/Keras and JAX models.

``import intgrad`` imports none of the frameworks; a backend loads its framework when used.
"""

from intgrad._api import integrated_gradients
from intgrad._captum import IntegratedGradients, LayerIntegratedGradients
from intgrad._core.baselines import (
    BlurBaseline,
    ConstantBaseline,
    GaussianBaseline,
    UniformBaseline,
)
from intgrad._core.quadrature import METHODS, QuadratureRule, quadrature_rule
from intgrad._core.result import Attribution, PathRecord
from intgrad._core.session import Explainer

__version__ = "0.1.0"

__all__ = [
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
