"""Fixtures of the app tests: one app served on loopback, an HTTP client, a real browser.

The browser is Debian's ``chromium`` driven by Playwright through ``executable_path`` (no
browser download). Where none is installed the browser tests skip with a message, except when
``INTGRAD_REQUIRE_BROWSER=1`` (set by ``.ci/run``): then they fail; so do the Python packages a
browser test module needs (:func:`browser_test_needs`).
"""

from __future__ import annotations

import importlib
import os
import re
import shutil
import time
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest

from intgrad.app import AppConfig, ModelRegistry, RunningApp, create_app, serve

BROWSER_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

JOB_URL = re.compile(r"/jobs/([A-Za-z0-9_-]+)$")


@pytest.fixture(scope="session", autouse=True)
def _one_torch_thread() -> Iterator[None]:
    """Jobs run on several threads; torch's own thread pool on top would oversubscribe."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def app_server() -> Iterator[RunningApp]:
    """The app with the embedded models, small limits, served on a free loopback port."""
    config = AppConfig(max_upload_bytes=2 * 1024 * 1024, workers=4, max_text_chars=2_000)
    running = serve(create_app(ModelRegistry.embedded(), config), "127.0.0.1", 0)
    yield running
    running.stop()


class Client:
    """A small HTTP client of the served app (requests, no redirects followed by default)."""

    def __init__(self, running: RunningApp) -> None:
        import requests

        self.url = running.url
        self.running = running
        self.session = requests.Session()

    def get(self, path: str, **options: Any) -> Any:
        return self.session.get(self.url + path, timeout=60, **options)

    def post(self, path: str, **options: Any) -> Any:
        return self.session.post(self.url + path, timeout=60, allow_redirects=False, **options)

    def submit(self, path: str, **options: Any) -> str:
        """POST a view's form; returns the job id of the 303 answer (fails otherwise)."""
        answer = self.post(path, **options)
        assert answer.status_code == 303, (answer.status_code, answer.text[:500])
        match = JOB_URL.search(answer.headers["location"])
        assert match, answer.headers["location"]
        return match.group(1)

    def wait(self, job_id: str, timeout: float = 240.0) -> dict[str, Any]:
        """Poll the job's status until it stops; returns the last status."""
        deadline = time.monotonic() + timeout
        while True:
            status = self.get(f"/jobs/{job_id}/status").json()
            if status["state"] not in ("queued", "running"):
                return status
            assert time.monotonic() < deadline, f"job {job_id} still {status['state']}"
            time.sleep(0.05)

    def result(self, path: str, **options: Any) -> dict[str, Any]:
        """Submit, wait for success, and return the job's JSON export."""
        job_id = self.submit(path, **options)
        status = self.wait(job_id)
        assert status["state"] == "done", status
        exported = self.get(f"/jobs/{job_id}/export.json")
        assert exported.status_code == 200
        return dict(exported.json())


@pytest.fixture(scope="session")
def client(app_server: RunningApp) -> Client:
    return Client(app_server)


def _browser_required() -> bool:
    return os.environ.get("INTGRAD_REQUIRE_BROWSER") == "1"


def _browser_missing(reason: str) -> None:
    if _browser_required():
        pytest.fail(f"INTGRAD_REQUIRE_BROWSER=1 but {reason}")
    pytest.skip(f"browser tests skipped: {reason} (install Debian's chromium: see the Makefile)")


def browser_test_needs(module: str, reason: str = "") -> ModuleType:
    """Import ``module`` for a browser test module: skip it where the module is missing, but
    fail (at collection) when ``INTGRAD_REQUIRE_BROWSER=1``, as a missing browser does."""
    try:
        return importlib.import_module(module)
    except ImportError:
        pass  # reported below, outside the handler: one message, no chained traceback
    why = f"the {module!r} package is not installed" + (f" ({reason})" if reason else "")
    if _browser_required():
        pytest.fail(f"INTGRAD_REQUIRE_BROWSER=1 but {why}", pytrace=False)
    pytest.skip(f"browser tests skipped: {why}", allow_module_level=True)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Headless Debian chromium through Playwright (session-wide)."""
    executable = shutil.which("chromium")
    if executable is None:
        _browser_missing("no 'chromium' on PATH")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _browser_missing("the 'playwright' package is not installed")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=BROWSER_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any, app_server: RunningApp) -> Iterator[Any]:
    """A fresh page (1280 × 900) of the served app; closed after the test."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=app_server.url)
    opened = context.new_page()
    opened.set_default_timeout(240_000)
    yield opened
    context.close()
