"""The intgrad web app: photos, text, tables, whole datasets and drift, in a browser.

``intgrad app`` starts it on 127.0.0.1; from Python or a notebook::

    from intgrad.app import launch
    running = launch(block=False)   # running.url; running.stop()

The app is made by :func:`create_app` (an app factory: each app has its own models, jobs and
limits; nothing is kept in module globals) and is built on the public API only. It needs the
``app`` extra (``pip install intgrad[app]``): Starlette, uvicorn and python-multipart.
"""

from __future__ import annotations

try:
    import python_multipart  # noqa: F401  (Starlette's form parser)
    import starlette  # noqa: F401
except ImportError as error:  # pragma: no cover - depends on the environment
    raise ImportError(
        f"the web app needs the 'app' extra ({error.name} is missing): pip install 'intgrad[app]'"
    ) from None

from intgrad.app.config import AppConfig
from intgrad.app.registry import MODEL_KINDS, ModelRegistry, parse_model_option
from intgrad.app.server import RunningApp, create_app, launch, serve

__all__ = [
    "MODEL_KINDS",
    "AppConfig",
    "ModelRegistry",
    "RunningApp",
    "create_app",
    "launch",
    "parse_model_option",
    "serve",
]
