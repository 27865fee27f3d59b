"""The README's table example: rows explained, then two datasets summarised and compared."""

import tempfile

from intgrad.datasets import TabularTask, compare, explain_dataset
from intgrad.tabular import TabularExplainer, load_adult

jobs = tempfile.mkdtemp()

explainer = TabularExplainer("adult-mlp")  # or a torch / Keras / JAX model with its schema
rows = load_adult("test").head(200)
explanation = explainer.explain(rows, target=">50K", baseline="median", steps=64)
first = explanation.attributions.iloc[0]  # the 12 source columns; one-hot groups summed
print("row 0, top 3:", first.abs().sort_values(ascending=False).index[:3].tolist())
gap = explanation.f_input[0] - explanation.f_baseline[0]
print(f"row 0: sum {first.sum():.4f}, F(x) - F(x') {gap:.4f}, delta {explanation.delta[0]:+.4f}")

task = TabularTask(target=">50K")
over_60 = ("over 60", lambda frame: frame["age"] > 60)
train = explain_dataset(
    load_adult("train").head(4000), task, f"{jobs}/train", cohorts=["sex", over_60]
)
serving = explain_dataset(
    load_adult("test").head(4000), task, f"{jobs}/serving", cohorts=["sex", over_60]
)
print("top features:", list(train.summary.features.ranking()[:4]))
print("cohorts:", sorted(train.summary.cohorts))
report = compare(train.summary, serving.summary)  # or the two job directories
print("drift:", report.flagged or "none", f"(nDCG {report.ndcg:.3f})")
