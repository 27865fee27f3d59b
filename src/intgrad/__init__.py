"""intgrad: Integrated Gradients for PyTorch, TensorFlow/Keras and JAX models.

``import intgrad`` imports none of the frameworks; a backend loads its framework when used.
"""

from intgrad._api import integrated_gradients
from intgrad._captum import IntegratedGradients, LayerIntegratedGradients
from intgrad._captum_family import GradientShap, NoiseTunnel
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
from intgrad.family import (
    Interactions,
    blur_ig,
    expected_gradients,
    expected_hessians,
    guided_ig,
    idgi,
    integrated_hessians,
    noise_tunnel,
)

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
    "GradientShap",
    "IntegratedGradients",
    "Interactions",
    "LayerIntegratedGradients",
    "NoiseTunnel",
    "PathRecord",
    "QuadratureRule",
    "UniformBaseline",
    "__version__",
    "blur_ig",
    "expected_gradients",
    "expected_hessians",
    "guided_ig",
    "idgi",
    "integrated_gradients",
    "integrated_hessians",
    "noise_tunnel",
    "quadrature_rule",
]
