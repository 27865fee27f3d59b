"""What every ``intgrad`` sub-command shares: exit codes, the usage error, one-line reports.

A module of its own so that ``python -m intgrad.cli`` (where ``intgrad.cli`` runs as
``__main__``) and the sub-command modules raise and catch the same :class:`UsageError`.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable

__all__ = [
    "EXIT_DRIFT",
    "EXIT_FAILED",
    "EXIT_USAGE",
    "IMAGE_SUFFIXES",
    "UsageError",
    "positive_float",
    "positive_int",
    "progress_bar",
    "report_error",
    "report_warning",
]

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_DRIFT = 3
"""``intgrad drift``: a threshold was breached (distinct from a failure, for cron and CI)."""

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif")
"""The files a directory of photos is read for (lower-cased suffixes)."""


class UsageError(Exception):
    """Bad command-line arguments: reported in one line with exit code 2."""


def _first_line(message: object) -> str:
    text = str(message).strip()
    return text.splitlines()[0] if text else "failed"


def report_error(message: object) -> None:
    """``intgrad: error: <first line of message>`` on stderr."""
    print(f"intgrad: error: {_first_line(message)}", file=sys.stderr)


def report_warning(message: object) -> None:
    """``intgrad: warning: <first line of message>`` on stderr."""
    print(f"intgrad: warning: {_first_line(message)}", file=sys.stderr)


def positive_int(text: str) -> int:
    """An argparse type: a whole number >= 1 (else a one-line usage error)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def positive_float(text: str) -> float:
    """An argparse type: a finite number > 0 (else a one-line usage error)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {value}")
    return value


def progress_bar(name: str, quiet: bool) -> Callable[[int, int], None] | None:
    """A ``progress(done, total)`` drawing a bar on stderr, or ``None`` (quiet, or no terminal)."""
    if quiet or not sys.stderr.isatty():
        return None

    def show(done: int, total: int) -> None:
        filled = int(30 * done / total)
        end = "\n" if done == total else ""
        bar = "#" * filled + "." * (30 - filled)
        print(f"\r{name}: [{bar}] {done}/{total}", end=end, file=sys.stderr, flush=True)

    return show
