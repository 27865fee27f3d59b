"""The photos view over HTTP: numbers equal the library's, comparisons, bad uploads, load."""

from __future__ import annotations

import html
import io
import re
import struct
import zlib
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest

from intgrad.images import ImageExplainer, load_sample
from tests.app.conftest import Client

FAST = {"steps": "8", "rule": "gausslegendre"}
SUMMARY_KEYS = ("f_input", "f_baseline", "attribution_sum", "delta", "steps", "target")


def _fields(**values: str) -> dict[str, tuple[None, str]]:
    """Multipart text fields (the form is multipart: it may carry a photo)."""
    return {key: (None, value) for key, value in values.items()}


def _png(pixels: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray((pixels * 255).round().astype(np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def library() -> ImageExplainer:
    """The library's own session on the embedded model, to compare the app's numbers with."""
    return ImageExplainer()


def _expected(library: ImageExplainer, photo: Any, **options: Any) -> dict[str, Any]:
    steps = options.pop("steps", 8)
    return library.explain([photo], steps=steps, top_k=5, **options)[0].summary()


def _check_summary(shown: dict[str, Any], expected: dict[str, Any]) -> None:
    for key in SUMMARY_KEYS:
        assert shown[key] == pytest.approx(expected[key], rel=1e-6, abs=1e-9), key


def test_sample_photo_matches_the_library(client: Client, library: ImageExplainer) -> None:
    job_id = client.submit("/photos/explain", files=_fields(sample="coffee", **FAST))
    assert client.wait(job_id)["state"] == "done"
    page = client.get(f"/jobs/{job_id}").text
    exported = client.get(f"/jobs/{job_id}/export.json").json()
    summary = exported["explanations"][0]["summary"]
    _check_summary(summary, _expected(library, load_sample("coffee")))
    shown = re.search(r'data-testid="delta" data-value="([^"]+)"', page)
    assert shown and float(shown.group(1)) == pytest.approx(summary["delta"], rel=1e-12)
    # The five predictions, most probable first, each with a button to explain it.
    probabilities = [p["probability"] for p in summary["top_k"]]
    assert len(probabilities) == 5 and probabilities == sorted(probabilities, reverse=True)
    assert page.count('data-testid="explain-class"') == 5
    for name in ("overlay.png", "mask.png", "figure.png", "path.png", "interpolation.png"):
        picture = client.get(f"/jobs/{job_id}/pictures/{name}")
        assert picture.status_code == 200 and picture.content[:8] == b"\x89PNG\r\n\x1a\n"


def test_upload_then_explain_another_class(client: Client, library: ImageExplainer) -> None:
    pixels = load_sample("rocket")
    files = {"photo": ("rocket.png", _png(pixels), "image/png"), **_fields(**FAST)}
    job_id = client.submit("/photos/explain", files=files)
    assert client.wait(job_id)["state"] == "done"
    page = client.get(f"/jobs/{job_id}").text
    token = re.search(r'name="photo_token" value="([^"]+)"', page)
    assert token, "the result page keeps the upload for the next request"
    first = client.get(f"/jobs/{job_id}/export.json").json()["explanations"][0]["summary"]
    second_class = first["top_k"][1]["index"]
    again = client.submit(
        "/photos/explain",
        files=_fields(photo_token=token.group(1), target=str(second_class), **FAST),
    )
    assert client.wait(again)["state"] == "done"
    summary = client.get(f"/jobs/{again}/export.json").json()["explanations"][0]["summary"]
    decoded = np.asarray(__import__("PIL.Image").Image.open(io.BytesIO(_png(pixels))))
    expected = _expected(library, decoded.astype(np.float32) / 255.0, target=second_class)
    assert summary["target"] == second_class
    _check_summary(summary, expected)


def test_two_baselines_side_by_side(client: Client, library: ImageExplainer) -> None:
    job_id = client.submit(
        "/photos/explain", files=_fields(sample="chelsea", compare_baseline="white", **FAST)
    )
    assert client.wait(job_id)["state"] == "done"
    exported = client.get(f"/jobs/{job_id}/export.json").json()["explanations"]
    assert [e["settings"]["baseline"] for e in exported] == ["black", "white"]
    photo = load_sample("chelsea")
    _check_summary(exported[1]["summary"], _expected(library, photo, baseline="white"))
    page = client.get(f"/jobs/{job_id}").text
    assert 'data-testid="compare-panel"' in page and 'data-testid="compare-delta"' in page
    exported_html = client.get(f"/jobs/{job_id}/export.html").text
    assert exported_html.count("data:image/png;base64,") == 10 and "/jobs/" not in exported_html


def test_a_second_method_side_by_side(client: Client) -> None:
    job_id = client.submit(
        "/photos/explain",
        files=_fields(sample="chelsea", compare_attribution="idgi", **FAST),
    )
    assert client.wait(job_id)["state"] == "done"
    exported = client.get(f"/jobs/{job_id}/export.json").json()["explanations"]
    assert [e["summary"]["attribution"] for e in exported] == ["integrated_gradients", "idgi"]


def _bomb_png(side: int = 60_000) -> bytes:
    """A valid PNG header declaring side × side pixels, with one tiny data chunk."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"this is not an image at all", "photo 'upload.png'"),
        (_png(np.ones((64, 64, 3)) * 0.5)[:120], "photo 'upload.png'"),
        (_bomb_png(), "decompression bomb"),
    ],
    ids=["not-an-image", "truncated", "decompression-bomb"],
)
def test_bad_photos_get_a_message_and_the_app_keeps_serving(
    client: Client, data: bytes, message: str
) -> None:
    answer = client.post(
        "/photos/explain", files={"photo": ("upload.png", data, "image/png"), **_fields(**FAST)}
    )
    assert answer.status_code == 400
    assert message in html.unescape(answer.text) and 'data-testid="error"' in answer.text
    assert "Traceback" not in answer.text
    assert client.get("/healthz").json() == {"ok": True}


def test_a_file_over_the_limit_is_refused_before_it_is_read(client: Client) -> None:
    huge = b"\0" * (3 * 1024 * 1024)  # the test app's limit is 2 MiB
    answer = client.post("/photos/explain", files={"photo": ("huge.png", huge, "image/png")})
    assert answer.status_code == 413 and "larger than the limit of 2.0 MiB" in answer.text
    assert client.get("/photos").status_code == 200


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"steps": "1"}, "steps: must be in [2, 513], got 1"),
        ({"steps": "many"}, "steps: expected a whole number"),
        ({"tolerance": "nan"}, "tolerance: must be in"),
        ({"baseline": "/etc/passwd"}, "baseline: must be one of"),
        ({"attribution": "magic"}, "attribution: must be one of"),
        ({"model": "../../model.pt"}, "model: must be one of"),
        ({"sample": "nosuch"}, "sample: must be one of"),
        ({"compare_baseline": "black"}, "the comparison repeats the same settings"),
    ],
)
def test_bad_settings_are_refused_in_one_line(
    client: Client, fields: dict[str, str], message: str
) -> None:
    answer = client.post("/photos/explain", files=_fields(**{**FAST, **fields}))
    assert answer.status_code == 400
    assert message in html.unescape(answer.text)


def test_an_unknown_target_fails_the_job_with_its_reason(client: Client) -> None:
    job_id = client.submit("/photos/explain", files=_fields(target="no such class", **FAST))
    status = client.wait(job_id)
    assert status["state"] == "failed" and "no such class" in status["error"]
    page = client.get(f"/jobs/{job_id}").text
    assert 'data-testid="error"' in page and "Traceback" not in page


def test_a_file_name_is_escaped(client: Client) -> None:
    name = '"><img src=x onerror=alert(1)>.png'
    files = {"photo": (name, _png(load_sample("coffee")), "image/png"), **_fields(**FAST)}
    job_id = client.submit("/photos/explain", files=files)
    assert client.wait(job_id)["state"] == "done"
    for path in (f"/jobs/{job_id}", f"/jobs/{job_id}/export.html"):
        text = client.get(path).text
        assert "<img src=x" not in text and "&lt;img src=x onerror=alert(1)&gt;" in text


def test_a_cancelled_job_stops_and_leaves_the_model_as_it_was(
    client: Client, library: ImageExplainer
) -> None:
    import torch

    served = client_session_model(client)
    before = [(p.requires_grad, p.detach().clone()) for p in served.parameters()]
    job_id = client.submit(
        "/photos/explain", files=_fields(sample="astronaut", steps="400", rule="riemann_middle")
    )
    client.post(f"/jobs/{job_id}/cancel")
    status = client.wait(job_id)
    assert status["state"] == "cancelled" and status["done"] < 400
    after = list(served.parameters())
    assert [p.requires_grad for p in after] == [grad for grad, _ in before]
    assert all(torch.equal(p.detach(), value) for p, (_, value) in zip(after, before, strict=True))
    # The next job runs as usual.
    again = client.submit("/photos/explain", files=_fields(sample="coffee", **FAST))
    assert client.wait(again)["state"] == "done"


def client_session_model(client: Client) -> Any:
    """The served app's own EfficientNet-Lite0 module (its one ImageExplainer's model)."""
    from intgrad.app.state import AppState

    running = client.running
    state: AppState = running.app.state.intgrad
    return state.registry.session("image").model.module


@pytest.mark.parametrize(
    "steps",
    [
        {"steps": "4"},
        # The form's default: adaptive, its process-wide caches shared by the eight jobs (a
        # loose tolerance keeps each job short).
        {"steps": "auto", "tolerance": "0.1"},
    ],
    ids=["steps-4", "steps-auto"],
)
def test_eight_concurrent_requests_equal_sequential_ones(
    client: Client, steps: dict[str, str]
) -> None:
    samples = ["chelsea", "coffee", "rocket", "astronaut"] * 2
    baselines = ["black", "white"] * 4

    def one(index: int) -> dict[str, Any]:
        fields = _fields(sample=samples[index], baseline=baselines[index], **steps)
        return client.result("/photos/explain", files=fields)["explanations"][0]["summary"]

    with ThreadPoolExecutor(max_workers=8) as pool:
        together = list(pool.map(one, range(8)))
    alone = [one(index) for index in range(8)]
    for concurrent, sequential in zip(together, alone, strict=True):
        for key in SUMMARY_KEYS:
            assert concurrent[key] == pytest.approx(sequential[key], rel=1e-6, abs=1e-9), key
    if steps["steps"] == "auto":  # each job stopped where "auto" is allowed to
        assert all(2 < summary["steps"] <= 513 for summary in together), together
        assert all(abs(summary["relative_delta"]) <= 0.1 for summary in together), together
    assert client.get("/healthz").json() == {"ok": True}
