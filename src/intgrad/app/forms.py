"""Reading what a client sends: a size limit on every body, and typed, bounded form fields.

Nothing a client sends names a file on the server: uploads are read into memory (at most
``AppConfig.max_upload_bytes``), models and summaries are chosen by name from server-side
registries.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any

from starlette.datastructures import FormData, UploadFile

__all__ = [
    "BadRequest",
    "BodyLimit",
    "TooLarge",
    "choice",
    "number",
    "steps_field",
    "text_field",
    "upload",
    "whole_number",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class BadRequest(ValueError):  # noqa: N818 (named after HTTP's 400)
    """A form field or upload the app cannot use; its message is shown in the page (400)."""


class TooLarge(BadRequest):
    """A request body over the size limit (413)."""


class BodyLimit:
    """ASGI middleware refusing request bodies over ``limit`` bytes with a 413 page.

    A declared ``Content-Length`` over the limit is refused before anything is read; a body
    that grows past it while streaming (chunked uploads) is cut off there.
    """

    def __init__(self, app: ASGIApp, limit: int, page: Callable[[str], str]) -> None:
        self.app, self.limit, self.page = app, limit, page

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._refuse(send)
            return
        seen = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise TooLarge(self._message())
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except TooLarge:
            if not started:
                await self._refuse(send)

    def _message(self) -> str:
        return f"the request is larger than the limit of {self.limit / 2**20:.1f} MiB"

    async def _refuse(self, send: Send) -> None:
        body = self.page(self._message()).encode("utf-8")
        headers = [
            (b"content-type", b"text/html; charset=utf-8"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def text_field(
    form: FormData, name: str, default: str = "", *, max_chars: int = 2_000, required: bool = False
) -> str:
    """A text field, stripped; refused when longer than ``max_chars`` or missing if required."""
    value = form.get(name)
    if isinstance(value, UploadFile):
        raise BadRequest(f"{name}: expected text, got a file")
    text = default if value is None else str(value).strip()
    if required and not text:
        raise BadRequest(f"{name}: required")
    if len(text) > max_chars:
        raise BadRequest(f"{name}: {len(text)} characters, more than the limit of {max_chars}")
    return text


def choice(form: FormData, name: str, allowed: Sequence[str], default: str) -> str:
    """One of ``allowed`` (``default`` when the field is absent or empty)."""
    value = text_field(form, name, default, max_chars=200) or default
    if value not in allowed:
        raise BadRequest(f"{name}: must be one of {', '.join(allowed)}, got {value!r}")
    return value


def whole_number(form: FormData, name: str, default: int, low: int, high: int) -> int:
    """A whole number in [low, high]."""
    text = text_field(form, name, str(default), max_chars=20) or str(default)
    try:
        value = int(text)
    except ValueError:
        raise BadRequest(f"{name}: expected a whole number, got {text!r}") from None
    if not low <= value <= high:
        raise BadRequest(f"{name}: must be in [{low}, {high}], got {value}")
    return value


def number(form: FormData, name: str, default: float, low: float, high: float) -> float:
    """A finite number in [low, high]."""
    text = text_field(form, name, repr(default), max_chars=40) or repr(default)
    try:
        value = float(text)
    except ValueError:
        raise BadRequest(f"{name}: expected a number, got {text!r}") from None
    if not low <= value <= high:  # also refuses NaN
        raise BadRequest(f"{name}: must be in [{low:g}, {high:g}], got {text}")
    return value


def steps_field(form: FormData, max_steps: int) -> tuple[int | str, float]:
    """``(steps, tolerance)``: fields ``steps`` ("auto" or a count in [2, max_steps]) and
    ``tolerance`` (the relative completeness gap that "auto" must reach, in [1e-4, 0.5])."""
    text = text_field(form, "steps", "auto", max_chars=20) or "auto"
    tolerance = number(form, "tolerance", 0.01, 1e-4, 0.5)
    if text == "auto":
        return "auto", tolerance
    return whole_number(form, "steps", 32, 2, max_steps), tolerance


async def upload(form: FormData, name: str) -> tuple[str, bytes] | None:
    """An uploaded file's name and bytes, or ``None`` when no file was chosen."""
    value = form.get(name)
    if value is None or isinstance(value, str):
        return None
    data = await value.read()
    if not value.filename and not data:
        return None
    if not data:
        raise BadRequest(f"{name}: the file {value.filename!r} is empty")
    return value.filename or name, data
