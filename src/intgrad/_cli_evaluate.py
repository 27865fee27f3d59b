"""The ``intgrad evaluate`` command: faithfulness metrics of attributions the other commands saved.

Each RESULT is read back with what made it: the photo of an ``intgrad explain`` summary fitted
to the model as it was then (``--resize``, ``--backend``, recorded in the summary's
``settings``), the token ids of an ``intgrad text --json-file``, the rows of an ``intgrad
tabular explain`` job. The metrics of :mod:`intgrad.metrics` score them on the same model and
target: deletion and insertion curves, ROAD, infidelity, max-sensitivity (which re-runs the
recorded attribution method on perturbed inputs) and completeness. A table per result goes to
stdout, or JSON (``--json``, ``--output``); ``--plot`` draws every curve in one PNG.

Errors follow the other commands: one line on stderr. A RESULT that cannot be read as one (a
missing file, a JSON no command wrote, attributions of the wrong shape) is skipped and the
command exits with 2 at the end; a metric that fails on a RESULT gives 1. The other RESULTs are
evaluated either way.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from intgrad._cli_errors import (
    EXIT_FAILED,
    EXIT_USAGE,
    UsageError,
    positive_int,
    report_error,
    report_warning,
)

__all__ = ["METRICS", "add_evaluate_command", "run_evaluate"]

METRICS: tuple[str, ...] = (
    "deletion",
    "insertion",
    "road",
    "infidelity",
    "sensitivity",
    "completeness",
)
"""What ``--metrics`` chooses from."""

DEFAULT_METRICS = "deletion,insertion,completeness"
PERTURBATIONS: tuple[str, ...] = ("black", "blur", "mean")
DEFAULT_SAMPLES = {"infidelity": 32, "sensitivity": 5}
SENSITIVITY_RADIUS = 0.02
"""The L∞ radius of max-sensitivity's perturbations, in input units ([0, 1] pixels)."""
COMPLETENESS_TOLERANCE = 0.01
F_AGREEMENT = 1e-3
"""F(x) scored now may differ from the saved one by this much (absolute plus relative)."""

# Per metric entry: the headline number's name and what "better" means.
_BETTER: dict[str, tuple[str, str]] = {
    "deletion": ("AUC", "lower: F falls fast as the most-attributed features are removed"),
    "insertion": ("AUC", "higher: F rises fast as they are put back"),
    "road-morf": ("AUC", "lower: F falls fast as the most-attributed features are imputed"),
    "road-lerf": ("AUC", "higher: F holds while the least-attributed ones are imputed"),
    "infidelity": ("mean", "lower: Iᵀφ predicts F(x) − F(x − I) for random removals I"),
    "sensitivity": ("max", "lower: φ barely moves under input changes of ±0.02"),
    "completeness": ("|gap|", "nearer 0: Σφ − (F(x) − F(x′))"),
}
_PHOTO_BASELINE_METHODS = ("ig", "smoothgrad", "guided-ig", "idgi")
_IMAGE_DEFAULTS: dict[str, Any] = {
    "resize": "pad",
    "backend": "torch",
    "attribution_options": {},
    "tolerance": 0.01,
    "seed": 0,
}
_LOAD_ERRORS = (ValueError, TypeError, KeyError, OSError)
_RUN_ERRORS = (ValueError, TypeError, OSError, RuntimeError, ImportError)

_DESCRIPTION = """\
Score attributions saved by 'intgrad explain' ({stem}.json with {stem}-attributions.npy next
to it), 'intgrad text --json-file' or 'intgrad tabular explain' (its --output-dir) with
faithfulness metrics, on the model and target that made them:

  deletion      F as the most-attributed features are removed (RISE; AUC, lower is better)
  insertion     F as they are put back into the removed input (AUC, higher is better)
  road          ROAD's MoRF (lower) and LeRF (higher) curves, removed pixels imputed from
                their neighbours, table columns by the training mean, tokens by the removed
                token id (no noise)
  infidelity    how well the attributions predict F after random removals (lower is better);
                texts move random tokens to the baseline's token id
  sensitivity   max-sensitivity: the largest relative change of the attributions under
                perturbations of ±0.02; re-runs the attribution method recorded in the result
                on --samples perturbed copies (few by default: each is a full attribution);
                not for text (intgrad.metrics.max_sensitivity with mask_id= does it in Python)
  completeness  the gap Σφ − (F(x) − F(x′)) from the saved F values

Features are pixels (channels together), table columns (one-hot groups together) or tokens
(special tokens stay). Removed tokens become the baseline's token id ([PAD] by default).
"""


class _ResultError(Exception):
    """A RESULT that cannot be read as one: reported in one line; exit code 2 at the end."""


def _metric_list(text: str) -> tuple[str, ...]:
    """An argparse type: comma-separated metric names, each one of :data:`METRICS`."""
    names = tuple(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
    if not names:
        raise argparse.ArgumentTypeError(f"give at least one of {', '.join(METRICS)}")
    unknown = [name for name in names if name not in METRICS]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown metric {unknown[0]!r}; choose from {', '.join(METRICS)}"
        )
    return names


def add_evaluate_command(commands: Any) -> None:
    """Add the ``evaluate`` sub-command to ``commands`` (an argparse sub-parsers object)."""
    parser = commands.add_parser(
        "evaluate",
        help="score saved attributions with faithfulness metrics",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "results",
        nargs="+",
        metavar="RESULT",
        help="a {stem}.json of 'intgrad explain', a --json-file of 'intgrad text' or the "
        "--output-dir of 'intgrad tabular explain'",
    )
    parser.add_argument(
        "--metrics",
        type=_metric_list,
        default=DEFAULT_METRICS,
        help=f"comma-separated, of {', '.join(METRICS)} (default {DEFAULT_METRICS})",
    )
    parser.add_argument(
        "--steps",
        type=positive_int,
        default=20,
        help="deletion and insertion curves have STEPS + 1 points, ROAD's STEPS − 1 "
        "(1/STEPS to (STEPS − 1)/STEPS; default %(default)s)",
    )
    parser.add_argument(
        "--perturbation",
        choices=PERTURBATIONS,
        default=None,
        help="what removed pixels or columns become: black (0), blur, or mean (each photo's "
        "channel means; the training mean of tables); default black for photos, mean for tables",
    )
    parser.add_argument(
        "--samples",
        type=positive_int,
        default=None,
        help="perturbations per example: infidelity's (default 32) and sensitivity's "
        "(default 5, each re-runs the attribution method)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the random perturbations")
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    parser.add_argument(
        "--output", type=Path, metavar="FILE.json", help="also write the JSON to this file"
    )
    parser.add_argument(
        "--plot", type=Path, metavar="FILE.png", help="draw every result's curves in one PNG"
    )
    parser.add_argument("--quiet", action="store_true", help="no tables (errors still shown)")


def _check_arguments(args: argparse.Namespace) -> None:
    for option, path in (("--output", args.output), ("--plot", args.plot)):
        if path is not None and (path.is_dir() or not path.resolve().parent.is_dir()):
            raise UsageError(f"{option} {str(path)!r}: not a file in an existing directory")
    curves = {"deletion", "insertion", "road"}
    if args.plot is not None and not curves & set(args.metrics):
        raise UsageError("--plot draws curves: add deletion, insertion or road to --metrics")
    if "road" in args.metrics and args.steps < 2:
        raise UsageError(
            "road needs --steps 2 or more (its points are 1/STEPS ... (STEPS-1)/STEPS)"
        )


# --- What a RESULT holds, read back -----------------------------------------------------------


@dataclass(frozen=True)
class _Group:
    """Examples scored together, one batched model call per perturbation step.

    Attributes:
        inputs: shape (examples, ...), as the model takes them (NumPy).
        attributions: the inputs' shape, float64 (for tables, each column group's attribution
            spread evenly over its encoded columns).
        targets: shape (examples,), int64, the explained class of each example.
        features: ``"pixels"`` or a feature map of the inputs' shape.
        f_input, f_baseline, delta: shape (examples,), the saved F(x), F(x′) and gap.
        positions: shape (examples,), int64, where each example is in the RESULT.
        baselines: x′ of the inputs' shape for infidelity, or ``None``.
    """

    inputs: np.ndarray
    attributions: np.ndarray
    targets: np.ndarray
    features: Any
    f_input: np.ndarray
    f_baseline: np.ndarray
    delta: np.ndarray
    positions: np.ndarray
    baselines: np.ndarray | None = None


@dataclass
class _Loaded:
    """One RESULT, ready for the metrics.

    Attributes:
        path: the RESULT as given.
        kind: ``"image"``, ``"text"`` or ``"tabular"``.
        about: model, attribution method, ... (JSON-ready, copied to the report).
        explainer: the :class:`~intgrad.Explainer` whose ``evaluate`` is F.
        groups: the examples, in groups of one input shape.
        names: each example's name in the RESULT (a text's, a row's id), in its order.
        channel_axis: the channels' axis of the inputs, or ``None``.
        perturbation: what removed features become: a name or a token id.
        mean: the training mean of tables (``"mean"`` and ROAD), or ``None``.
        explain: re-runs the attribution on inputs of a group's layout, or ``None``.
        skipped: metric → why it does not apply to this RESULT.
        saved_fx: whether the saved ``f_input`` is F(x) (SmoothGrad's is the mean over its
            noisy copies), so that F(x) scored now must agree with it.
    """

    path: str
    kind: str
    about: dict[str, Any]
    explainer: Any
    groups: list[_Group]
    names: list[str]
    channel_axis: int | None
    perturbation: Any
    mean: np.ndarray | None = None
    explain: Callable[..., Any] | None = None
    skipped: dict[str, str] = field(default_factory=dict)
    saved_fx: bool = True


class _Models:
    """Models loaded once per command, however many RESULTs use them."""

    def __init__(self) -> None:
        self._loaded: dict[tuple[str, ...], Any] = {}

    def get(self, key: tuple[str, ...], load: Callable[[], Any]) -> Any:
        if key not in self._loaded:
            self._loaded[key] = load()
        return self._loaded[key]


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise _ResultError("not a JSON file (not UTF-8 text)") from None
    except json.JSONDecodeError as error:
        raise _ResultError(f"not a JSON file ({error.msg} at line {error.lineno})") from None


def _is_image_summary(document: Any) -> bool:
    keys = {"image", "model", "target", "f_input", "f_baseline"}
    return isinstance(document, dict) and keys <= set(document)


def _is_text_list(document: Any) -> bool:
    return (
        isinstance(document, list)
        and bool(document)
        and all(isinstance(t, dict) and {"tokens", "target", "model"} <= set(t) for t in document)
    )


def _load(text: str, args: argparse.Namespace, models: _Models) -> _Loaded:
    """Read one RESULT: detect its kind from its content and load what scoring it needs."""
    path = Path(text)
    if path.is_dir():
        return _load_table(text, path, args, models)
    if not path.is_file():
        raise _ResultError("no such file or directory")
    document = _read_json(path)
    if isinstance(document, dict) and str(document.get("format", "")).startswith(
        "intgrad-dataset-job"
    ):
        return _load_table(text, path.parent, args, models)
    if _is_image_summary(document):
        return _load_image(text, path, document, args, models)
    if _is_text_list(document):
        return _load_text(text, document, args, models)
    if isinstance(document, list) and not document:
        raise _ResultError("an empty list: an 'intgrad text --json-file' with no texts")
    raise _ResultError(
        "not an intgrad result: expected the {stem}.json of 'intgrad explain', the "
        "--json-file of 'intgrad text' or the --output-dir of 'intgrad tabular explain'"
    )


def _target(value: Any, classes: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < max(classes, 1):
        raise _ResultError(f"target {value!r} is not a class index of the model's {classes}")
    return value


def _f_values(summary: dict[str, Any]) -> tuple[float, float, float]:
    """The saved F(x), F(x′) and gap (NaN where the JSON has null)."""

    def number(key: str) -> float:
        value = summary.get(key)
        return np.nan if value is None else float(value)

    return number("f_input"), number("f_baseline"), number("delta")


# --- Photos: the summary and attributions of 'intgrad explain' -----------------------------------


def _image_settings(summary: dict[str, Any]) -> dict[str, Any]:
    """How the photo was read and attributed; a summary without ``settings`` had the defaults."""
    recorded = summary.get("settings")
    fallback = {
        "attribution": "ig" if summary.get("attribution") == "integrated_gradients" else None,
        "baseline": summary.get("baseline", "black"),
        "steps": summary.get("steps", 50),
        "method": summary.get("method") if summary.get("method") != "auto" else None,
    }
    if recorded is not None and not isinstance(recorded, dict):
        raise _ResultError("its 'settings' is not a JSON object")
    return {**_IMAGE_DEFAULTS, **fallback, **(recorded or {})}


def _photo(name: str, source: str | None, size: tuple[int, int], resize: str) -> np.ndarray:
    """The photo fitted to ``size`` as ``intgrad explain`` fitted it: (height, width, 3)."""
    from intgrad.images import load_sample, prepare_image, sample_names

    is_sample = source == "sample" or (source is None and not Path(name).is_file())
    if is_sample:
        if name not in sample_names():
            raise _ResultError(f"its photo {name!r} is neither a sample nor a file")
        image: Any = load_sample(name)
    elif not Path(name).is_file():
        raise _ResultError(
            f"its photo {name!r} is not found (a path is read from the current directory)"
        )
    else:
        image = name
    pixels, _ = prepare_image(image, size, resize)
    return pixels


def _attributions_file(path: Path, shape: tuple[int, ...]) -> np.ndarray:
    """``{stem}-attributions.npy`` next to ``{stem}.json``, checked against the photo's shape."""
    stem = path.name.removesuffix(".json")
    file = path.with_name(f"{stem}-attributions.npy")
    if not file.is_file():
        raise _ResultError(f"no attributions next to it: {file.name} is missing")
    try:
        values = np.load(file, allow_pickle=False)
    except ValueError as error:
        raise _ResultError(f"{file.name} is not a NumPy array file: {error}") from None
    if values.shape != shape:
        raise _ResultError(
            f"{file.name} has shape {values.shape}, the photo fitted to the model {shape}"
        )
    return values.astype(np.float64)


def _channels_first(batch: np.ndarray, backend: str) -> np.ndarray:
    """(examples, h, w, 3) → the model's layout: channels first for PyTorch."""
    return np.ascontiguousarray(batch.transpose(0, 3, 1, 2)) if backend == "torch" else batch


def _channels_last(batch: np.ndarray, backend: str) -> np.ndarray:
    return np.ascontiguousarray(batch.transpose(0, 2, 3, 1)) if backend == "torch" else batch


def _photo_converters(backend: str) -> tuple[Callable[[np.ndarray], Any], Callable[[Any], Any]]:
    """Channels-last NumPy → the model's tensor, and back (what ``attribute_photos`` takes)."""
    if backend == "torch":
        import torch

        return (
            lambda a: torch.from_numpy(np.ascontiguousarray(a.transpose(0, 3, 1, 2))),
            lambda t: t.detach().cpu().numpy().transpose(0, 2, 3, 1),
        )
    import tensorflow as tf

    return tf.constant, lambda t: np.asarray(t.numpy())


def _photo_options(settings: dict[str, Any], size: tuple[int, int]) -> dict[str, Any]:
    """The recorded method options, with a ``background`` (its image files) read as photos of
    shape (photos, height, width, 3) fitted to ``size`` as ``intgrad explain`` fitted them."""
    options = dict(settings["attribution_options"])
    if "background" not in options:
        return options
    files = [str(file) for file in options["background"]]
    for file in files:
        if not Path(file).is_file():
            raise _ResultError(
                f"its background photo {file!r} is not found "
                "(a path is read from the current directory)"
            )
    options["background"] = np.stack([_photo(f, "file", size, settings["resize"]) for f in files])
    return options


def _photo_explain(
    session: Any, settings: dict[str, Any], options: dict[str, Any]
) -> Callable[..., np.ndarray]:
    """The recorded attribution method on photos in the model's layout (max-sensitivity),
    run on ``session``, the model's ``Explainer(module, output="probability")``, with the
    method's ``options`` (see :func:`_photo_options`)."""
    from intgrad.images import baseline_images
    from intgrad.images.methods import attribute_photos

    backend = settings["backend"]
    to_model, to_host = _photo_converters(backend)

    def explain(inputs: Any, *, target: Any, additional_forward_args: Any = None) -> np.ndarray:
        pixels = _channels_last(np.asarray(inputs, dtype=np.float32), backend)
        baselines, name = baseline_images(
            settings["baseline"], pixels, settings["seed"], settings["resize"]
        )
        photos = attribute_photos(
            settings["attribution"],
            session,
            to_model,
            to_host,
            pixels,
            baselines,
            name,
            [int(t) for t in np.atleast_1d(np.asarray(target))],
            options=options,
            steps=settings["steps"],
            method=settings["method"],
            seed=settings["seed"],
            tolerance=settings["tolerance"],
        )
        return _channels_first(photos.attributions, backend)

    return explain


def _photo_baselines(settings: dict[str, Any], pixels: np.ndarray) -> tuple[Any, str | None]:
    """x′ of the photo for infidelity (channels last), or ``None`` and why not."""
    from intgrad.images import baseline_images

    if settings["attribution"] not in _PHOTO_BASELINE_METHODS:
        method = settings["attribution"] or "the recorded method"
        return None, f"{method} has no baseline photo x′ to move features to"
    options = settings["attribution_options"]
    if options.get("inner") == "gradient" or options.get("path") == "blur":
        method = "the gradient" if options.get("inner") == "gradient" else "idgi's blur path"
        return None, f"{method} has no baseline photo x′ to move features to"
    try:
        baselines, _ = baseline_images(
            settings["baseline"], pixels[None], settings["seed"], settings["resize"]
        )
    except ValueError as error:
        return None, str(error)
    return baselines, None


def _load_image(
    text: str, path: Path, summary: dict[str, Any], args: argparse.Namespace, models: _Models
) -> _Loaded:
    from intgrad import Explainer
    from intgrad.images import load_image_model

    settings = _image_settings(summary)
    backend, spec = str(settings["backend"]), str(summary["model"])
    model = models.get(("image", spec, backend), lambda: load_image_model(spec, backend))
    # One session per model and command: the metrics and max-sensitivity's re-explanations of
    # every RESULT reuse its compiled steps.
    session = models.get(
        ("image-session", spec, backend),
        lambda: Explainer(model.module, backend=backend, output="probability"),
    )
    target = _target(summary["target"], len(model.labels))
    pixels = _photo(
        str(summary["image"]), settings.get("source"), model.input_size, settings["resize"]
    )
    attributions = _attributions_file(path, pixels.shape)
    f_input, f_baseline, delta = _f_values(summary)
    skipped: dict[str, str] = {}
    baselines = None
    if "infidelity" in args.metrics:
        baselines, reason = _photo_baselines(settings, pixels)
        if reason is not None:
            skipped["infidelity"] = reason
    if settings["attribution"] == "xrai":
        skipped["completeness"] = "XRAI's region map ranks pixels; it does not add up to ΔF"
    explain = None
    if settings["attribution"] is None:
        skipped["sensitivity"] = "the result does not record which --attribution made it"
    else:
        explain = _photo_explain(session, settings, _photo_options(settings, model.input_size))
    group = _Group(
        inputs=_channels_first(pixels[None], backend),
        attributions=_channels_first(attributions[None], backend),
        targets=np.array([target], dtype=np.int64),
        features="pixels",
        f_input=np.array([f_input]),
        f_baseline=np.array([f_baseline]),
        delta=np.array([delta]),
        positions=np.zeros(1, dtype=np.int64),
        baselines=None if baselines is None else _channels_first(baselines, backend),
    )
    return _Loaded(
        path=text,
        kind="image",
        about={
            "model": spec,
            "backend": backend,
            "attribution": settings["attribution"] or summary.get("attribution"),
            "image": summary["image"],
            "target_label": summary.get("target_label"),
        },
        explainer=session,
        groups=[group],
        names=[str(summary["image"])],
        channel_axis=1 if backend == "torch" else -1,
        perturbation=args.perturbation or "black",
        explain=explain,
        skipped=skipped,
        saved_fx=settings["attribution"] != "smoothgrad",
    )


# --- Texts: the JSON of 'intgrad text --json-file' ---------------------------------------------


def _one_of(texts: list[dict[str, Any]], key: str, default: Any) -> Any:
    values = {json.dumps(t.get(key, default)) for t in texts}
    if len(values) > 1:
        raise _ResultError(f"its texts differ in {key!r}: evaluate one file per {key}")
    return texts[0].get(key, default)


@dataclass(frozen=True)
class _Tokens:
    """One text of the JSON: its token ids, which are special, their attributions, its target."""

    ids: list[int]
    special: list[bool]
    values: list[float]
    target: int
    saved: tuple[float, float, float]


def _tokens(item: dict[str, Any], number: int, classes: int) -> _Tokens:
    tokens = item["tokens"]
    if not isinstance(tokens, list) or not tokens:
        raise _ResultError(f"text {number} has no tokens")
    try:
        ids = [int(t["id"]) for t in tokens]
        special = [bool(t.get("special", False)) for t in tokens]
        values = [float(t["attribution"]) for t in tokens]
    except (KeyError, TypeError, ValueError):
        raise _ResultError(
            f"text {number}: each token needs an 'id' and an 'attribution'"
        ) from None
    if all(special):
        raise _ResultError(f"text {number} has only special tokens: nothing to remove")
    return _Tokens(ids, special, values, _target(item["target"], classes), _f_values(item))


def _baseline_token_id(baseline: str, tokenizer: Any) -> int | None:
    """The one token id the baseline puts in place of explained tokens, or ``None``."""
    from intgrad.text.baselines import baseline_policy

    try:
        policy = baseline_policy(baseline, tokenizer)
    except (ValueError, TypeError):
        return None
    return None if policy.token_id is None else int(policy.token_id)


def _removed_token_id(baseline: str, tokenizer: Any) -> int:
    """The id removed tokens become: the baseline's own token, else [MASK], else [PAD]."""
    own = _baseline_token_id(baseline, tokenizer)
    if own is not None:
        return own
    for attribute in ("mask_token_id", "pad_token_id", "unk_token_id"):
        value = getattr(tokenizer, attribute, None)
        if isinstance(value, int):
            return value
    raise _ResultError("the tokenizer has no mask, pad or unknown token to remove tokens with")


def _text_groups(texts: list[dict[str, Any]], classes: int) -> list[_Group]:
    """Texts of one length together (no padding: F is exactly the explained one)."""
    rows = [_tokens(item, number, classes) for number, item in enumerate(texts, start=1)]
    groups = []
    for length in sorted({len(row.ids) for row in rows}):
        positions = [i for i, row in enumerate(rows) if len(row.ids) == length]
        chosen = [rows[i] for i in positions]
        specials = np.array([row.special for row in chosen], dtype=bool)
        saved = np.array([row.saved for row in chosen], dtype=np.float64)
        groups.append(
            _Group(
                inputs=np.array([row.ids for row in chosen], dtype=np.int64),
                attributions=np.array([row.values for row in chosen], dtype=np.float64),
                targets=np.array([row.target for row in chosen], dtype=np.int64),
                features=np.where(specials, -1, np.arange(length)[None, :]).astype(np.int64),
                f_input=saved[:, 0],
                f_baseline=saved[:, 1],
                delta=saved[:, 2],
                positions=np.array(positions, dtype=np.int64),
            )
        )
    return groups


def _load_text(
    text: str, texts: list[dict[str, Any]], args: argparse.Namespace, models: _Models
) -> _Loaded:
    from intgrad import Explainer
    from intgrad.text import load_text_model, model_call

    spec = str(_one_of(texts, "model", None))
    output = _one_of(texts, "output", "probability")
    baseline = str(_one_of(texts, "baseline", "pad"))
    model = models.get(("text", spec), lambda: load_text_model(spec))
    groups = _text_groups(texts, len(model.labels))
    if args.perturbation is not None:
        report_warning(f"{text}: --perturbation applies to photos and tables, not to token ids")
    token_id = _removed_token_id(baseline, model.tokenizer)
    skipped = {
        "sensitivity": "re-explaining texts is not recorded in the result: use "
        "intgrad.metrics.max_sensitivity with mask_id="
    }
    if _baseline_token_id(baseline, model.tokenizer) is None:
        skipped["infidelity"] = f"the {baseline!r} baseline has no token id to move tokens to"
    else:
        groups = [
            replace(g, baselines=np.where(g.features < 0, g.inputs, token_id)) for g in groups
        ]
    explainer = Explainer(
        model_call(model.module, ()),
        backend="torch",
        layer=model.module.get_input_embeddings(),
        output="probability" if output == "probability" else None,
    )
    return _Loaded(
        path=text,
        kind="text",
        about={"model": spec, "output": output, "baseline": baseline, "removed_token_id": token_id},
        explainer=explainer,
        groups=groups,
        names=[str(t.get("name", f"text {i + 1}")) for i, t in enumerate(texts)],
        channel_axis=None,
        perturbation=token_id,
        skipped=skipped,
    )


# --- Tables: the job directory of 'intgrad tabular explain' ------------------------------------


def _job_settings(directory: Path) -> dict[str, Any]:
    record = directory / "job.json"
    if not record.is_file():
        raise _ResultError(
            "a directory without job.json: not the --output-dir of 'intgrad tabular explain'"
        )
    job = _read_json(record)
    if not isinstance(job, dict) or not isinstance(job.get("settings"), dict):
        raise _ResultError("its job.json is not a dataset job record")
    if job.get("feature_kind") != "columns":
        raise _ResultError(
            f"holds an 'intgrad dataset' job of {job.get('feature_kind')!r} features; evaluate "
            "reads 'intgrad tabular explain' jobs (image and text jobs keep reduced maps only)"
        )
    return job["settings"]


def _explained_rows(directory: Path, columns: Sequence[str]) -> Any:
    from intgrad.datasets import DatasetResult

    frame = DatasetResult.open(directory).frame()
    wanted = [f"{p}{c}" for p in ("a:", "v:") for c in columns]
    missing = [c for c in wanted if c not in frame.columns]
    if frame.empty or missing:
        lacking = f" (no column {missing[0]!r})" if missing else ""
        raise _ResultError(f"its shards hold no rows of the model's columns{lacking}")
    explained = frame[frame["error"].isna()]
    if explained.empty:
        raise _ResultError("none of its rows was explained")
    return explained


def _spread(schema: Any) -> np.ndarray:
    """(source columns, encoded columns): each group's attribution spread evenly over it."""
    groups = schema.group_matrix()
    return np.asarray((groups / groups.sum(axis=0)).T)


def _table_explain(explainer: Any, settings: dict[str, Any]) -> Callable[..., np.ndarray]:
    """The job's attribution of encoded rows, grouped and spread as the saved ones are."""
    from intgrad.metrics import to_numpy
    from intgrad.tabular import tile_references

    baseline = explainer.baseline(settings["baseline"])
    regroup = explainer.schema.group_matrix() @ _spread(explainer.schema)

    def explain(inputs: Any, *, target: Any, additional_forward_args: Any = None) -> np.ndarray:
        rows = np.asarray(inputs, dtype=np.float32)
        count = baseline.count
        starts = baseline.references
        if count > 1:
            rows, starts = tile_references(rows, baseline.references)
        result = explainer.session.attribute(
            rows,
            baselines=starts,
            target=np.tile(np.asarray(target, dtype=np.int64).reshape(-1), count),
            steps=settings.get("steps", 32),
            method=settings.get("method"),
        )
        values = to_numpy(result.attributions).astype(np.float64)
        return np.asarray(values.reshape(count, -1, values.shape[-1]).mean(axis=0) @ regroup)

    return explain


def _load_table(text: str, directory: Path, args: argparse.Namespace, models: _Models) -> _Loaded:
    from intgrad.metrics import column_features
    from intgrad.tabular import TabularExplainer

    if args.perturbation == "blur":
        raise _ResultError("--perturbation blur applies to photos; for tables use black or mean")
    settings = _job_settings(directory)
    spec = str(settings.get("model"))
    explainer = models.get(("tabular", spec), lambda: TabularExplainer(spec))
    schema = explainer.schema
    rows = _explained_rows(directory, schema.columns)
    values = rows[[f"v:{c}" for c in schema.columns]].rename(columns=lambda c: c[2:])
    encoded = schema.encode(values)
    grouped = rows[[f"a:{c}" for c in schema.columns]].to_numpy(np.float64)
    references = explainer.baseline(settings.get("baseline", "median")).references
    group = _Group(
        inputs=encoded,
        attributions=grouped @ _spread(schema),
        targets=rows["target"].to_numpy(np.int64),
        features=column_features(schema.width, schema.groups),
        f_input=rows["f_input"].to_numpy(np.float64),
        f_baseline=rows["f_baseline"].to_numpy(np.float64),
        delta=rows["delta"].to_numpy(np.float64),
        positions=np.arange(len(rows), dtype=np.int64),
        baselines=np.broadcast_to(references.mean(axis=0), encoded.shape).astype(np.float32),
    )
    return _Loaded(
        path=text,
        kind="tabular",
        about={"model": spec, "baseline": settings.get("baseline"), "steps": settings.get("steps")},
        explainer=explainer.session,
        groups=[group],
        names=[str(i) for i in rows["id"]],
        channel_axis=None,
        perturbation=args.perturbation or "mean",
        mean=explainer.baseline("mean").references[0].astype(np.float64),
        explain=_table_explain(explainer, settings),
    )


# --- Scoring -----------------------------------------------------------------------------------


def _numbers(values: Any) -> list[float | None]:
    """Floats as JSON numbers; NaN and inf (which JSON lacks) as null."""
    return [float(v) if np.isfinite(v) else None for v in np.asarray(values, np.float64).ravel()]


def _number(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def _entry(metric: str, value: float, **details: Any) -> dict[str, Any]:
    measure, better = _BETTER[metric]
    return {"value": _number(value), "measure": measure, "better": better, **details}


def _joined(loaded: _Loaded, parts: Sequence[np.ndarray]) -> np.ndarray:
    """Per-group arrays (examples first) as one, the examples in the RESULT's order."""
    positions = np.concatenate([g.positions for g in loaded.groups])
    return np.asarray(np.concatenate(parts)[np.argsort(positions, kind="stable")])


def _curve_entry(metric: str, loaded: _Loaded, curves: list[Any]) -> dict[str, Any]:
    """One metric's curves of every group, as one entry."""
    scores = _joined(loaded, [c.scores for c in curves])
    auc = _joined(loaded, [c.auc for c in curves])
    return _entry(
        metric,
        float(auc.mean()),
        fractions=_numbers(curves[0].fractions),
        mean_scores=_numbers(scores.mean(axis=0)),
        auc=_numbers(auc),
        scores=[_numbers(row) for row in scores],
        features=[int(n) for n in _joined(loaded, [c.features for c in curves])],
        perturbation=curves[0].perturbation,
    )


def _common(loaded: _Loaded, group: _Group) -> dict[str, Any]:
    return {
        "features": group.features,
        "channel_axis": loaded.channel_axis,
        "target": group.targets,
    }


def _perturbation_curves(loaded: _Loaded, args: argparse.Namespace) -> dict[str, Any]:
    from intgrad.metrics import deletion, insertion

    out = {}
    mean = loaded.mean if loaded.perturbation == "mean" else None
    for metric, run in (("deletion", deletion), ("insertion", insertion)):
        if metric not in args.metrics:
            continue
        curves = [
            run(
                loaded.explainer,
                group.inputs,
                group.attributions,
                steps=args.steps,
                perturbation=loaded.perturbation,
                mean=mean,
                **_common(loaded, group),
            )
            for group in loaded.groups
        ]
        out[metric] = _curve_entry(metric, loaded, curves)
    return out


def _road(loaded: _Loaded, args: argparse.Namespace) -> dict[str, Any]:
    from intgrad.metrics import road

    percentages = [k / args.steps for k in range(1, args.steps)]
    out = {}
    for order in ("morf", "lerf"):
        curves = [
            road(
                loaded.explainer,
                group.inputs,
                group.attributions,
                percentages=percentages,
                order=order,
                mean=loaded.mean,
                mask_id=loaded.perturbation if loaded.kind == "text" else None,
                seed=args.seed,
                **_common(loaded, group),
            )
            for group in loaded.groups
        ]
        out[f"road-{order}"] = _curve_entry(f"road-{order}", loaded, curves)
    return out


def _infidelity(loaded: _Loaded, args: argparse.Namespace) -> dict[str, Any]:
    from intgrad.metrics import infidelity

    samples = args.samples or DEFAULT_SAMPLES["infidelity"]
    scores = [
        infidelity(
            loaded.explainer,
            group.inputs,
            group.attributions,
            samples=samples,
            baselines=group.baselines if group.baselines is not None else 0.0,
            seed=args.seed,
            **_common(loaded, group),
        )
        for group in loaded.groups
    ]
    values = _joined(loaded, [s.values for s in scores])
    return {
        "infidelity": _entry(
            "infidelity",
            float(values.mean()),
            values=_numbers(values),
            standard_error=_numbers(_joined(loaded, [s.standard_error for s in scores])),
            samples=samples,
            perturbation=scores[0].perturbation,
        )
    }


def _sensitivity(loaded: _Loaded, args: argparse.Namespace) -> dict[str, Any]:
    from intgrad.metrics import max_sensitivity

    assert loaded.explain is not None
    samples = args.samples or DEFAULT_SAMPLES["sensitivity"]
    scores = [
        max_sensitivity(
            loaded.explain,
            group.inputs,
            group.attributions,
            radius=SENSITIVITY_RADIUS,
            samples=samples,
            target=group.targets,
            seed=args.seed,
        )
        for group in loaded.groups
    ]
    values = _joined(loaded, [s.values for s in scores])
    return {
        "sensitivity": _entry(
            "sensitivity",
            float(values.mean()),
            values=_numbers(values),
            radius=SENSITIVITY_RADIUS,
            samples=samples,
            relative=True,
        )
    }


def _completeness(loaded: _Loaded, args: argparse.Namespace) -> dict[str, Any]:
    from intgrad.metrics import completeness

    checks = [
        completeness(
            group.attributions,
            group.f_input,
            group.f_baseline,
            tolerance=COMPLETENESS_TOLERANCE,
        )
        for group in loaded.groups
    ]
    gaps = _joined(loaded, [c.gaps for c in checks])
    within = _joined(loaded, [c.within for c in checks])
    return {
        "completeness": _entry(
            "completeness",
            float(np.abs(gaps).mean()),
            gaps=_numbers(gaps),
            saved_delta=_numbers(_joined(loaded, [g.delta for g in loaded.groups])),
            relative=_numbers(_joined(loaded, [c.relative for c in checks])),
            within=[bool(w) for w in within],
            tolerance=COMPLETENESS_TOLERANCE,
        )
    }


_RUNNERS: dict[str, Callable[[_Loaded, argparse.Namespace], dict[str, Any]]] = {
    "road": _road,
    "infidelity": _infidelity,
    "sensitivity": _sensitivity,
    "completeness": _completeness,
}


def _scored_now(loaded: _Loaded) -> np.ndarray:
    """F(x) of every example from the model now, and a warning when it is not the saved one."""
    now = _joined(
        loaded, [loaded.explainer.evaluate(g.inputs, target=g.targets) for g in loaded.groups]
    )
    saved = _joined(loaded, [g.f_input for g in loaded.groups])
    apart = np.abs(now - saved) > F_AGREEMENT * (1.0 + np.abs(saved))
    if loaded.saved_fx and apart.any():
        first = int(np.flatnonzero(apart)[0])
        report_warning(
            f"{loaded.path}: the model now gives F(x) = {now[first]:.6g} where the result saved "
            f"{saved[first]:.6g} ({int(apart.sum())} example(s)): not the model or input explained"
        )
    return now


def _evaluate(loaded: _Loaded, args: argparse.Namespace) -> dict[str, Any]:
    """Every metric asked for on one RESULT, as a JSON-ready report entry."""
    targets = _joined(loaded, [g.targets for g in loaded.groups])
    entry: dict[str, Any] = {
        "result": loaded.path,
        "kind": loaded.kind,
        **loaded.about,
        "examples": int(targets.size),
        "names": loaded.names,
        "targets": [int(t) for t in targets],
        "f_input": _numbers(_joined(loaded, [g.f_input for g in loaded.groups])),
        "f_input_now": _numbers(_scored_now(loaded)),
        "metrics": {},
        "skipped": {},
    }
    entry["metrics"].update(_perturbation_curves(loaded, args))
    for metric in args.metrics:
        if metric in loaded.skipped:
            entry["skipped"][metric] = loaded.skipped[metric]
        elif metric in _RUNNERS:
            entry["metrics"].update(_RUNNERS[metric](loaded, args))
    return entry


# --- Output ------------------------------------------------------------------------------------


def _shown(metric: str, details: dict[str, Any]) -> str:
    value = details["value"]
    if value is None:
        return "n/a"
    if metric == "completeness":
        return f"{value:.3g}"
    return f"{value:.4f}"


def _note(metric: str, details: dict[str, Any]) -> str:
    if metric == "completeness":
        inside = sum(details["within"])
        return (
            f"{inside}/{len(details['within'])} within {COMPLETENESS_TOLERANCE:.0%} of F(x) − F(x′)"
        )
    if "perturbation" in details:
        return str(details["perturbation"])
    samples = details["samples"]
    return f"{samples} sample{'s' if samples != 1 else ''}"


def _table(entry: dict[str, Any]) -> str:
    """The report of one result as a plain-text table."""
    count = entry["examples"]
    about = [entry["kind"], str(entry.get("model"))]
    if entry.get("attribution"):
        about.append(str(entry["attribution"]))
    if count == 1:
        label = entry.get("target_label")
        about.append(f"target {entry['targets'][0]}" + (f" ({label})" if label else ""))
    about.append(f"{count} example{'s' if count != 1 else ''}")
    lines = [f"{entry['result']}: {', '.join(about)}"]
    if count > 1:
        lines[0] += " (values are means over the examples)"
    lines.append(f"  {'metric':<20} {'value':>10}  better")
    for metric, details in entry["metrics"].items():
        name = f"{metric} {details['measure']}"
        lines.append(
            f"  {name:<20} {_shown(metric, details):>10}  {details['better']} "
            f"[{_note(metric, details)}]"
        )
    for metric, reason in entry["skipped"].items():
        lines.append(f"  {metric:<20} {'skipped':>10}  {reason}")
    return "\n".join(lines)


def _save_plot(entries: list[dict[str, Any]], path: Path) -> bool:
    """The mean curves of every result in one PNG (one panel per metric); False if none."""
    from intgrad.viz.figures import new_figure, save_figure

    panels = [
        (title, names)
        for title, names in (
            ("deletion", ("deletion",)),
            ("insertion", ("insertion",)),
            ("ROAD (MoRF solid, LeRF dashed)", ("road-morf", "road-lerf")),
        )
        if any(name in e["metrics"] for e in entries for name in names)
    ]
    if not panels:
        return False
    figure = new_figure((4.5 * len(panels), 3.6))
    axes = figure.subplots(1, len(panels), squeeze=False)[0]
    for ax, (title, names) in zip(axes, panels, strict=True):
        for number, entry in enumerate(entries):
            for name in names:
                curve = entry["metrics"].get(name)
                if curve is None:
                    continue
                ax.plot(
                    curve["fractions"],
                    curve["mean_scores"],
                    color=f"C{number % 10}",
                    linestyle="--" if name == "road-lerf" else "-",
                    marker=".",
                    label=f"{Path(entry['result']).name} (AUC {curve['value']:.3f})",
                )
        ax.set_title(title)
        ax.set_xlabel("fraction of features " + ("put back" if title == "insertion" else "removed"))
        ax.set_ylabel("F (mean over examples)")
        ax.legend(fontsize="small")
    save_figure(figure, path)
    return True


def _write_outputs(document: dict[str, Any], args: argparse.Namespace) -> None:
    from intgrad.io import atomic_write_text

    text = json.dumps(document, indent=2, ensure_ascii=False)
    if args.output is not None:
        atomic_write_text(args.output, text + "\n")
        if not (args.json or args.quiet):
            print(f"wrote {args.output}")
    if args.plot is not None and document["results"]:
        if _save_plot(document["results"], args.plot):
            if not (args.json or args.quiet):
                print(f"wrote {args.plot}")
        else:
            report_warning(f"--plot: no result has curves to draw; {args.plot} not written")
    if args.json:
        print(text)


def _failure(text: str, error: Exception, code: int) -> tuple[dict[str, Any], int]:
    """One line on stderr, and the entry of ``failures``."""
    if isinstance(error, KeyError):
        message = f"it lacks the field {error.args[0]!r}"
    else:
        lines = str(error).strip().splitlines()
        message = lines[0] if lines else type(error).__name__
    report_error(f"{text}: {message}")
    return {"result": text, "error": message}, code


def _one(text: str, args: argparse.Namespace, models: _Models) -> tuple[dict[str, Any], int]:
    """The report entry of one RESULT, or its failure, and its exit code."""
    try:
        loaded = _load(text, args, models)
    except (_ResultError, *_LOAD_ERRORS) as error:
        return _failure(text, error, EXIT_USAGE)
    except ImportError as error:
        return _failure(text, error, EXIT_FAILED)
    try:
        return _evaluate(loaded, args), 0
    except _RUN_ERRORS as error:
        return _failure(text, error, EXIT_FAILED)


def run_evaluate(args: argparse.Namespace) -> int:
    """Run ``intgrad evaluate``; returns the exit code (2 if any RESULT was unreadable, else 1
    if a metric failed on any)."""
    _check_arguments(args)
    models = _Models()
    entries: list[dict[str, Any]] = []
    failures: list[dict[str, Any]] = []
    codes = []
    for text in args.results:
        outcome, code = _one(text, args, models)
        codes.append(code)
        if code:
            failures.append(outcome)
            continue
        entries.append(outcome)
        if not (args.json or args.quiet):
            print(_table(outcome), flush=True)
    _write_outputs({"results": entries, "failures": failures}, args)
    return EXIT_USAGE if EXIT_USAGE in codes else max(codes)
