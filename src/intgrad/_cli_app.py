"""The ``intgrad app`` command: serve the web app (:mod:`intgrad.app`) until interrupted.

``intgrad app`` serves the embedded models (and those added with ``--model KIND=SPEC``) on
``http://127.0.0.1:7860``, prints one line with the address, and runs until Ctrl+C (SIGINT)
or SIGTERM, then stops cleanly with exit code 0. The app has no authentication: it listens on
loopback unless ``--host`` says otherwise, and then warns.

The app listens first (so that a taken port fails at once), then loads the models, then
prints its address (``--no-preload``: models load on first use). A model named with
``--model`` that fails to load is an error (exit 1; the app stops before its address is
printed): it was asked for by name, so serving without it would hide a typo. An embedded
model that fails to load (say, its extra is not installed) is a one-line warning; the others
are served, and the pages that need it show the same one-line error. With ``--no-preload``
every failure shows there, on first use.

Exit codes: 0 stopped by a signal; 1 the ``app`` extra is missing, the address is taken, or a
``--model`` failed to load; 2 bad arguments (a malformed ``--model``, a missing
``--summaries`` folder). Errors are one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import ipaddress
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

from intgrad._cli_errors import (
    EXIT_FAILED,
    UsageError,
    positive_float,
    positive_int,
    report_error,
    report_warning,
)

__all__ = ["add_app_parser", "exposure_warning", "run_app"]

#: Where ``make demo`` writes the dataset summaries; served by default when it exists.
DEFAULT_SUMMARIES = Path("intgrad-output")


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be in [0, 65535], got {value}")
    return value


def add_app_parser(subparsers: Any) -> None:
    """Add ``app`` to the ``intgrad`` sub-commands (an argparse sub-parsers object)."""
    app = subparsers.add_parser(
        "app",
        help="serve the web app: photos, text, tables, datasets and drift in a browser",
        description="Serve the intgrad web app until Ctrl+C. It has no authentication: it "
        "listens on 127.0.0.1 unless --host says otherwise.",
    )
    app.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default %(default)s: this machine only); anything else "
        "opens the app, which has no authentication, to the network: do it on purpose",
    )
    app.add_argument(
        "--port", type=_port, default=7860, help="port (default %(default)s; 0: a free one)"
    )
    app.add_argument(
        "--model",
        action="append",
        default=[],
        metavar="KIND=SPEC",
        help="serve another model besides the embedded ones: KIND is image, text or tabular; "
        "SPEC as the --model of 'intgrad explain', 'intgrad text' or 'intgrad tabular "
        "explain' (e.g. image=torchvision:resnet18); repeatable",
    )
    app.add_argument(
        "--summaries",
        action="append",
        type=Path,
        default=None,
        metavar="DIR",
        help="a folder with dataset summaries (summary.json files) the datasets and drift "
        f"pages offer; repeatable (default: {DEFAULT_SUMMARIES}/ when it exists, where "
        "'make demo' writes)",
    )
    app.add_argument(
        "--max-upload-mb",
        type=positive_float,
        metavar="MB",
        default=10.0,
        help="largest upload accepted, in MB (default 10)",
    )
    app.add_argument("--workers", type=positive_int, default=2, help="jobs run at once (default 2)")
    app.add_argument(
        "--no-preload",
        action="store_true",
        help="load each model on first use instead of before serving",
    )


def exposure_warning(host: str) -> str | None:
    """The warning for a ``--host`` other than loopback, or ``None`` for a loopback address."""
    if host == "localhost":
        return None
    try:
        if ipaddress.ip_address(host.strip("[]")).is_loopback:
            return None
    except ValueError:
        pass  # a host name: it may resolve to anything
    return (
        f"serving on {host}, not only this machine: the app has no authentication, "
        "anyone who can reach it can use its models"
    )


def _summary_dirs(given: list[Path] | None) -> tuple[Path, ...]:
    if given is None:
        return (DEFAULT_SUMMARIES,) if DEFAULT_SUMMARIES.is_dir() else ()
    for folder in given:
        if not folder.is_dir():
            raise UsageError(f"--summaries {folder}: no such folder")
    return tuple(given)


def _build(args: argparse.Namespace) -> tuple[Any, Any, list[Any]]:
    """The registry, the config and the entries added with --model (a bad one: UsageError)."""
    from intgrad.app import AppConfig, ModelRegistry, parse_model_option

    registry = ModelRegistry.embedded()
    added = []
    for option in args.model:
        try:
            kind, spec = parse_model_option(option)
            added.append(registry.add(kind, spec))
        except ValueError as error:
            raise UsageError(f"--model: {error}") from None
    try:
        config = AppConfig(
            max_upload_bytes=max(1, round(args.max_upload_mb * 1024 * 1024)),
            workers=args.workers,
            summary_dirs=_summary_dirs(args.summaries),
        )
    except ValueError as error:
        raise UsageError(str(error)) from None
    return registry, config, added


def _preload(registry: Any, added: list[Any]) -> None:
    """Load every model, the --model ones first: one of those that fails raises ValueError;
    an embedded one that fails is a warning."""
    from intgrad.app import MODEL_KINDS

    for entry in added:
        entry.session()
    for kind in MODEL_KINDS:
        for name in registry.names(kind):
            entry = registry.get(kind, name)
            if any(entry is other for other in added):
                continue
            try:
                entry.session()
            except ValueError as error:
                report_warning(f"{error} (its pages will show this error)")


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """SIGTERM raises KeyboardInterrupt, as SIGINT does, while inside (main thread only).

    SIGINT gets Python's own handler even where the parent ignored it, and both are
    unblocked: a blocked signal mask is inherited through ``exec``, so an app started by a
    process that blocked SIGINT (some thread pools and cluster runtimes do) would otherwise
    never see Ctrl-C.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _interrupt)
    previous_int = signal.signal(signal.SIGINT, signal.default_int_handler)  # also if ignored
    blocked = signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        signal.signal(signal.SIGINT, previous_int)
        signal.signal(signal.SIGTERM, previous)


def run_app(args: argparse.Namespace) -> int:
    """Serve the app until SIGINT or SIGTERM; returns the exit code (0 once stopped).

    Raises:
        UsageError: bad arguments.
        ImportError: the ``app`` extra is missing (the message names the install command).
        OSError: the address is taken.
    """
    import intgrad.app  # ImportError: one line naming pip install 'intgrad[app]'

    registry, config, added = _build(args)
    warning = exposure_warning(args.host)
    if warning is not None:
        report_warning(warning)
    with _sigterm_interrupts():
        running = intgrad.app.serve(intgrad.app.create_app(registry, config), args.host, args.port)
        try:
            if not args.no_preload:
                try:
                    _preload(registry, added)
                except ValueError as error:
                    report_error(error)
                    return EXIT_FAILED
            print(f"intgrad app: serving on {running.url} (Ctrl+C to stop)", flush=True)
            while not running.wait(0.5):
                pass
            report_error("the server stopped unexpectedly (see the messages above)")
            return EXIT_FAILED
        except KeyboardInterrupt:
            return 0
        finally:
            running.stop()
