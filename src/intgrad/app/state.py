"""What one app instance holds: its settings, its models and its jobs (no module globals)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field

from intgrad.app.config import AppConfig
from intgrad.app.jobs import JobManager
from intgrad.app.registry import ModelRegistry

__all__ = ["AppState", "UploadStore"]


class UploadStore:
    """Recent uploads in memory, by a random token, so that a result page can explain the same
    photo or CSV again (another target, another baseline) without a second upload.

    Args:
        kept: uploads remembered; the oldest are dropped first.
    """

    def __init__(self, kept: int = 32) -> None:
        self._items: OrderedDict[str, tuple[str, bytes]] = OrderedDict()
        self._kept = kept
        self._lock = threading.Lock()

    def put(self, name: str, data: bytes) -> str:
        """Keep an upload; returns its token."""
        import secrets

        token = secrets.token_urlsafe(12)
        with self._lock:
            self._items[token] = (name, data)
            while len(self._items) > self._kept:
                self._items.popitem(last=False)
        return token

    def get(self, token: str) -> tuple[str, bytes] | None:
        """The upload's name and bytes, or ``None`` when unknown or forgotten."""
        with self._lock:
            return self._items.get(token)


@dataclass
class AppState:
    """Everything the handlers of one app share."""

    config: AppConfig
    registry: ModelRegistry
    jobs: JobManager
    uploads: UploadStore = field(default_factory=UploadStore)
