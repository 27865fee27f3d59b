"""The ``intgrad`` command: parse arguments, call the public API, write files atomically.

Every expected failure becomes one line on stderr and a non-zero exit code: 2 for bad
arguments, 1 when any image or text failed (the others are still explained), 3 when
``intgrad drift`` finds a threshold breached. ``predict``, ``explain`` and ``samples`` live
here; ``text`` in :mod:`intgrad._cli_text`, ``tabular`` and ``dataset`` in
:mod:`intgrad._cli_dataset`, ``drift`` in :mod:`intgrad._cli_drift`, ``evaluate`` (the
faithfulness metrics of saved results) in :mod:`intgrad._cli_evaluate`, ``interactions``
(Integrated Hessians of tables and texts) in :mod:`intgrad._cli_interactions`, ``app`` (the
web app) in :mod:`intgrad._cli_app`.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

from intgrad import METHODS
from intgrad._cli_errors import (
    EXIT_FAILED,
    EXIT_USAGE,
    IMAGE_SUFFIXES,
    UsageError,
    positive_float,
    positive_int,
    progress_bar,
    report_error,
)

# intgrad.images (PyTorch, Pillow) and intgrad.viz (matplotlib) are imported where used, inside
# main(), so that a missing extra is reported in one line like any other failure.


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see '{self.prog} --help')")


def _steps(text: str) -> int | str:
    return "auto" if text == "auto" else positive_int(text)


def _tolerance(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1), got {text!r}") from None
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"must be in (0, 1), got {value}")
    return value


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1], got {value}")
    return value


def _add_model_arguments(parser: argparse.ArgumentParser) -> None:
    from intgrad.images import DEFAULT_MODEL, IMAGE_BACKENDS, RESIZE_MODES, available_models

    parser.add_argument("images", nargs="*", metavar="IMAGE", help="image files to read")
    parser.add_argument(
        "--sample",
        action="append",
        default=[],
        metavar="NAME",
        help="a sample photo (see 'intgrad samples'); repeatable",
    )
    parser.add_argument(
        "--model",
        default=DEFAULT_MODEL,
        help=f"one of {', '.join(available_models())} (default %(default)s)",
    )
    parser.add_argument("--top-k", type=positive_int, default=3, help="classes to report")
    parser.add_argument(
        "--resize",
        choices=RESIZE_MODES,
        default="pad",
        help="fit photos by padding (keeps everything) or cropping (default %(default)s)",
    )
    parser.add_argument(
        "--backend",
        choices=IMAGE_BACKENDS,
        default="torch",
        help="framework to run the model in (default %(default)s); tensorflow runs the "
        "embedded model converted to Keras",
    )


def _share(text: str) -> float:
    value = positive_float(text)
    if value > 1:
        raise argparse.ArgumentTypeError(f"must be in (0, 1], got {value}")
    return value


def _one_of(text: str, choices: Sequence[str]) -> str:
    if text not in choices:
        raise argparse.ArgumentTypeError(f"expected one of {', '.join(choices)}, got {text!r}")
    return text


def _noise_kind(text: str) -> str:
    from intgrad.family.noise import KINDS

    return _one_of(text, KINDS)


def _noise_inner(text: str) -> str:
    from intgrad.images.methods import SMOOTHGRAD_INNER

    return _one_of(text, tuple(SMOOTHGRAD_INNER))


def _noise_scale(text: str) -> str:
    from intgrad.family.noise import NOISE_SCALES

    return _one_of(text, NOISE_SCALES)


def _idgi_path(text: str) -> str:
    from intgrad.family.idgi import IDGI_PATHS

    return _one_of(text, IDGI_PATHS)


def _reweighting(text: str) -> str:
    if text != "idgi":
        raise argparse.ArgumentTypeError(f"the one reweighting is 'idgi', got {text!r}")
    return text


def _scales(text: str) -> tuple[float, ...]:
    """Comma-separated numbers > 0, e.g. ``50,100,150``."""
    try:
        return tuple(positive_float(part) for part in text.split(","))
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated numbers > 0, e.g. 50,100,150; got {text!r}"
        ) from None


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


# Each option of a family member: (flag, destination, type, help, the methods it applies to).
# The destination is the option's name in intgrad.images.methods.method_options.
_ATTRIBUTION_FLAGS: tuple[tuple[str, str, Callable[[str], Any], str, tuple[str, ...]], ...] = (
    (
        "--background",
        "background",
        str,
        "Expected Gradients' references: an image file or a directory of photos; repeatable "
        "(default: the sample photos)",
        ("expected-gradients",),
    ),
    (
        "--samples",
        "samples",
        positive_int,
        "Monte Carlo samples per photo (default: 32 for expected-gradients, 16 for smoothgrad)",
        ("expected-gradients", "smoothgrad"),
    ),
    (
        "--stdev",
        "stdev",
        positive_float,
        "SmoothGrad's noise: a fraction of each photo's value range, or with --noise absolute "
        "the standard deviation in [0, 1] pixel units (default 0.15)",
        ("smoothgrad",),
    ),
    (
        "--noise",
        "noise",
        _noise_scale,
        "fraction (--stdev times each photo's range) or absolute (--stdev itself) "
        "(default fraction)",
        ("smoothgrad",),
    ),
    (
        "--noise-inner",
        "inner",
        _noise_inner,
        "the method SmoothGrad averages over noisy copies: ig (Integrated Gradients) or "
        "gradient (the classic SmoothGrad) (default ig)",
        ("smoothgrad",),
    ),
    (
        "--noise-kind",
        "kind",
        _noise_kind,
        "smoothgrad (mean), smoothgrad_sq (mean of squares) or "
        "vargrad (variance) (default smoothgrad)",
        ("smoothgrad",),
    ),
    (
        "--max-sigma",
        "max_sigma",
        positive_float,
        "the largest blur of Blur IG's path and of IDGI's with --path blur, in pixels (default 50)",
        ("blur-ig", "idgi"),
    ),
    (
        "--path",
        "path",
        _idgi_path,
        "IDGI's path: straight (from --baseline) or blur (Blur IG's) (default straight)",
        ("idgi",),
    ),
    (
        "--fraction",
        "fraction",
        _share,
        "Guided IG's share of features moved per step (default 0.25)",
        ("guided-ig",),
    ),
    (
        "--max-dist",
        "max_dist",
        _fraction,
        "how far Guided IG may stray from the straight line, in [0, 1]: 1 unbounded (the "
        "paper), 0 IG; PAIR's anchored default is 0.02 (default 1)",
        ("guided-ig",),
    ),
    (
        "--reweight",
        "reweight",
        _reweighting,
        "idgi: spread each step's change of F by the squared gradients (IDGI), so Guided IG "
        "adds up exactly",
        ("guided-ig",),
    ),
    (
        "--scales",
        "scales",
        _scales,
        "XRAI's Felzenszwalb scales, comma-separated (default 50,100,150,250,500,1200)",
        ("xrai",),
    ),
    (
        "--min-region-fraction",
        "min_region_fraction",
        _share,
        "XRAI: the smallest share of the photo's pixels a region must add, in (0, 1] "
        "(default 50 pixels at 224x224)",
        ("xrai",),
    ),
    (
        "--dilation-radius",
        "dilation_radius",
        _non_negative_int,
        "XRAI: grow every segment by a disk of this many pixels (default 5)",
        ("xrai",),
    ),
)
_REPEATABLE_FLAGS = ("background",)


def _add_attribution_arguments(parser: argparse.ArgumentParser) -> None:
    from intgrad.images.methods import IMAGE_ATTRIBUTIONS

    parser.add_argument(
        "--attribution",
        choices=IMAGE_ATTRIBUTIONS,
        default="ig",
        help="the attribution method: Integrated Gradients (default) or a member of its "
        "family (--method stays the quadrature rule)",
    )
    for flag, dest, kind, text, _ in _ATTRIBUTION_FLAGS:
        action = "append" if dest in _REPEATABLE_FLAGS else "store"
        parser.add_argument(flag, dest=dest, type=kind, default=None, action=action, help=text)


def _attribution_options(args: argparse.Namespace) -> dict[str, Any]:
    """The family options given on the command line, as JSON values (``background``: the image
    files); a flag of another method, or of another IDGI path, is refused."""
    options = {}
    for flag, dest, _, _, methods in _ATTRIBUTION_FLAGS:
        value = getattr(args, dest)
        if value is None:
            continue
        if args.attribution not in methods:
            raise UsageError(f"{flag} applies to --attribution {' or '.join(methods)}")
        options[dest] = value
    if args.attribution == "idgi" and "max_sigma" in options and options.get("path") != "blur":
        raise UsageError("--max-sigma applies to --attribution idgi with --path blur")
    if "background" in options:
        options["background"] = _background_files(options["background"])
    return options


def _background_files(entries: list[str]) -> list[str]:
    """Every image file of ``--background``: files as given, directories' photos sorted."""
    files = []
    for entry in entries:
        path = Path(entry)
        if path.is_dir():
            found = sorted(
                str(p) for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
            )
            if not found:
                raise UsageError(
                    f"--background: no images ({', '.join(IMAGE_SUFFIXES)}) in {entry!r}"
                )
            files.extend(found)
        elif path.is_file():
            files.append(entry)
        else:
            raise UsageError(f"--background: {entry!r} is neither an image file nor a directory")
    return files


def _method_inputs(options: dict[str, Any], model: Any, resize: str) -> dict[str, Any]:
    """``options`` as the method takes them: ``background`` files read as photos of shape
    (photos, height, width, 3) at the model's input size, fitted like the explained photos."""
    if "background" not in options:
        return options
    from intgrad.images import prepare_image

    photos = []
    for file in options["background"]:
        try:
            pixels, _ = prepare_image(file, model.input_size, resize)
        except (ValueError, TypeError, OSError) as error:
            raise UsageError(f"--background {file}: {error}") from None
        photos.append(pixels)
    return {**options, "background": np.stack(photos)}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``intgrad`` command."""
    from intgrad.images import IMAGE_BASELINES

    parser = _Parser(
        prog="intgrad",
        description="Explain image and text classifiers with "
        "Integrated Gradients (Sundararajan, Taly & Yan 2017).",
    )
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    predict = commands.add_parser("predict", help="classify images: top-k labels")
    _add_model_arguments(predict)
    predict.add_argument("--json", action="store_true", help="print JSON instead of text")

    explain = commands.add_parser("explain", help="attribute the prediction to pixels")
    _add_model_arguments(explain)
    explain.add_argument("--target", help="class name or index to explain (default: top-1)")
    explain.add_argument(
        "--steps",
        type=_steps,
        default="auto",
        help="'auto' (default: as many gradient evaluations as --tolerance needs, placed "
        "where the path needs them) or a fixed count, e.g. 50",
    )
    explain.add_argument(
        "--method",
        choices=METHODS,
        default=None,
        help="quadrature rule for a fixed --steps (default gausslegendre)",
    )
    _add_attribution_arguments(explain)
    explain.add_argument(
        "--tolerance",
        type=_tolerance,
        default=0.01,
        help="with --steps auto: the largest relative completeness gap (default 0.01); "
        "attributions are held to 3x that in relative L2 (estimated)",
    )
    explain.add_argument(
        "--baseline",
        default="black",
        help=f"one of {', '.join(IMAGE_BASELINES)} (default %(default)s), or an image file",
    )
    explain.add_argument(
        "--batch-size",
        type=positive_int,
        default=None,
        help="path points per model call (bounds memory)",
    )
    explain.add_argument("--output-dir", type=Path, default=Path("intgrad-output"))
    explain.add_argument("--seed", type=int, default=0, help="seed of random baselines")
    explain.add_argument("--cmap", default=None, help="matplotlib colormap of the mask")
    explain.add_argument(
        "--overlay-alpha",
        type=_fraction,
        default=0.6,
        help="opacity of the mask over the photo (default 0.6)",
    )
    explain.add_argument(
        "--signed", action="store_true", help="show signed attributions (diverging colours)"
    )
    explain.add_argument("--quiet", action="store_true", help="no progress bar or summary")

    commands.add_parser("samples", help="list the sample photos")

    from intgrad._cli_text import add_text_command

    add_text_command(commands, _steps, _tolerance, METHODS)

    from intgrad._cli_drift import add_drift_command

    add_drift_command(commands)

    from intgrad._cli_dataset import add_dataset_commands

    add_dataset_commands(commands, _steps, METHODS)

    from intgrad._cli_evaluate import add_evaluate_command

    add_evaluate_command(commands)

    from intgrad._cli_interactions import add_interactions_command

    add_interactions_command(commands)

    from intgrad._cli_app import add_app_parser

    add_app_parser(commands)
    return parser


def _sources(args: argparse.Namespace) -> list[tuple[str, Any]]:
    """(display name, image array or path) for every image asked for."""
    from intgrad.images import load_sample, sample_names

    sources: list[tuple[str, Any]] = []
    for name in args.sample:
        if name not in sample_names():
            raise UsageError(f"unknown sample {name!r}; choose from {', '.join(sample_names())}")
        sources.append((name, lambda name=name: load_sample(name)))
    sources.extend((path, lambda path=path: path) for path in args.images)
    if not sources:
        raise UsageError("give at least one IMAGE or --sample NAME")
    return sources


def _error(message: str) -> None:
    report_error(message)


def _run_samples() -> int:
    from intgrad.images import sample_description, sample_names

    for name in sample_names():
        print(sample_description(name))
    return 0


def _load_model(spec: str, backend: str = "torch") -> Any:
    from intgrad.images import ModelLoadError, load_image_model

    try:
        return load_image_model(spec, backend)
    except ModelLoadError as error:
        raise UsageError(f"--model: {error}") from None


def _run_predict(args: argparse.Namespace) -> int:
    from intgrad.images import prepare_image, top_k_predictions

    model = _load_model(args.model, args.backend)
    failures, report = 0, {}
    for name, source in _sources(args):
        try:
            pixels, _ = prepare_image(source(), model.input_size, args.resize)
            report[name] = top_k_predictions(model, pixels, args.top_k)[0]
        except (ValueError, TypeError, OSError) as error:
            failures += 1
            _error(f"{name}: {error}")
    if args.json:
        print(json.dumps({k: [vars(p) for p in v] for k, v in report.items()}, indent=2))
    else:
        for name, predictions in report.items():
            best = ", ".join(f"{p.label} ({p.index}) {p.probability:.3f}" for p in predictions)
            print(f"{name}: {best}")
    return EXIT_FAILED if failures else 0


def _check_arguments(args: argparse.Namespace) -> None:
    from intgrad.images import IMAGE_BASELINES

    if args.steps == "auto" and args.method is not None:
        raise UsageError("--method applies to a fixed --steps; omit it with --steps auto")
    if args.output_dir.exists() and not args.output_dir.is_dir():
        raise UsageError(f"--output-dir {str(args.output_dir)!r} exists and is not a directory")
    if args.baseline not in IMAGE_BASELINES and not os.path.isfile(args.baseline):
        raise UsageError(
            f"--baseline must be one of {', '.join(IMAGE_BASELINES)} or an image file; "
            f"got {args.baseline!r}"
        )
    if args.cmap is not None:
        import matplotlib

        if args.cmap not in matplotlib.colormaps:
            raise UsageError(f"unknown colormap {args.cmap!r} for --cmap")


def _unique_stem(name: str, used: set[str]) -> str:
    stem = Path(name).stem or "image"
    candidate, counter = stem, 2
    while candidate in used:
        candidate, counter = f"{stem}-{counter}", counter + 1
    used.add(candidate)
    return candidate


def _npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def _files(explanation: Any, args: argparse.Namespace) -> dict[str, bytes]:
    """Every output file of one explanation, in memory (file name suffix → bytes)."""
    from intgrad.viz import render_explanation

    pictures = render_explanation(
        explanation, signed=args.signed, cmap=args.cmap, overlay_alpha=args.overlay_alpha
    )
    files = {"attributions.npy": _npy_bytes(explanation.attributions), **pictures}
    return {f"-{name}": data for name, data in files.items()}


def _write_outputs(directory: Path, stem: str, files: dict[str, bytes], summary: dict) -> list:
    from intgrad.io import atomic_write_bytes, atomic_write_text

    written = []
    for suffix, data in files.items():
        atomic_write_bytes(directory / f"{stem}{suffix}", data)
        written.append(f"{stem}{suffix}")
    summary["files"] = [*written, f"{stem}.json"]
    atomic_write_text(directory / f"{stem}.json", json.dumps(summary, indent=2) + "\n")
    return summary["files"]


def _explain_one(name: str, source: Any, model: Any, args: argparse.Namespace, stem: str) -> None:
    from intgrad.images import explain_image

    explanation = explain_image(
        source(),
        tolerance=args.tolerance,
        model=model,
        target=args.target,
        steps=args.steps,
        method=args.method,
        baseline=args.baseline,
        batch_size=args.batch_size,
        seed=args.seed,
        top_k=args.top_k,
        resize=args.resize,
        progress=progress_bar(name, args.quiet),
        attribution=args.attribution,
        attribution_options=args.method_inputs,
    )
    files = _files(explanation, args)
    summary = {"image": name, **explanation.summary(), "settings": _settings(name, args)}
    written = _write_outputs(args.output_dir, stem, files, summary)
    if not args.quiet:
        best = ", ".join(f"{p.label} {p.probability:.3f}" for p in explanation.top_k)
        print(f"{name}: top-{len(explanation.top_k)}: {best}")
        print(
            f"  target: {explanation.target_label} ({explanation.target}); "
            f"F(x) = {_shown(summary['f_input'], '.4f')}, "
            f"F(x') = {_shown(summary['f_baseline'], '.4f')}, "
            f"sum = {summary['attribution_sum']:.4f}, delta = {_shown(summary['delta'], '+.2e')}"
        )
        print(f"  wrote {', '.join(written)} to {args.output_dir}")


def _settings(name: str, args: argparse.Namespace) -> dict[str, Any]:
    """How the photo was read and attributed, so that ``intgrad evaluate`` can do it again."""
    return {
        "source": "sample" if name in args.sample else "file",
        "resize": args.resize,
        "backend": args.backend,
        "attribution": args.attribution,
        "attribution_options": args.attribution_options,
        "baseline": args.baseline,
        "steps": args.steps,
        "method": args.method,
        "tolerance": args.tolerance,
        "seed": args.seed,
    }


def _shown(value: float | None, spec: str) -> str:
    """``value`` formatted, or "n/a" for a number the method does not report."""
    return "n/a" if value is None else format(value, spec)


def _run_explain(args: argparse.Namespace) -> int:
    from intgrad.images import ImageExplainer, resolve_label

    sources = _sources(args)
    _check_arguments(args)
    args.attribution_options = _attribution_options(args)
    from intgrad.images.methods import method_options

    try:
        method_options(args.attribution, args.attribution_options)
    except ValueError as error:
        raise UsageError(str(error)) from None
    # One session for every photo: later photos reuse its backend and compiled steps.
    model = ImageExplainer(_load_model(args.model, args.backend))
    args.method_inputs = _method_inputs(args.attribution_options, model.model, args.resize)
    if args.target is not None:
        try:
            args.target = resolve_label(args.target, model.labels)
        except ValueError as error:
            raise UsageError(f"--target: {error}") from None
    args.output_dir.mkdir(parents=True, exist_ok=True)
    failures, used = 0, set[str]()
    for name, source in sources:
        try:
            _explain_one(name, source, model, args, _unique_stem(name, used))
        except (ValueError, TypeError, OSError) as error:
            failures += 1
            _error(f"{name}: {error}")
    return EXIT_FAILED if failures else 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``intgrad`` command; returns the exit code."""
    try:
        args = build_parser().parse_args(argv)
        if args.command == "samples":
            return _run_samples()
        if args.command == "predict":
            return _run_predict(args)
        if args.command == "text":
            from intgrad._cli_text import run_text

            return run_text(args)
        if args.command == "drift":
            from intgrad._cli_drift import run_drift

            return run_drift(args)
        if args.command == "tabular":
            from intgrad._cli_dataset import run_tabular

            return run_tabular(args)
        if args.command == "dataset":
            from intgrad._cli_dataset import run_dataset

            return run_dataset(args)
        if args.command == "evaluate":
            from intgrad._cli_evaluate import run_evaluate

            return run_evaluate(args)
        if args.command == "interactions":
            from intgrad._cli_interactions import run_interactions

            return run_interactions(args)
        if args.command == "app":
            from intgrad._cli_app import run_app

            return run_app(args)
        return _run_explain(args)
    except UsageError as error:
        _error(str(error))
        return EXIT_USAGE
    except (ValueError, TypeError, OSError, ImportError) as error:
        _error(str(error))
        return EXIT_FAILED
    except KeyboardInterrupt:
        _error("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
