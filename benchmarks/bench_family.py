"""Which one to trust: the IG family scored by faithfulness metrics on photos, tables and text.

For each attribution method × baseline, on the sample photos (the embedded EfficientNet-Lite0,
224 × 224), held-out Adult rows (the embedded MLP) and held-out Rotten Tomatoes sentences (the
embedded MiniLM classifier, the path through the word embeddings), it measures: seconds and
gradient evaluations per example, the median relative completeness gap, deletion and insertion
AUC, ROAD (MoRF) and max-sensitivity. F is the predicted class's softmax probability
everywhere. Torch is pinned to one thread (here, not only by ``OMP_NUM_THREADS``), so the
timings are ratios within one run. Writes ``docs/benchmarks-family.md`` (tables, and a text
whose sentences are generated from this run's numbers), ``docs/benchmarks-family.json`` (raw
numbers, per example) and ``docs/images/family-benchmark.png``.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_family.py          # ~13 min on 2 cores
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_family.py --quick  # ~35 s smoke run
    .venv/bin/python benchmarks/bench_family.py --report-only  # page + figure from the JSON

Gradient evaluations are counted by a forward hook on the model: rows that pass through it with
autograd on (each is followed by a backward pass) and rows without (forward-only: completeness
checks, IDGI's step outputs). Methods a modality cannot take are rows marked n/a, with why.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import torch

import intgrad
from intgrad import metrics
from intgrad.family.expected import expected_gradients
from intgrad.family.guided import guided_ig
from intgrad.family.idgi import idgi
from intgrad.family.noise import noise_tunnel

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "benchmarks-family.md"
RAW = ROOT / "docs" / "benchmarks-family.json"
FIGURE = ROOT / "docs" / "images" / "family-benchmark.png"
MODALITIES = ("photos", "adult", "text")
TITLES = {"photos": "Photos", "adult": "Adult rows", "text": "Sentences"}
SEED = 0


@dataclass(frozen=True)
class Settings:
    """Sizes of one run; :data:`QUICK` is the smoke run."""

    photos: int = 4
    photo_steps: int = 32
    smooth_samples: int = 8  # SmoothGrad on photos: noisy copies × IG steps each
    smooth_steps: int = 8
    eg_samples: int = 32
    blur_steps: int | str = "auto"
    photo_curve_steps: int = 20  # deletion/insertion points − 1 (tables: one column a point)
    text_curve_steps: int = 10
    road_photos: int = 4
    road_percentages: tuple[float, ...] = (0.1, 0.5, 0.9)
    sensitivity_photos: int = 4
    sensitivity_samples: int = 2
    radius: float = 0.02
    rows: int = 200
    table_steps: int = 32
    table_smooth_samples: int = 16
    table_noise: float = 0.15
    background_rows: int = 256
    table_sensitivity_samples: int = 10
    sentences: int = 40
    text_steps: int = 32
    texts_per_group: int = 8
    text_road_percentages: tuple[float, ...] = (0.1, 0.3, 0.5)
    text_sensitivity_samples: int = 2


QUICK = Settings(
    photos=1,
    photo_steps=4,
    smooth_samples=2,
    smooth_steps=2,
    eg_samples=4,
    blur_steps=4,
    photo_curve_steps=4,
    text_curve_steps=4,
    road_photos=1,
    road_percentages=(0.1, 0.5),
    sensitivity_samples=1,
    rows=20,
    table_steps=8,
    table_smooth_samples=2,
    background_rows=32,
    table_sensitivity_samples=1,
    sentences=4,
    text_steps=4,
    text_road_percentages=(0.1, 0.5),
    text_sensitivity_samples=1,
)


# --- counting and timing -------------------------------------------------------------------


class Counter:
    """Rows through a module's forward pass, with autograd on (gradient rows) and off."""

    def __init__(self, module: torch.nn.Module) -> None:
        self.gradient_rows = self.forward_rows = 0
        module.register_forward_hook(self._hook)

    def _hook(self, module: Any, args: Any, output: Any) -> None:
        logits = getattr(output, "logits", output)
        if isinstance(logits, (tuple, list)):
            logits = logits[0]
        rows = int(logits.shape[0])
        if torch.is_grad_enabled():
            self.gradient_rows += rows
        else:
            self.forward_rows += rows

    def reset(self) -> None:
        self.gradient_rows = self.forward_rows = 0


@dataclass
class Cost:
    """Seconds and model rows of the attribution calls of one method, summed."""

    seconds: float = 0.0
    gradient_rows: int = 0
    forward_rows: int = 0
    examples: int = 0
    reported_steps: list[float] = field(default_factory=list)

    def per_example(self) -> dict[str, float]:
        return {
            "seconds": self.seconds / self.examples,
            "gradients": self.gradient_rows / self.examples,
            "forwards": self.forward_rows / self.examples,
            "reported_steps": float(np.mean(self.reported_steps)) if self.reported_steps else 0,
        }


def timed(counter: Counter, cost: Cost, examples: int, call: Callable[[], Any]) -> Any:
    """``call()``, its time and the rows it sent through the model added to ``cost``."""
    counter.reset()
    started = time.perf_counter()
    value = call()
    cost.seconds += time.perf_counter() - started
    cost.gradient_rows += counter.gradient_rows
    cost.forward_rows += counter.forward_rows
    cost.examples += examples
    return value


def reported_steps(result: intgrad.Attribution) -> float:
    """The result's own count of gradient evaluations per example (mean over examples)."""
    per = result.steps_per_example
    return float(np.mean(per)) if per is not None else float(result.steps)


def gaps(result: intgrad.Attribution) -> np.ndarray:
    """Per example |Σφ − (F(x) − F(x′))| / |F(x) − F(x′)|."""
    return np.asarray(metrics.completeness(result).relative, dtype=np.float64)


def host(values: Any) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        return values.detach().cpu().double().numpy()
    return np.asarray(values, dtype=np.float64)


def sensitivity(
    explain_block: Callable[[np.ndarray], np.ndarray],
    inputs: np.ndarray,
    attributions: np.ndarray | None,
    samples: int,
    radius: float,
) -> np.ndarray:
    """Max-sensitivity per example; every perturbed copy is explained as its own batch of the
    same examples, so seeded methods draw the same noise for a copy as for the original."""
    examples = len(inputs)

    def explain(z: Any, **_: Any) -> np.ndarray:
        z = np.asarray(z, dtype=inputs.dtype)
        return np.concatenate(
            [explain_block(z[i : i + examples]) for i in range(0, len(z), examples)]
        )

    found = metrics.max_sensitivity(
        explain, inputs, attributions, radius=radius, samples=samples, samples_per_call=1, seed=SEED
    )
    return np.asarray(found.values, dtype=np.float64)


@dataclass
class Row:
    """One method × baseline on one modality: its cost and its per-example metrics."""

    modality: str
    method: str
    baseline: str
    applies: bool = True
    reason: str = ""
    note: str = ""  # what the completeness gap is measured against, where it differs from IG's
    cost: dict[str, float] = field(default_factory=dict)
    values: dict[str, list[float]] = field(default_factory=dict)  # metric → per example
    curves: dict[str, list[float]] = field(default_factory=dict)  # metric → mean curve

    @property
    def label(self) -> str:
        return f"{self.method} ({self.baseline})" if self.baseline else self.method

    def mean(self, metric: str) -> float | None:
        values = self.values.get(metric)
        if not values:
            return None
        if metric == "completeness":
            return float(np.median(values))
        return float(np.mean(values))

    def se(self, metric: str) -> float | None:
        values = self.values.get(metric)
        if not values or len(values) < 2 or metric == "completeness":
            return None
        return float(np.std(values, ddof=1) / np.sqrt(len(values)))


def not_applicable(modality: str, method: str, reason: str) -> Row:
    return Row(modality, method, "", applies=False, reason=reason)


def curve_values(name: str, curve: Any) -> np.ndarray:
    """Per example: the area under a deletion/insertion curve, ROAD's mean over its
    percentages."""
    return np.asarray(curve.scores.mean(axis=1) if name == "road" else curve.auc)


def add_curves(row: Row, found: dict[str, Any]) -> Row:
    """Per-example areas (deletion, insertion, ROAD's mean over its percentages) into ``row``."""
    for name, curve in found.items():
        row.values[name] = curve_values(name, curve).tolist()
        row.curves[name] = curve.mean_scores.tolist()
    return row


# --- photos --------------------------------------------------------------------------------


class ChannelsLast(torch.nn.Module):
    """The classifier on (examples, height, width, 3) photos, the layout the metrics use."""

    def __init__(self, module: torch.nn.Module) -> None:
        super().__init__()
        self.module = module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.module(x.permute(0, 3, 1, 2))


@dataclass(frozen=True)
class PhotoSpec:
    method: str
    baseline: str
    name: str  # the CLI name (intgrad.images.methods.IMAGE_ATTRIBUTIONS)
    start: str  # the baseline for intgrad.images.baseline_images (ignored where not used)
    steps: int | str
    options: dict[str, Any] = field(default_factory=dict)
    note: str = ""


STARTS = ("black", "white", "blur")
"""The photo baselines every method that takes one runs from (IG also from uniform noise)."""


def photo_specs(s: Settings) -> list[PhotoSpec]:
    steps = s.photo_steps
    return [
        *(PhotoSpec("IG", start, "ig", start, steps) for start in STARTS),
        PhotoSpec("IG", "uniform", "ig", "uniform", steps),
        PhotoSpec(
            "SmoothGrad(IG)",
            "black",
            "smoothgrad",
            "black",
            s.smooth_steps,
            {"samples": s.smooth_samples},
            "mean over the noisy copies",
        ),
        PhotoSpec(
            "Expected Gradients",
            "sample photos",
            "expected-gradients",
            "black",
            steps,
            {"samples": s.eg_samples},
            "Monte Carlo: against the drawn references' mean F",
        ),
        PhotoSpec("Blur IG", "blur σ=50", "blur-ig", "black", s.blur_steps),
        *(PhotoSpec("Guided IG", start, "guided-ig", start, steps) for start in STARTS),
        *(PhotoSpec("IDGI", start, "idgi", start, steps) for start in STARTS),
        PhotoSpec("XRAI", "IG black+white", "xrai", "black", steps),
    ]


@dataclass
class Photos:
    names: tuple[str, ...]
    pixels: np.ndarray  # (photos, 224, 224, 3) float32 in [0, 1]
    targets: list[int]
    module: torch.nn.Module  # channels first
    session: intgrad.Explainer  # of ``module``'s probability, what ``attribute_photos`` runs on
    explainer: intgrad.Explainer  # channels last, for the metrics
    counter: Counter


def load_photos(s: Settings) -> Photos:
    from intgrad.images import (
        load_image_model,
        load_sample,
        prepare_image,
        sample_names,
        top_k_predictions,
    )

    model = load_image_model()
    names = tuple(sample_names())[: s.photos]
    pixels = np.stack([prepare_image(load_sample(n), model.input_size)[0] for n in names])
    targets = [p[0].index for p in top_k_predictions(model, pixels, 1)]
    module = model.module.eval()
    explainer = intgrad.Explainer(ChannelsLast(module).eval(), output="probability")
    session = intgrad.Explainer(module, output="probability")
    return Photos(names, pixels, targets, module, session, explainer, Counter(module))


def photo_attribute(photos: Photos, spec: PhotoSpec, pixels: np.ndarray) -> Any:
    """``attribute_photos`` on the first ``len(pixels)`` photos' targets."""
    from intgrad.images import baseline_images
    from intgrad.images.methods import attribute_photos

    baselines, described = baseline_images(spec.start, pixels, seed=SEED)
    return attribute_photos(
        spec.name,
        photos.session,
        lambda a: torch.from_numpy(np.ascontiguousarray(a.transpose(0, 3, 1, 2))),
        lambda t: t.detach().cpu().numpy().transpose(0, 2, 3, 1),
        pixels,
        baselines,
        described,
        photos.targets[: len(pixels)],
        options=spec.options,
        steps=spec.steps,
        seed=SEED,
    )


def photo_metrics(photos: Photos, attributions: np.ndarray, s: Settings) -> dict[str, Any]:
    x, k = torch.from_numpy(photos.pixels), s.road_photos
    curve = {"steps": s.photo_curve_steps, "perturbation": "black", "features": "pixels"}
    return {
        "deletion": metrics.deletion(
            photos.explainer, x, attributions, **curve, target=photos.targets
        ),
        "insertion": metrics.insertion(
            photos.explainer, x, attributions, **curve, target=photos.targets
        ),
        "road": metrics.road(
            photos.explainer,
            x[:k],
            attributions[:k],
            percentages=s.road_percentages,
            target=photos.targets[:k],
            seed=SEED,
        ),
    }


def photo_row(photos: Photos, spec: PhotoSpec, s: Settings) -> Row:
    cost = Cost()
    found = timed(
        photos.counter,
        cost,
        len(photos.pixels),
        lambda: photo_attribute(photos, spec, photos.pixels),
    )
    cost.reported_steps.append(reported_steps(found.result))
    row = Row("photos", spec.method, spec.baseline, note=spec.note)
    if spec.name != "xrai":  # XRAI's region map is a ranking, not an additive attribution
        row.values["completeness"] = gaps(found.result).tolist()
    add_curves(row, photo_metrics(photos, found.attributions, s))
    k = s.sensitivity_photos
    row.values["sensitivity"] = sensitivity(
        # Clipped to [0, 1] (still within the radius): photos outside it are not photos, and
        # XRAI's segmentation refuses them.
        lambda z: photo_attribute(photos, spec, np.clip(z, 0.0, 1.0)).attributions,
        photos.pixels[:k],
        None,  # recomputed on the subset alone, with the same seed as its perturbed copies
        s.sensitivity_samples,
        s.radius,
    ).tolist()
    row.cost = cost.per_example()
    return row


def random_row(modality: str, shape: tuple[int, ...], score: Callable[[np.ndarray], Any]) -> Row:
    """Uniformly random attributions: the chance level of every perturbation metric."""
    values = np.random.default_rng(SEED).random(shape).astype(np.float32)
    return add_curves(Row(modality, "random order", "", note="chance level"), score(values))


def run_photos(s: Settings) -> list[Row]:
    photos = load_photos(s)
    warm = PhotoSpec("IG", "black", "ig", "black", 2)
    photo_attribute(photos, warm, photos.pixels[:1])  # the first call pays for set-up
    rows = []
    for spec in photo_specs(s):
        rows.append(photo_row(photos, spec, s))
        print(f"photos: {rows[-1].label} done ({rows[-1].cost['seconds']:.1f} s/photo)", flush=True)
    rows.append(random_row("photos", photos.pixels.shape, lambda a: photo_metrics(photos, a, s)))
    return rows


# --- Adult rows ------------------------------------------------------------------------------


@dataclass
class Table:
    x: torch.Tensor  # (rows, encoded columns) float32
    targets: np.ndarray
    median: torch.Tensor  # (1, encoded columns)
    mean: np.ndarray  # (encoded columns,): the training mean, frequencies for one-hot groups
    background: torch.Tensor  # (background rows, encoded columns)
    features: np.ndarray  # (encoded columns,): one feature per source column
    explainer: intgrad.Explainer
    counter: Counter


def load_table(s: Settings) -> Table:
    from intgrad.tabular import TabularExplainer, load_adult, load_tabular_model, resolve_baseline

    model = load_tabular_model()
    schema, module = model.schema, model.module.eval()
    test, train = load_adult("test"), load_adult("train")
    rng = np.random.default_rng(SEED)
    chosen = np.sort(rng.choice(len(test), size=s.rows, replace=False))
    drawn = np.sort(rng.choice(len(train), size=s.background_rows, replace=False))
    x = torch.from_numpy(schema.encode(test.iloc[chosen]))
    with torch.no_grad():
        targets = module(x).argmax(1).numpy()
    training = TabularExplainer(model).background()
    median = resolve_baseline("median", schema, training).references
    mean = resolve_baseline("mean", schema, training).references[0]
    return Table(
        x=x,
        targets=targets,
        median=torch.from_numpy(median),
        mean=mean,
        background=torch.from_numpy(schema.encode(train.iloc[drawn])),
        features=metrics.column_features(schema.width, schema.groups),
        explainer=intgrad.Explainer(module, output="probability"),
        counter=Counter(module),
    )


TableMethod = tuple[str, str, str, Callable[[torch.Tensor, np.ndarray], Any]]
"""(method, baseline, completeness note, call(inputs, targets) → Attribution)."""


def table_methods(t: Table, s: Settings) -> list[TableMethod]:
    ex, steps = t.explainer, s.table_steps
    zeros = torch.zeros_like(t.median)
    found: list[TableMethod] = [
        (
            "IG",
            "median",
            "",
            lambda x, y: ex.attribute(x, baselines=t.median, target=y, steps=steps),
        ),
        ("IG", "zeros", "", lambda x, y: ex.attribute(x, baselines=zeros, target=y, steps=steps)),
        (
            "Expected Gradients",
            f"{s.background_rows} training rows",
            "Monte Carlo: against the drawn references' mean F",
            lambda x, y: expected_gradients(
                ex, x, background=t.background, samples=steps, target=y, seed=SEED
            ),
        ),
    ]

    def from_start(name: str, b: torch.Tensor) -> list[TableMethod]:
        def smooth(x: torch.Tensor, y: np.ndarray) -> Any:
            return noise_tunnel(
                ex,
                x,
                attribution="integrated_gradients",
                samples=s.table_smooth_samples,
                stdev=s.table_noise,
                noise="absolute",
                seed=SEED,
                target=y,
                baselines=b,
                steps=steps,
            )

        def guided(x: torch.Tensor, y: np.ndarray) -> Any:
            return guided_ig(ex, x, baselines=b, target=y, steps=steps)

        def reweighted(x: torch.Tensor, y: np.ndarray) -> Any:
            return idgi(ex, x, baselines=b, target=y, steps=steps)

        return [
            ("SmoothGrad(IG)", name, "mean over the noisy copies", smooth),
            ("Guided IG", name, "", guided),
            ("IDGI", name, "", reweighted),
        ]

    found += from_start("median", t.median) + from_start("zeros", zeros)
    first = {method: i for i, method in enumerate(dict.fromkeys(f[0] for f in found))}
    return sorted(found, key=lambda f: first[f[0]])  # each method's baselines together


def table_metrics(t: Table, attributions: Any) -> dict[str, Any]:
    curve = {
        "steps": int(t.features.max()) + 1,
        "perturbation": "mean",
        "mean": t.mean,
        "features": t.features,
        "target": t.targets,
    }
    return {
        "deletion": metrics.deletion(t.explainer, t.x, attributions, **curve),
        "insertion": metrics.insertion(t.explainer, t.x, attributions, **curve),
        "road": metrics.road(
            t.explainer, t.x, attributions, mean=t.mean, features=t.features, target=t.targets
        ),
    }


def table_row(
    t: Table, s: Settings, method: str, baseline: str, note: str, call: Callable[..., Any]
) -> Row:
    cost = Cost()
    result = timed(t.counter, cost, len(t.x), lambda: call(t.x, t.targets))
    cost.reported_steps.append(reported_steps(result))
    row = Row("adult", method, baseline, note=note)
    row.values["completeness"] = gaps(result).tolist()
    add_curves(row, table_metrics(t, result))
    row.values["sensitivity"] = sensitivity(
        lambda z: host(call(torch.from_numpy(z), t.targets).attributions),
        t.x.numpy(),
        host(result.attributions),  # the same call, batch and seed as each block's
        s.table_sensitivity_samples,
        s.radius,
    ).tolist()
    row.cost = cost.per_example()
    return row


def run_adult(s: Settings) -> list[Row]:
    t = load_table(s)
    t.explainer.attribute(t.x[:2], baselines=t.median, target=t.targets[:2], steps=2)  # set-up
    rows = []
    for method, baseline, note, call in table_methods(t, s):
        rows.append(table_row(t, s, method, baseline, note, call))
        print(f"adult: {rows[-1].label} done", flush=True)
    rows.append(random_row("adult", tuple(t.x.shape), lambda a: table_metrics(t, a)))
    rows += [
        not_applicable("adult", "Blur IG", "blurs images along their height and width"),
        not_applicable("adult", "XRAI", "segments images into regions"),
    ]
    return rows


# --- sentences -------------------------------------------------------------------------------


@dataclass
class Group:
    """Sentences padded together, as the text explainer groups them."""

    ids: torch.Tensor  # (texts, tokens) int64
    extras: tuple[torch.Tensor, ...]  # attention mask, token types
    features: np.ndarray  # (texts, tokens): token positions, −1 for special tokens and padding
    targets: np.ndarray
    starts: dict[str, dict[str, torch.Tensor]]  # baseline → attribute() baseline arguments


@dataclass
class Text:
    groups: list[Group]
    explainer: intgrad.Explainer  # the path through the word embeddings
    mask_id: int
    counter: Counter


def load_text(s: Settings) -> Text:
    from intgrad.text import TEXT_BASELINES, load_text_model, rotten_tomatoes
    from intgrad.text._calls import ModelCall, model_call
    from intgrad.text.baselines import baseline_ids, baseline_policy, explained_positions
    from intgrad.text.encode import encode_text, pad_batch, pad_token_id
    from intgrad.text.predict import length_groups

    model = load_text_model()
    module, tokenizer = model.module.eval(), model.tokenizer
    texts = [t.text for t in rotten_tomatoes("test")[: s.sentences]]
    encoded = [encode_text(t, tokenizer, model.max_tokens) for t in texts]
    call = ModelCall(module, None)
    embeddings = module.get_input_embeddings()
    forward, groups = None, []
    for members in length_groups(encoded, s.texts_per_group):
        batch = pad_batch([encoded[i] for i in members], pad_token_id(tokenizer), call.padding_side)
        forward = forward or model_call(module, call.present(batch))
        ids = torch.from_numpy(batch.input_ids)
        extras = tuple(torch.from_numpy(a) for a in call.extras(batch))
        with torch.no_grad():
            targets = forward(ids, *extras).argmax(-1).numpy()
        explained = explained_positions(batch, keep_special=True)
        starts: dict[str, dict[str, torch.Tensor]] = {}
        for name in TEXT_BASELINES:
            policy = baseline_policy(name, tokenizer)
            if policy.zero:  # zero word embeddings on the explained tokens
                with torch.no_grad():
                    vectors = embeddings(ids).detach().clone()
                vectors[torch.from_numpy(explained)] = 0.0
                starts[name] = {"layer_baselines": vectors}
            else:
                starts[name] = {
                    "baselines": torch.from_numpy(baseline_ids(batch, policy, explained))
                }
        features = metrics.token_features(ids, extras[0], tokenizer.all_special_ids)
        groups.append(Group(ids, extras, features, targets, starts))
    explainer = intgrad.Explainer(forward, backend="torch", layer=embeddings, output="probability")
    return Text(groups, explainer, int(tokenizer.mask_token_id), Counter(module))


def text_metrics(text: Text, group: Group, attributions: Any, s: Settings) -> dict[str, Any]:
    """Deletion, insertion and ROAD in id space: removed tokens become [MASK]."""
    where = {
        "features": group.features,
        "target": group.targets,
        "additional_forward_args": group.extras,
    }
    curve = {"steps": s.text_curve_steps, "perturbation": text.mask_id, **where}
    return {
        "deletion": metrics.deletion(text.explainer, group.ids, attributions, **curve),
        "insertion": metrics.insertion(text.explainer, group.ids, attributions, **curve),
        "road": metrics.road(
            text.explainer,
            group.ids,
            attributions,
            percentages=s.text_road_percentages,
            imputation="token",
            mask_id=text.mask_id,
            seed=SEED,
            **where,
        ),
    }


def text_call(
    text: Text,
    method: str,
    baseline: str,
    group: Group,
    steps: int,
    ids: torch.Tensor | None = None,
) -> Any:
    """``method`` on ``ids`` (default: the group's own; else copies of the group, stacked
    copy-major, whose baselines are the group's repeated: masking a content token leaves its
    baseline unchanged)."""
    ids = group.ids if ids is None else ids
    copies = len(ids) // len(group.ids)
    start = {k: v.repeat(copies, *([1] * (v.dim() - 1))) for k, v in group.starts[baseline].items()}
    extras = tuple(e.repeat(copies, *([1] * (e.dim() - 1))) for e in group.extras)
    common = {
        "target": np.tile(group.targets, copies),
        "additional_forward_args": extras,
        "steps": steps,
    }
    if method == "IDGI":
        return idgi(text.explainer, ids, **start, **common)
    return text.explainer.attribute(ids, **start, **common)


def text_sensitivity(
    text: Text, s: Settings, method: str, baseline: str, group: Group, attributions: Any
) -> np.ndarray:
    """Max-sensitivity in id space: each sample masks one random content token."""
    found = metrics.max_sensitivity(
        lambda ids, **_: text_call(text, method, baseline, group, s.text_steps, ids),
        group.ids,
        attributions,
        mask_id=text.mask_id,
        tokens=1,
        samples=s.text_sensitivity_samples,
        features=group.features,
        target=group.targets,
        additional_forward_args=group.extras,
        samples_per_call=1,
        seed=SEED,
    )
    return np.asarray(found.values, dtype=np.float64)


def merge_groups(row: Row, found: list[dict[str, Any]]) -> Row:
    """Per-example values of every group, in group order; curves weighted by group size."""
    for name in found[0]:
        row.values[name] = np.concatenate([curve_values(name, f[name]) for f in found]).tolist()
        stacked = np.concatenate([f[name].scores for f in found])
        row.curves[name] = stacked.mean(axis=0).tolist()
    return row


def text_row(text: Text, s: Settings, method: str, baseline: str) -> Row:
    cost, found, completeness, moved = Cost(), [], [], []
    for group in text.groups:
        result = timed(
            text.counter,
            cost,
            len(group.ids),
            lambda: text_call(text, method, baseline, group, s.text_steps),  # noqa: B023
        )
        cost.reported_steps.extend([reported_steps(result)] * len(group.ids))
        completeness.append(gaps(result))
        found.append(text_metrics(text, group, result, s))
        moved.append(text_sensitivity(text, s, method, baseline, group, result))
    row = merge_groups(Row("text", method, baseline), found)
    row.values["completeness"] = np.concatenate(completeness).tolist()
    row.values["sensitivity"] = np.concatenate(moved).tolist()
    row.cost = cost.per_example()
    return row


def run_text(s: Settings) -> list[Row]:
    from intgrad.text import TEXT_BASELINES

    text = load_text(s)
    text_call(text, "IG", "pad", text.groups[0], 2)  # the first call pays for set-up
    rows = []
    for method, baseline in [(m, b) for m in ("IG", "IDGI") for b in TEXT_BASELINES]:
        rows.append(text_row(text, s, method, baseline))
        print(f"text: {rows[-1].label} done", flush=True)
    rng = np.random.default_rng(SEED)
    chance = [text_metrics(text, g, rng.random(tuple(g.ids.shape)), s) for g in text.groups]
    rows.append(merge_groups(Row("text", "random order", "", note="chance level"), chance))
    rows += [
        not_applicable(
            "text",
            "SmoothGrad(IG)",
            "its noise is added to the inputs, and token ids are integers (the noise tunnel "
            "refuses them); it has no option to add it to the embeddings",
        ),
        not_applicable(
            "text",
            "Expected Gradients",
            "needs one background of inputs shaped like every example; sentences differ in "
            "length and in where their special tokens sit",
        ),
        not_applicable("text", "Guided IG", "moves input features, and refuses an embedding layer"),
        not_applicable("text", "Blur IG", "blurs images along their height and width"),
        not_applicable("text", "XRAI", "segments images into regions"),
    ]
    return rows


# --- reading the numbers ---------------------------------------------------------------------

METRICS: dict[str, tuple[str, bool]] = {
    # name → (column header, lower is better)
    "seconds": ("s / example", True),
    "gradients": ("gradient evals / example", True),
    "forwards": ("forward-only / example", True),
    "completeness": ("completeness gap (median)", True),
    "deletion": ("deletion AUC ↓", True),
    "insertion": ("insertion AUC ↑", False),
    "road": ("ROAD MoRF ↓", True),
    "sensitivity": ("max-sensitivity ↓", True),
}
QUALITY = ("deletion", "insertion", "road", "sensitivity")
COSTS = ("seconds", "gradients", "forwards")
NAMES = {
    "deletion": "deletion AUC",
    "insertion": "insertion AUC",
    "road": "ROAD (MoRF)",
    "sensitivity": "max-sensitivity",
    "completeness": "completeness gap",
    "seconds": "time",
    "gradients": "gradient evaluations",
}


def value(row: Row, metric: str) -> float | None:
    if metric in COSTS:
        return row.cost.get(metric)
    return row.mean(metric)


def methods(rows: Sequence[Row]) -> list[Row]:
    """The rows of real methods that ran (not n/a, not the random order)."""
    return [r for r in rows if r.applies and r.method != "random order"]


def ranked(rows: Sequence[Row], metric: str) -> list[Row]:
    """Rows with a value for ``metric``, best first."""
    lower = METRICS[metric][1]
    scored = [r for r in methods(rows) if value(r, metric) is not None]
    return sorted(scored, key=lambda r: value(r, metric) * (1 if lower else -1))


def chance(rows: Sequence[Row]) -> Row | None:
    return next((r for r in rows if r.method == "random order"), None)


def fmt(number: float | None, metric: str = "") -> str:
    if number is None:
        return "—"
    if metric == "completeness":
        return f"{100 * number:.2g} %" if number < 10 else f"{number:.3g}×"
    if metric in ("gradients", "forwards"):
        return f"{number:.0f}"
    if abs(number) >= 100:
        return f"{number:.0f}"
    return f"{number:.3g}"


def cell(row: Row, metric: str, best: Row | None) -> str:
    number = value(row, metric)
    if number is None:
        return "—"
    text = fmt(number, metric)
    se = row.se(metric)
    if se is not None and metric in QUALITY:
        text += f" ± {fmt(se)}"
    return f"**{text}**" if best is row else text


def paired(a: Row, b: Row, metric: str) -> tuple[float, float, int]:
    """Mean of a − b over the examples both were scored on, its standard error, the count."""
    x, y = np.asarray(a.values[metric]), np.asarray(b.values[metric])
    difference = x - y
    n = difference.size
    se = float(difference.std(ddof=1) / np.sqrt(n)) if n > 1 else float("nan")
    return float(difference.mean()), se, n


def spearman(rows: Sequence[Row], first: str, second: str) -> float | None:
    """Rank correlation over methods of "better on ``first``" and "better on ``second``"."""
    from scipy.stats import spearmanr

    both = [
        r for r in methods(rows) if value(r, first) is not None and value(r, second) is not None
    ]
    if len(both) < 3:
        return None
    sign = {m: 1.0 if METRICS[m][1] else -1.0 for m in (first, second)}
    a = [sign[first] * value(r, first) for r in both]
    b = [sign[second] * value(r, second) for r in both]
    rho = spearmanr(a, b).statistic
    return None if np.isnan(rho) else float(rho)


def is_ig(row: Row) -> bool:
    return row.method == "IG"


def examples(rows: Sequence[Row]) -> int:
    """How many examples the deletion curves of a modality cover."""
    return max(len(r.values.get("deletion", ())) for r in rows)


def headline(results: dict[str, list[Row]]) -> list[str]:
    present = [m for m in MODALITIES if m in results]
    lines = [
        "| | " + " | ".join(f"{TITLES[m]} ({examples(results[m])})" for m in present) + " |",
        "|---|" + "---|" * len(present),
    ]
    for metric in (*QUALITY, "completeness", "seconds"):
        best, ig = [], []
        for modality in present:
            order = ranked(results[modality], metric)
            if not order:
                best.append("n/a")
                ig.append("n/a")
                continue
            best.append(f"{order[0].label}: {fmt(value(order[0], metric), metric)}")
            ig_rows = [r for r in order if is_ig(r)]
            if ig_rows:
                top = ig_rows[0]
                place = order.index(top) + 1
                ig.append(
                    f"{top.baseline}: {fmt(value(top, metric), metric)} ({place} of {len(order)})"
                )
            else:
                ig.append("n/a")
        header = METRICS[metric][0]
        lines.append(f"| best {header} | " + " | ".join(best) + " |")
        lines.append("| IG's best baseline (rank) | " + " | ".join(ig) + " |")
    return lines


def table(rows: Sequence[Row]) -> list[str]:
    columns = list(METRICS)
    best = {m: ranked(rows, m)[0] for m in columns if m != "forwards" and ranked(rows, m)}
    lines = [
        "| method | baseline | " + " | ".join(METRICS[m][0] for m in columns) + " |",
        "|---|---|" + "---|" * len(columns),
    ]
    for row in rows:
        if not row.applies:
            lines.append(f"| {row.method} | n/a | {row.reason} |" + " |" * (len(columns) - 1))
            continue
        cells = [cell(row, m, best.get(m)) for m in columns]
        lines.append(f"| {row.method} | {row.baseline or '—'} | " + " | ".join(cells) + " |")
    notes = [r for r in rows if r.note and r.method != "random order"]
    if notes:
        lines += ["", "Completeness gap: " + "; ".join(f"{r.label}: {r.note}" for r in notes) + "."]
    return lines


def clearly(difference: float, se: float) -> str:
    if np.isnan(se):
        return "one example, so no error bar"
    if abs(difference) > 2 * se:
        return "a clear difference (more than twice its standard error)"
    return "within twice its standard error, so not a clear difference"


def gap_phrase(a: Row, b: Row, metric: str) -> str:
    d, se, n = paired(a, b, metric)
    return f"{fmt(abs(d))} ± {fmt(se)} over {n} example(s): {clearly(d, se)}"


def quality_sentences(rows: Sequence[Row]) -> list[str]:
    out = []
    for metric in QUALITY:
        order = ranked(rows, metric)
        if not order:
            continue
        top, ig_rows = order[0], [r for r in order if is_ig(r)]
        name = NAMES[metric]
        text = f"{name}: best is {top.label} at {fmt(value(top, metric))}"
        if not ig_rows:
            out.append(text + ".")
        elif ig_rows[0] is top and len(order) > 1:
            runner = order[1]
            text += f", ahead of {runner.label} by {gap_phrase(top, runner, metric)}"
            family = next((r for r in order if not is_ig(r)), None)
            if family is not None and family is not runner:
                text += (
                    f"; the best of the rest of the family, {family.label}, ranks"
                    f" {order.index(family) + 1} of {len(order)}, behind by"
                    f" {gap_phrase(top, family, metric)}"
                )
            out.append(text + ".")
        elif ig_rows[0] is not top:
            ig = ig_rows[0]
            out.append(
                f"{text}; IG's best baseline, {ig.baseline} ({fmt(value(ig, metric))}), ranks"
                f" {order.index(ig) + 1} of {len(order)}, behind by {gap_phrase(top, ig, metric)}."
            )
        else:
            out.append(text + ".")
    return out


def chance_sentence(rows: Sequence[Row]) -> str | None:
    reference = chance(rows)
    if reference is None:
        return None
    scored = [r for r in methods(rows) if r.mean("deletion") is not None]
    level = {m: reference.mean(m) for m in ("deletion", "insertion")}
    assert level["deletion"] is not None and level["insertion"] is not None
    deleting = [r for r in scored if r.mean("deletion") < level["deletion"]]
    inserting = [r for r in scored if r.mean("insertion") > level["insertion"]]
    both = [r for r in deleting if r in inserting]
    text = (
        f"chance level (a random order): deletion {fmt(level['deletion'])}, insertion"
        f" {fmt(level['insertion'])}; {len(deleting)} of {len(scored)} methods beat it on"
        f" deletion, {len(inserting)} on insertion, {len(both)} on both"
    )
    if 0 < len(both) < len(scored):
        text += f" ({', '.join(r.label for r in both)})"
    return text + "."


def insertion_sentence(rows: Sequence[Row], start: str) -> str | None:
    """Where restoring features in a random order brings F back: what insertion can see."""
    reference = chance(rows)
    if reference is None or "insertion" not in reference.curves:
        return None
    curve = np.asarray(reference.curves["insertion"])
    fractions = np.linspace(0.0, 1.0, curve.size)
    half = float(fractions[np.argmax(curve >= 0.5 * curve[-1])])
    below = [
        r.label for r in methods(rows) if (r.mean("insertion") or 0) < reference.mean("insertion")
    ]
    if half < 0.5:
        return None
    restored = "all" if half >= 1 else f"{half:.0%}"
    text = (
        f"insertion from {start}: in a random order F regains half its value only when"
        f" {restored} of the features are restored, so the area mostly measures the last"
        " steps of the curve"
    )
    if below:
        text += f"; {len(below)} method(s) fall below that chance level"
    return text + "."


def cost_sentence(rows: Sequence[Row]) -> str:
    order = ranked(rows, "gradients")
    cheap, dear = order[0], order[-1]
    fewest, most = value(cheap, "gradients"), value(dear, "gradients")
    if fewest == most:
        text = (
            f"cost: every method takes {fmt(fewest, 'gradients')} gradient evaluations per example"
        )
    else:
        text = (
            f"cost: gradient evaluations per example run from {fmt(fewest, 'gradients')}"
            f" ({cheap.label}) to {fmt(most, 'gradients')} ({dear.label})"
        )
    extra = max(methods(rows), key=lambda r: r.cost["forwards"])
    text += (
        f"; {extra.label} adds the most forward-only passes"
        f" ({fmt(extra.cost['forwards'], 'forwards')} per example)"
    )
    ig = [r for r in methods(rows) if is_ig(r)]
    fast = ranked(rows, "seconds")
    if ig:
        quickest = min(r.cost["seconds"] for r in ig)
        slow = fast[-1]
        text += (
            f"; in time the slowest, {slow.label}, takes {slow.cost['seconds'] / quickest:.1f}×"
            " the fastest IG variant"
        )
    return text + "."


def completeness_sentence(rows: Sequence[Row]) -> str:
    scored = ranked(rows, "completeness")
    within = [r.label for r in scored if value(r, "completeness") <= 0.01]
    over = [
        f"{r.label} {fmt(value(r, 'completeness'), 'completeness')}"
        for r in scored
        if value(r, "completeness") > 0.01
    ]
    text = "completeness: median gap within 1 % for " + (", ".join(within) or "none")
    return text + ("; above it: " + ", ".join(over) if over else "") + "."


def agreement_sentence(rows: Sequence[Row]) -> str | None:
    pairs = [("deletion", "insertion"), ("deletion", "road"), ("insertion", "road")]
    found = [(a, b, spearman(rows, a, b)) for a, b in pairs]
    found = [(a, b, rho) for a, b, rho in found if rho is not None]
    if not found:
        return None

    def word(rho: float) -> str:
        if rho >= 0.7:
            return "largely agree"
        if rho >= 0.3:
            return "agree loosely"
        if rho > -0.3:
            return "do not agree"
        return "disagree"

    parts = [f"{NAMES[a]} and {NAMES[b]} {word(rho)} (ρ = {rho:+.2f})" for a, b, rho in found]
    return (
        "do the metrics agree on the order of the methods? Spearman over methods: "
        + "; ".join(parts)
        + "."
    )


def baseline_sentence(rows: Sequence[Row], matched: str, perturbation: str) -> str | None:
    """Whether the IG baseline equal to the metrics' perturbation wins among IG's baselines."""
    ig = [r for r in methods(rows) if is_ig(r)]
    own = next((r for r in ig if r.baseline == matched), None)
    if len(ig) < 2 or own is None:
        return None
    parts = []
    for metric in ("deletion", "insertion"):
        order = ranked(ig, metric)
        if order[0] is own:
            parts.append(
                f"on {NAMES[metric]} it is the best of IG's {len(order)} baselines, ahead of"
                f" {order[1].baseline} by {gap_phrase(own, order[1], metric)}"
            )
        else:
            parts.append(
                f"on {NAMES[metric]} it ranks {order.index(own) + 1} of {len(order)} among IG's"
                f" baselines (best: {order[0].baseline})"
            )
    return (
        f"deletion and insertion replace features by {perturbation}, the same as IG's"
        f" {matched} baseline, which can favour it: " + "; ".join(parts) + "."
    )


def is_clear(a: Row, b: Row, metric: str) -> bool:
    d, se, _ = paired(a, b, metric)
    return bool(not np.isnan(se) and abs(d) > 2 * se)


def verdict(results: dict[str, list[Row]]) -> str:
    """First places per method, how many are clear, and IG against the rest of the family."""
    wins: dict[str, int] = {}
    contests = clear = 0
    duel = {"ahead": 0, "ahead clearly": 0, "behind": 0, "behind clearly": 0}
    for rows in results.values():
        for metric in QUALITY:
            order = ranked(rows, metric)
            if not order:
                continue
            contests += 1
            wins[order[0].method] = wins.get(order[0].method, 0) + 1
            clear += len(order) > 1 and is_clear(order[0], order[1], metric)
            ig = next((r for r in order if is_ig(r)), None)
            other = next((r for r in order if not is_ig(r)), None)
            if ig is not None and other is not None:
                side = "ahead" if order.index(ig) < order.index(other) else "behind"
                duel[side] += 1
                duel[f"{side} clearly"] += is_clear(ig, other, metric)
    board = ", ".join(f"{m} {n}" for m, n in sorted(wins.items(), key=lambda kv: -kv[1]))
    top, count = max(wins.items(), key=lambda kv: kv[1])
    head = "No method wins everywhere" if count < contests else f"{top} wins every contest"
    return (
        f"{head}: of {contests} contests (modality × quality metric), first places go to"
        f" {board}; {clear} of them are clear of the runner-up (more than twice the standard"
        " error). Integrated Gradients (its best baseline) against the best other member of"
        f" the family, contest by contest: ahead in {duel['ahead']} ({duel['ahead clearly']}"
        f" clearly), behind in {duel['behind']} ({duel['behind clearly']} clearly)."
    )


MATCHED = {"photos": ("black", "black (0)"), "text": ("mask", "[MASK]")}
START = {"photos": "black", "adult": "the training mean", "text": "[MASK]"}


def findings(results: dict[str, list[Row]]) -> list[str]:
    lines = [f"- {verdict(results)}"]
    for modality, rows in results.items():
        lines.append(f"- **{TITLES[modality]}**:")
        sentences = quality_sentences(rows)
        extra = (
            chance_sentence(rows),
            insertion_sentence(rows, START[modality]),
            agreement_sentence(rows),
        )
        sentences += [s for s in extra if s]
        if modality in MATCHED:
            sentence = baseline_sentence(rows, *MATCHED[modality])
            if sentence:
                sentences.append(sentence)
        sentences += [completeness_sentence(rows), cost_sentence(rows)]
        lines += [f"  - {s[0].upper()}{s[1:]}" for s in sentences]
    return lines


# --- the page, the figure, the raw numbers -------------------------------------------------


def setup_text(s: Settings, results: dict[str, list[Row]]) -> list[str]:
    out = []
    if "photos" in results:
        smooth = s.smooth_samples * s.smooth_steps
        sensitive = (
            "every photo"
            if s.sensitivity_photos >= s.photos
            else f"the first {s.sensitivity_photos} photo(s) only"
        )
        out.append(
            f"- **Photos**: the {s.photos} sample photos (`intgrad.images.sample_names()`) fitted"
            f" to 224 × 224, the embedded EfficientNet-Lite0, each method through"
            f" `intgrad.images.methods.attribute_photos`. IG, Guided IG, IDGI: {s.photo_steps}"
            f" steps, each from a black, a white and a blurred (σ = 50) photo (IG also from"
            " uniform noise); XRAI: IG with a black and a white baseline,"
            f" {s.photo_steps} steps each;"
            f" SmoothGrad(IG): {s.smooth_samples} noisy copies (σ = 15 % of the photo's range)"
            f" × {s.smooth_steps} IG steps = {smooth} gradients, cut down from the default"
            f" 16 × {s.photo_steps} to fit the run; Expected Gradients: {s.eg_samples} samples"
            f" from the sample photos (each photo's own among them); Blur IG: `steps="
            f"{s.blur_steps!r}`, max σ = 50. Deletion and insertion:"
            f" {s.photo_curve_steps + 1} points, pixels (channels together) replaced by /"
            " restored from black (0), every photo. ROAD: noisy linear imputation, MoRF at"
            f" {', '.join(f'{p:.0%}' for p in s.road_percentages)}"
            f" of the pixels, on the first {s.road_photos} photo(s), averaged over the"
            f" percentages. Max-sensitivity: {sensitive},"
            f" {s.sensitivity_samples} perturbation(s) each (each costs a full explanation; Blur"
            " IG's adaptive steps make it the dearest), perturbed photos clipped to [0, 1]."
        )
    if "adult" in results:
        out.append(
            f"- **Adult rows**: {s.rows} rows of the test split drawn with seed {SEED}, the"
            f" embedded MLP on encoded rows, {s.table_steps} steps (Expected Gradients:"
            f" {s.table_steps} samples from {s.background_rows} training rows; SmoothGrad(IG):"
            f" {s.table_smooth_samples} copies with noise σ = {s.table_noise} in encoded units ×"
            f" {s.table_steps} IG steps). Features are the 12 source columns (a category's one-hot"
            " columns together). Deletion and insertion: one column per point, removed columns"
            " set to the training mean (a category to its frequency vector). ROAD on tables"
            " imputes the same training mean (there are no neighbours to interpolate), at 10 %,"
            " …, 90 % of the columns, so it is close to deletion by construction."
            f" Max-sensitivity: every row, {s.table_sensitivity_samples} perturbations."
        )
    if "text" in results:
        out.append(
            f"- **Sentences**: the first {s.sentences} sentences of the held-out Rotten Tomatoes"
            " test split, the embedded MiniLM sentiment classifier, the path through the word"
            f" embeddings ([CLS] and [SEP] kept), groups of at most {s.texts_per_group} similar"
            f" lengths, {s.text_steps} steps. Deletion and insertion:"
            f" {s.text_curve_steps + 1} points,"
            " tokens replaced by / restored from [MASK] (special tokens and padding never"
            " touched). ROAD in id space: the top"
            f" {', '.join(f'{p:.0%}' for p in s.text_road_percentages)} of the content tokens"
            ' replaced by [MASK] (`imputation="token"`; a token has no neighbours to'
            " interpolate, so ROAD here is deletion at a few fractions), averaged over the"
            f" percentages. Max-sensitivity in id space: {s.text_sensitivity_samples}"
            " sample(s) per sentence, each masking one random content token (the smallest"
            " change a sentence has), with the attributions compared per token."
        )
    out.append(
        f"- Max-sensitivity: the largest ‖φ(x + δ) − φ(x)‖ / ‖φ(x)‖ over uniform δ with"
        f" ‖δ‖∞ ≤ {s.radius} (photos in [0, 1] pixel units, tables in encoded units), each"
        " perturbed copy explained with the same seed as the original. Values ± are the"
        " standard error over examples; the completeness gap is |Σφ − (F(x) − F(x′))| /"
        " |F(x) − F(x′)|, median over examples. Gradient evaluations are counted at the model"
        " (rows through it with autograd on), forward-only rows are in the JSON."
    )
    return out


def write_page(results: dict[str, list[Row]], meta: dict[str, Any], s: Settings) -> None:
    lines = [
        "# Which one to trust: the IG family on photos, tables and text",
        "",
        f"Produced by `{meta['command']}` (see `benchmarks/bench_family.py`) on"
        f" {meta['machine']}, in {meta['minutes']:.1f} minutes; raw numbers in"
        " `docs/benchmarks-family.json`. F is the predicted class's probability. Times are"
        " ratios within this run (one torch thread); the sentences below are generated from"
        " this run's numbers.",
        "",
        "![Deletion AUC against insertion AUC per method](images/family-benchmark.png)",
        "",
        "## Headline",
        "",
        *headline(results),
        "",
        "## What the numbers say",
        "",
        *findings(results),
        "",
        "Samples are small (the setup below gives them), so a difference is only called clear"
        " where the paired difference over the same examples exceeds twice its standard error.",
        "",
        "## Setup",
        "",
        *setup_text(s, results),
        "",
    ]
    for modality, rows in results.items():
        lines += [f"## {TITLES[modality]}", "", *table(rows), ""]
    PAGE.write_text("\n".join(lines), encoding="utf-8")


COLOURS = {
    "IG": "tab:blue",
    "SmoothGrad(IG)": "tab:orange",
    "Expected Gradients": "tab:green",
    "Blur IG": "tab:red",
    "Guided IG": "tab:purple",
    "IDGI": "tab:brown",
    "XRAI": "tab:pink",
    "random order": "grey",
}


def plot(results: dict[str, list[Row]]) -> None:
    """Deletion AUC against insertion AUC, a panel per modality, a legend under each."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(results), figsize=(4.6 * len(results), 5.6), squeeze=False)
    for ax, (modality, rows) in zip(axes[0], results.items(), strict=True):
        shown = [r for r in rows if r.applies and r.mean("deletion") is not None]
        ig = [r for r in shown if is_ig(r)]
        for row in shown:
            marker = "x" if row.method == "random order" else "o"
            if is_ig(row):
                marker = "osD^v"[ig.index(row) % 5]
            ax.scatter(
                row.mean("deletion"),
                row.mean("insertion"),
                marker=marker,
                s=46,
                color=COLOURS.get(row.method, "black"),
                label=row.label,
                zorder=3,
            )
        ax.set_title(TITLES[modality])
        ax.set_xlabel("deletion AUC (lower is better)")
        ax.set_ylabel("insertion AUC (higher is better)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2)
    figure.suptitle("Deletion against insertion, mean over examples: better is up and to the left")
    figure.tight_layout()
    FIGURE.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(FIGURE, dpi=130)
    plt.close(figure)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        names = [
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    return (
        f"{cpu} ({os.cpu_count()} cores), 1 torch thread, Python {platform.python_version()},"
        f" torch {torch.__version__}"
    )


RUNNERS: dict[str, Callable[[Settings], list[Row]]] = {
    "photos": run_photos,
    "adult": run_adult,
    "text": run_text,
}


def publish(results: dict[str, list[Row]], meta: dict[str, Any]) -> None:
    """The page, the figure and the raw numbers of one run."""
    settings = Settings(
        **{**meta["settings"], "road_percentages": tuple(meta["settings"]["road_percentages"])}
    )
    write_page(results, meta, settings)
    plot(results)
    raw = {**meta, "rows": {m: [asdict(r) for r in rows] for m, rows in results.items()}}
    RAW.write_text(json.dumps(raw, indent=1, default=float), encoding="utf-8")
    print(PAGE.read_text(encoding="utf-8"))
    print(f"wrote {PAGE}, {RAW}, {FIGURE}; the run took {meta['minutes']:.1f} min")


def reload() -> tuple[dict[str, list[Row]], dict[str, Any]]:
    """The rows and facts of the run stored in ``docs/benchmarks-family.json``."""
    raw = json.loads(RAW.read_text(encoding="utf-8"))
    results = {m: [Row(**r) for r in rows] for m, rows in raw.pop("rows").items()}
    return results, raw


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a 1-minute smoke run")
    parser.add_argument(
        "--only", choices=MODALITIES, action="append", help="run only this modality (repeatable)"
    )
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="rewrite the page and figure from docs/benchmarks-family.json, running nothing",
    )
    args = parser.parse_args()
    if args.report_only:
        publish(*reload())
        return
    torch.set_num_threads(1)
    settings = QUICK if args.quick else Settings()
    started, load = time.perf_counter(), [os.getloadavg()[0]]
    results: dict[str, list[Row]] = {}
    seconds: dict[str, float] = {}
    for modality in args.only or MODALITIES:
        began = time.perf_counter()
        results[modality] = RUNNERS[modality](settings)
        seconds[modality] = time.perf_counter() - began
        print(f"{modality}: {seconds[modality]:.0f} s", flush=True)
    load.append(os.getloadavg()[0])
    flags = (" --quick" if args.quick else "") + "".join(f" --only {m}" for m in args.only or ())
    publish(
        results,
        {
            "command": f"OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_family.py{flags}",
            "machine": machine(),
            "minutes": (time.perf_counter() - started) / 60,
            "seconds_per_modality": seconds,
            "load_average_start_end": load,
            "settings": asdict(settings),
        },
    )


if __name__ == "__main__":
    main()
