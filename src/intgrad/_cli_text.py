"""The ``intgrad text`` command: explain text classifiers from the shell.

Texts come from the arguments and from ``--file`` (one per line, or a CSV column); each is
checked on its own (empty, over the token limit), then the valid ones are explained in one
batched call of the public :mod:`intgrad.text` API (grouped by length) and shown in the
terminal, as JSON on stdout (``--json``) and as one HTML page (``--html``). Errors follow the
image commands: one line on stderr, exit code 2 for bad arguments, 1 when any text failed (the
others are still explained).
"""

from __future__ import annotations

import argparse
import csv
import json
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from intgrad._cli_errors import EXIT_FAILED, UsageError, report_error, report_warning

__all__ = ["add_text_command", "run_text"]

_BASELINE_HELP = "pad, unk, mask, zero, token:<token> or text:<text> (default %(default)s)"


def add_text_command(
    commands: Any, steps: Callable[[str], Any], tolerance: Callable[[str], float], methods: Any
) -> None:
    """Add the ``text`` sub-command to ``commands`` (an argparse sub-parsers object)."""
    text = commands.add_parser("text", help="attribute a text classifier's prediction to tokens")
    text.add_argument("texts", nargs="*", metavar="TEXT", help="texts to explain")
    text.add_argument(
        "--file",
        type=Path,
        action="append",
        default=[],
        help="more texts: one per line, or a CSV file's --column; repeatable",
    )
    text.add_argument("--column", help="the CSV column holding the texts (default 'text')")
    text.add_argument(
        "--model",
        default="minilm-sentiment",
        help="minilm-sentiment (the embedded sentiment classifier, default) or a local "
        "Hugging Face sequence-classifier directory",
    )
    text.add_argument("--target", help="class name or index to explain (default: predicted)")
    text.add_argument("--baseline", default="pad", help=_BASELINE_HELP)
    text.add_argument(
        "--explain-special",
        action="store_true",
        help="move special tokens ([CLS], [SEP], ...) along the path too (default: kept)",
    )
    text.add_argument(
        "--output",
        choices=("probability", "logit"),
        default="probability",
        help="what F is (default %(default)s)",
    )
    text.add_argument(
        "--layer",
        choices=("word", "block"),
        default="word",
        help="the word embeddings (default) or the whole embedding block",
    )
    text.add_argument(
        "--steps",
        type=steps,
        default="auto",
        help="'auto' (default: as many as --tolerance needs) or a count of gradient evaluations",
    )
    text.add_argument("--method", choices=methods, default=None, help="rule for a fixed --steps")
    text.add_argument(
        "--tolerance",
        type=tolerance,
        default=0.01,
        help="with --steps auto: the largest relative completeness gap (default 0.01)",
    )
    text.add_argument(
        "--too-long",
        choices=("truncate", "refuse"),
        default="truncate",
        help="a text over the model's token limit: explain its beginning with a warning "
        "(default) or refuse it",
    )
    text.add_argument("--html", type=Path, help="write one HTML page with every text")
    text.add_argument("--json", action="store_true", help="print JSON on stdout instead of text")
    text.add_argument("--json-file", type=Path, help="also write the JSON to this file")
    text.add_argument(
        "--level",
        choices=("words", "tokens"),
        default="words",
        help="what the terminal view colours (default %(default)s)",
    )
    text.add_argument(
        "--color",
        choices=("auto", "always", "never"),
        default="auto",
        help="colour the terminal view (default: when stdout is a terminal)",
    )


def _usage(message: str) -> Exception:
    return UsageError(message)


def _lines(path: Path, column: str | None) -> list[str]:
    """The texts of one file: one per non-blank line, or one per CSV row of ``column``."""
    try:
        content = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or str(error).splitlines()[0]
        raise _usage(f"--file {str(path)!r}: cannot read it: {reason}") from None
    if column is None and path.suffix.lower() != ".csv":
        return [line for line in content.splitlines() if line.strip()]
    wanted = column or "text"
    reader = csv.DictReader(content.splitlines())
    if reader.fieldnames is None or wanted not in reader.fieldnames:
        found = ", ".join(reader.fieldnames or []) or "none"
        raise _usage(f"--file {str(path)!r} has no column {wanted!r} (columns: {found})")
    return [row[wanted] or "" for row in reader]


def _texts(args: argparse.Namespace) -> list[tuple[str, str]]:
    """(display name, text) for every text asked for, in order."""
    texts = [(f"text {i + 1}", t) for i, t in enumerate(args.texts)]
    if args.column is not None and not args.file:
        raise _usage("--column needs --file")
    for path in args.file:
        lines = _lines(path, args.column)
        texts.extend((f"{path.name}:{i + 1}", t) for i, t in enumerate(lines))
    if not texts:
        raise _usage("give at least one TEXT or --file")
    return texts


def _check_outputs(args: argparse.Namespace) -> None:
    for option, path in (("--html", args.html), ("--json-file", args.json_file)):
        if path is not None and (path.is_dir() or not path.resolve().parent.is_dir()):
            raise _usage(f"{option} {str(path)!r}: not a file in an existing directory")
    if args.steps == "auto" and args.method is not None:
        raise _usage("--method applies to a fixed --steps; omit it with --steps auto")


def _explainer(args: argparse.Namespace) -> Any:
    from intgrad.text import TextExplainer, TextModelError, load_text_model

    try:
        model = load_text_model(args.model)
    except TextModelError as error:
        raise _usage(f"--model: {error}") from None
    return TextExplainer(model, layer=args.layer, output=args.output)


def _target(args: argparse.Namespace, explainer: Any) -> Any:
    from intgrad.text import resolve_target

    if args.target is None:
        return None
    labels = explainer.model.labels
    try:
        return resolve_target(args.target, labels, len(labels) or 1 << 30)
    except (ValueError, TypeError) as error:
        raise _usage(f"--target: {error}") from None


def _baseline(args: argparse.Namespace, explainer: Any) -> None:
    from intgrad.text import check_baseline

    try:
        check_baseline(args.baseline, explainer.model.tokenizer, explainer.layer)
    except (ValueError, TypeError) as error:
        raise _usage(f"--baseline: {error}") from None


def _check_text(name: str, text: str, explainer: Any, args: argparse.Namespace) -> list[str]:
    """The warnings of a text that can be explained (its truncation); ValueError otherwise."""
    from intgrad.text import TruncationWarning

    if not text.strip():
        raise ValueError("the text is empty")
    tokens = len(explainer.model.tokenizer(text)["input_ids"])
    if args.too_long == "refuse" and tokens > explainer.model.max_tokens:
        raise ValueError(
            f"the text has {tokens} tokens, more than the model's {explainer.model.max_tokens}"
            " (--too-long refuse)"
        )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", TruncationWarning)
        explainer.encode([text])
    return [f"{name}: {w.message}" for w in caught if issubclass(w.category, TruncationWarning)]


def _explain_all(
    texts: list[str], explainer: Any, target: Any, args: argparse.Namespace
) -> list[Any]:
    """An explanation or the error of each text: one batched call (texts grouped by length),
    or, when it fails, one call per text so that each error names its own text."""
    from intgrad.text import TruncationWarning

    def explain(chosen: str | list[str]) -> Any:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", TruncationWarning)  # reported by _check_text
            return explainer.explain(
                chosen,
                target=target,
                baseline=args.baseline,
                keep_special=not args.explain_special,
                steps=args.steps,
                method=args.method,
                tolerance=args.tolerance,
            )

    if not texts:
        return []
    try:
        return list(explain(texts))
    except (ValueError, TypeError):
        pass
    outcomes: list[Any] = []
    for text in texts:
        try:
            outcomes.append(explain(text))
        except (ValueError, TypeError) as error:
            outcomes.append(error)
    return outcomes


def _show(name: str, explanation: Any, args: argparse.Namespace) -> None:
    color = {"auto": None, "always": True, "never": False}[args.color]
    print(f"{name}: {explanation.to_terminal(color=color, level=args.level)}")


def run_text(args: argparse.Namespace) -> int:
    """Run ``intgrad text``; returns the exit code."""
    texts = _texts(args)
    _check_outputs(args)
    explainer = _explainer(args)
    target = _target(args, explainer)
    _baseline(args, explainer)
    checked: list[list[str] | Exception] = []
    for name, text in texts:
        try:
            checked.append(_check_text(name, text, explainer, args))
        except (ValueError, TypeError) as error:
            checked.append(error)
    valid = [text for (_, text), c in zip(texts, checked, strict=True) if isinstance(c, list)]
    outcomes = iter(_explain_all(valid, explainer, target, args))
    explanations, summaries, failures = [], [], 0
    for (name, _), check in zip(texts, checked, strict=True):
        outcome = next(outcomes) if isinstance(check, list) else check
        if isinstance(outcome, Exception):
            failures += 1
            report_error(f"{name}: {outcome}")
            continue
        for message in check if isinstance(check, list) else []:
            report_warning(message)
        explanations.append(outcome)
        summaries.append({"name": name, **outcome.summary()})
        if not args.json:
            _show(name, outcome, args)
    if args.html is not None and explanations:
        from intgrad.viz.text import save_text_html

        save_text_html(explanations, args.html)
        if not args.json:
            print(f"wrote {args.html}")
    document = json.dumps(summaries, indent=2, ensure_ascii=False)
    if args.json_file is not None:
        from intgrad.io import atomic_write_text

        atomic_write_text(args.json_file, document + "\n")
        if not args.json:
            print(f"wrote {args.json_file}")
    if args.json:
        print(document)
    return EXIT_FAILED if failures else 0
