"""The app factory, the job routes, and serving on loopback from a script or a notebook."""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from intgrad.app.config import AppConfig
from intgrad.app.forms import BadRequest, BodyLimit, TooLarge
from intgrad.app.jobs import JobManager, one_line
from intgrad.app.pages import error_box, esc, job_page, layout
from intgrad.app.registry import ModelRegistry
from intgrad.app.state import AppState

__all__ = ["RunningApp", "create_app", "launch", "serve"]

_LOG = logging.getLogger("intgrad.app")

#: The views' modules, each with ``routes(state) -> list[Route]`` and ``SUMMARY`` (one line).
_VIEWS = ("photos", "text", "tables", "datasets")


def _view_modules() -> list[Any]:
    import importlib

    return [importlib.import_module(f"intgrad.app.views.{name}") for name in _VIEWS]


def _error_page(message: str, status: int) -> HTMLResponse:
    body = f"<h1>Something is wrong with the request</h1>{error_box(message)}"
    body += '<p><a href="javascript:history.back()">Back</a> · <a href="/">Home</a></p>'
    return HTMLResponse(layout("Error", body), status_code=status)


def _home(state: AppState, views: Sequence[Any]) -> Any:
    async def home(request: Request) -> HTMLResponse:
        cards = "".join(
            f'<div class="card"><h2><a href="{esc(view.PATH)}">{esc(view.TITLE)}</a></h2>'
            f'<p class="note">{esc(view.SUMMARY)}</p></div>'
            for view in views
        )
        served = "".join(
            f"<li>{esc(kind)}: {esc(', '.join(state.registry.names(kind)))}</li>"
            for kind in ("image", "text", "tabular")
            if state.registry.names(kind)
        )
        body = (
            "<h1>Explain a model's predictions with Integrated Gradients</h1>"
            f'<div class="grid">{cards}</div>'
            f'<div class="card"><h2>Models served</h2><ul>{served}</ul></div>'
        )
        return HTMLResponse(layout("intgrad", body))

    return home


def _job_routes(state: AppState) -> list[Route]:
    def job_or_404(request: Request) -> Any:
        job = state.jobs.get(request.path_params["job_id"])
        if job is None:
            raise HTTPException(404, "no such job (it may have been forgotten: run it again)")
        return job

    async def page(request: Request) -> HTMLResponse:
        job = job_or_404(request)
        title = job.result.title if job.result is not None else job.title
        return HTMLResponse(layout(title, job_page(job, f"/{job.view}"), active=f"/{job.view}"))

    async def status(request: Request) -> JSONResponse:
        return JSONResponse(job_or_404(request).status())

    async def cancel(request: Request) -> JSONResponse:
        job = state.jobs.cancel(request.path_params["job_id"])
        if job is None:
            raise HTTPException(404, "no such job")
        return JSONResponse(job.status())

    def finished(request: Request) -> Any:
        job = job_or_404(request)
        if job.result is None:
            raise HTTPException(409, f"the job is {job.state}; it has nothing to export")
        return job, job.result

    async def export_html(request: Request) -> Response:
        job, result = finished(request)
        return Response(
            result.export_html(),
            media_type="text/html; charset=utf-8",
            headers={"content-disposition": f'attachment; filename="intgrad-{job.view}.html"'},
        )

    async def export_json(request: Request) -> JSONResponse:
        job, result = finished(request)
        return JSONResponse(
            result.export_json(),
            headers={"content-disposition": f'attachment; filename="intgrad-{job.view}.json"'},
        )

    async def picture(request: Request) -> Response:
        _, result = finished(request)
        pictures = result.pictures()
        name = request.path_params["name"]
        if name not in pictures:
            raise HTTPException(404, f"this result has no picture {name!r}")
        return Response(pictures[name], media_type="image/png")

    return [
        Route("/jobs/{job_id}", page),
        Route("/jobs/{job_id}/status", status),
        Route("/jobs/{job_id}/cancel", cancel, methods=["POST"]),
        Route("/jobs/{job_id}/export.html", export_html),
        Route("/jobs/{job_id}/export.json", export_json),
        Route("/jobs/{job_id}/pictures/{name}", picture),
    ]


def create_app(
    registry: ModelRegistry | None = None,
    config: AppConfig | None = None,
    *,
    preload: bool = False,
) -> Starlette:
    """Make the web app: its own models, jobs and limits (two apps share nothing).

    Args:
        registry: the models to serve; default :meth:`ModelRegistry.embedded`.
        config: limits and summary folders; default :class:`AppConfig`'s.
        preload: load every model now instead of on first use.

    Returns:
        A Starlette ASGI app; ``app.state.intgrad`` is its :class:`AppState`.
    """
    config = config or AppConfig()
    state = AppState(
        config=config,
        registry=registry if registry is not None else ModelRegistry.embedded(),
        jobs=JobManager(config.workers, config.kept_jobs),
    )
    if preload:
        for error in state.registry.preload():
            _LOG.warning("%s", error)
    views = _view_modules()
    routes = [Route("/", _home(state, views))]
    routes += [Route("/healthz", _healthz)]
    routes += _job_routes(state)
    for view in views:
        routes += view.routes(state)

    async def http_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, HTTPException)
        return _error_page(str(error.detail), error.status_code)

    async def bad_request(request: Request, error: Exception) -> Response:
        # BadRequest, or a ValueError of the library met while checking a request (a model
        # that does not load): one line in the page, never a traceback.
        status = 413 if isinstance(error, TooLarge) else 400
        return _error_page(one_line(error), status)

    async def internal(request: Request, error: Exception) -> Response:
        _LOG.exception("request %s failed", request.url.path, exc_info=error)
        return _error_page(f"internal error ({type(error).__name__}); see the server's log", 500)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        state.jobs.shutdown()

    app = Starlette(
        routes=routes,
        exception_handlers={
            HTTPException: http_error,
            BadRequest: bad_request,
            ValueError: bad_request,
            500: internal,
        },
        lifespan=lifespan,
    )
    app.state.intgrad = state
    app.add_middleware(
        BodyLimit,
        limit=config.max_upload_bytes,
        page=lambda message: layout("Too large", f"<h1>Upload refused</h1>{error_box(message)}"),
    )
    return app


async def _healthz(request: Request) -> JSONResponse:
    return JSONResponse({"ok": True})


@dataclass
class RunningApp:
    """A served app: its address, and how to stop it."""

    url: str
    host: str
    port: int
    app: Starlette
    _server: Any
    _thread: threading.Thread

    @property
    def alive(self) -> bool:
        """Whether the server's thread still runs."""
        return self._thread.is_alive()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the server stops (or ``timeout`` seconds); returns whether it stopped."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving and wait for the server's thread."""
        self._server.should_exit = True
        self._thread.join(timeout)


def _check_port(host: str, port: int) -> None:
    if port == 0:
        return
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        try:
            probe.bind((host, port))
        except OSError as error:
            raise OSError(f"cannot listen on {host}:{port}: {error.strerror}") from None


def serve(
    app: Starlette, host: str = "127.0.0.1", port: int = 0, *, timeout: float = 30
) -> RunningApp:
    """Serve ``app`` from a background thread (port 0: a free one); returns once it listens.

    Raises:
        OSError: the address is taken or the server did not start within ``timeout`` seconds.
    """
    import uvicorn

    _check_port(host, port)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="intgrad-app", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise OSError(f"the app did not start on {host}:{port}")
        time.sleep(0.02)
    bound = server.servers[0].sockets[0].getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    return RunningApp(f"http://{shown}:{bound}", host, bound, app, server, thread)


def launch(
    *,
    host: str = "127.0.0.1",
    port: int = 7860,
    models: Sequence[tuple[str, str]] = (),
    config: AppConfig | None = None,
    preload: bool = True,
    block: bool = True,
) -> RunningApp:
    """Start the app with the embedded models (and ``models``: ``(kind, spec)`` pairs).

    From a notebook, ``launch(block=False)`` returns at once with the :class:`RunningApp`
    (open its ``url``; call ``stop()`` when done). ``block=True`` serves until interrupted.
    """
    registry = ModelRegistry.embedded()
    for kind, spec in models:
        registry.add(kind, spec)
    running = serve(create_app(registry, config, preload=preload), host, port)
    if block:
        try:
            while not running.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
        finally:
            running.stop()
    return running
