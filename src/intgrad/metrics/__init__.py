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
Text is perturbed in id space, never decoded and tokenized again, for a model of any framework
(an Explainer with the embedding ``layer`` lets the ids in), with the per-token attributions
(an embedding layer's summed over its width): :func:`deletion`, :func:`insertion` and
:func:`road` (``imputation="token"``) replace removed tokens by a mask id; :func:`infidelity`
moves random subsets of tokens to the baseline ids; :func:`max_sensitivity` re-explains texts
with a few random tokens replaced by a mask id. :func:`token_features` keeps special tokens
and padding out, and :func:`text_batch` makes the ids, mask, features and baseline ids of
:class:`~intgrad.text.TextExplanation` objects, which every metric also takes as attributions.
:func:`intgrad.text.faithfulness` keeps ERASER's comprehensiveness and sufficiency of the
Hugging Face models.
:func:`to_numpy` is the host copy the metrics make of any framework's tensor (attributions
included), for callers that score their own attributions the same way.
"""

from intgrad.metrics._common import host as to_numpy
from intgrad.metrics.completeness import Completeness, completeness
from intgrad.metrics.features import (
    FeatureSpec,
    TokenBatch,
    column_features,
    feature_ranks,
    pixel_features,
    text_batch,
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
    ROAD_IMPUTATIONS,
    ROAD_NEIGHBOURS,
    noisy_linear_imputation,
    road,
)
from intgrad.metrics.sensitivity import Sensitivity, max_sensitivity

__all__ = [
    "DEFAULT_PERCENTAGES",
    "INFIDELITY_PERTURBATIONS",
    "PERTURBATIONS",
    "ROAD_IMPUTATIONS",
    "ROAD_NEIGHBOURS",
    "Completeness",
    "Curve",
    "FeatureSpec",
    "Infidelity",
    "RandomisationCheck",
    "Sensitivity",
    "TokenBatch",
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
    "text_batch",
    "to_numpy",
    "token_features",
]
