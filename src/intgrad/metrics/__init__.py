"""Faithfulness and sanity metrics of attributions, for every framework.

Each metric takes an :class:`~intgrad.Attribution` (or an array or tensor of attributions) and
a model or :class:`~intgrad.Explainer`; it perturbs NumPy copies of the inputs on the host and
scores them through :meth:`~intgrad.Explainer.evaluate`, one batched call per perturbation step
for all examples, so the same code runs PyTorch, TensorFlow/Keras and JAX models. Results are
plain containers holding per-example numbers and the curves to plot.

- :func:`deletion`, :func:`insertion`: RISE's curves (Petsiuk et al. 2018).
- :func:`road`: ROAD's MoRF/LeRF curves with noisy linear imputation (Rong et al. 2022).
- :func:`infidelity`, :func:`max_sensitivity`: Yeh et al. (2019).
- :func:`completeness`: Σφ = F(x) − F(x′) within a relative tolerance.
- :func:`model_randomisation`, :func:`randomised_copy`: Adebayo et al. (2018).

:mod:`intgrad.metrics.features` makes feature maps (pixels, patches, column groups, tokens).
For token ids, :func:`deletion` with :func:`token_features` and a mask id is the deletion
curve in id space for a model of any framework (an Explainer with the embedding ``layer``
lets the ids in); :func:`intgrad.text.faithfulness` keeps ERASER's comprehensiveness and
sufficiency of :class:`~intgrad.text.TextExplanation` objects of the Hugging Face models.
:func:`to_numpy` is the host copy the metrics make of any framework's tensor (attributions
included), for callers that score their own attributions the same way.
"""

from intgrad.metrics._common import host as to_numpy
from intgrad.metrics.completeness import Completeness, completeness
from intgrad.metrics.features import (
    FeatureSpec,
    column_features,
    feature_ranks,
    pixel_features,
    token_features,
)
from intgrad.metrics.infidelity import INFIDELITY_PERTURBATIONS, Infidelity, infidelity
from intgrad.metrics.perturbation import (
    PERTURBATIONS,
    Curve,
    deletion,
    insertion,
    perturbation_reference,
)
from intgrad.metrics.randomisation import (
    RandomisationCheck,
    model_randomisation,
    parameter_layers,
    randomised_copy,
    randomised_params,
    spearman,
    ssim,
)
from intgrad.metrics.road import (
    DEFAULT_PERCENTAGES,
    ROAD_NEIGHBOURS,
    noisy_linear_imputation,
    road,
)
from intgrad.metrics.sensitivity import Sensitivity, max_sensitivity

__all__ = [
    "DEFAULT_PERCENTAGES",
    "INFIDELITY_PERTURBATIONS",
    "PERTURBATIONS",
    "ROAD_NEIGHBOURS",
    "Completeness",
    "Curve",
    "FeatureSpec",
    "Infidelity",
    "RandomisationCheck",
    "Sensitivity",
    "column_features",
    "completeness",
    "deletion",
    "feature_ranks",
    "infidelity",
    "insertion",
    "max_sensitivity",
    "model_randomisation",
    "noisy_linear_imputation",
    "parameter_layers",
    "perturbation_reference",
    "pixel_features",
    "randomised_copy",
    "randomised_params",
    "road",
    "spearman",
    "ssim",
    "to_numpy",
    "token_features",
]
