"""The app factory, the registry and serving: apps share nothing; bad routes are pages."""

from __future__ import annotations

import pytest
import requests

from intgrad.app import (
    AppConfig,
    ModelRegistry,
    RunningApp,
    create_app,
    launch,
    parse_model_option,
    serve,
)
from tests.app.conftest import Client


def test_two_apps_share_no_state() -> None:
    first, second = create_app(preload=False), create_app(preload=False)
    assert first.state.intgrad is not second.state.intgrad
    assert first.state.intgrad.jobs is not second.state.intgrad.jobs
    assert first.state.intgrad.registry is not second.state.intgrad.registry


def test_launch_from_a_notebook_returns_a_running_app() -> None:
    running = launch(port=0, preload=False, block=False)
    try:
        assert running.alive and running.url.startswith("http://127.0.0.1:")
        home = requests.get(running.url + "/", timeout=10)
        assert home.status_code == 200 and "efficientnet-lite0" in home.text
    finally:
        running.stop()
    assert not running.alive


def test_a_taken_port_is_one_clear_error(app_server: RunningApp) -> None:
    with pytest.raises(OSError, match=r"cannot listen on 127\.0\.0\.1:\d+"):
        serve(create_app(preload=False), "127.0.0.1", app_server.port)


def test_unknown_jobs_and_unfinished_exports_are_pages(client: Client) -> None:
    missing = client.get("/jobs/nosuchjob")
    assert missing.status_code == 404 and "no such job" in missing.text
    assert client.get("/jobs/nosuchjob/status").status_code == 404
    assert client.post("/jobs/nosuchjob/cancel").status_code == 404
    assert client.get("/nowhere").status_code == 404


def test_every_view_is_listed_on_the_home_page(client: Client) -> None:
    home = client.get("/").text
    for path in ("/photos", "/text", "/tables", "/datasets"):
        assert f'href="{path}"' in home
        assert client.get(path).status_code == 200


def test_the_registry_serves_models_by_name_only() -> None:
    registry = ModelRegistry.embedded()
    assert registry.names("image") == ("efficientnet-lite0",)
    registry.add("image", "torchvision:resnet18")
    assert registry.get("image").name == "efficientnet-lite0"  # the first is the default
    with pytest.raises(ValueError, match="already served"):
        registry.add("image", "torchvision:resnet18")
    with pytest.raises(ValueError, match="unknown image model '/etc/passwd'"):
        registry.get("image", "/etc/passwd")
    with pytest.raises(ValueError, match="model kind must be one of"):
        registry.add("audio", "x")


def test_a_model_that_fails_to_load_says_so_every_time() -> None:
    registry = ModelRegistry()
    registry.add("tabular", "/does/not/exist.npz")
    for _ in range(2):
        with pytest.raises(ValueError, match="could not be loaded: unknown tabular model"):
            registry.session("tabular")
    assert registry.preload() and "could not be loaded" in registry.preload()[0]


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("image=torchvision:resnet18", ("image", "torchvision:resnet18")),
        ("text= x ", ("text", "x")),
    ],
)
def test_parse_model_option(text: str, parsed: tuple[str, str]) -> None:
    assert parse_model_option(text) == parsed


@pytest.mark.parametrize("text", ["resnet18", "audio=x", "image=", "=x"])
def test_parse_model_option_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="expected KIND=SPEC"):
        parse_model_option(text)


@pytest.mark.parametrize(
    ("field", "value"), [("workers", 0), ("max_upload_bytes", 0), ("max_steps", 1)]
)
def test_config_refuses_impossible_limits(field: str, value: int) -> None:
    with pytest.raises(ValueError, match=field):
        AppConfig(**{field: value})


def test_a_model_that_fails_to_load_is_a_message_in_the_page() -> None:
    registry = ModelRegistry()
    registry.add("tabular", "/does/not/exist.npz", name="broken")
    running = serve(create_app(registry, preload=False), "127.0.0.1", 0)
    try:
        page = requests.get(running.url + "/tables", timeout=30)
        assert page.status_code in (200, 400)
        assert "could not be loaded" in page.text and "Traceback" not in page.text
        assert requests.get(running.url + "/healthz", timeout=10).json() == {"ok": True}
    finally:
        running.stop()
