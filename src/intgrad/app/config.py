"""The app's limits and settings, fixed when the app is made (no module-level state)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["AppConfig"]


@dataclass(frozen=True)
class AppConfig:
    """What one app instance allows and where it looks for dataset summaries.

    Attributes:
        max_upload_bytes: the largest request body accepted, in bytes (a photo, a CSV or a
            summary); larger requests are refused with 413 before they are read in full.
        max_pixels: the largest photo decoded, in pixels (width × height); larger headers are
            refused before any pixel is decoded (decompression bombs).
        max_text_chars: the longest text explained, in characters.
        max_rows: the most CSV rows read from one upload.
        max_steps: the largest fixed step count (and the ``max_steps`` of ``steps="auto"``).
        workers: how many jobs run at once (threads); more wait in a queue.
        kept_jobs: finished jobs kept for their pages and exports; the oldest go first.
        summary_dirs: server-side folders searched for dataset summaries (``summary.json``
            files, as ``intgrad tabular explain`` and ``explain_dataset`` write them); the
            client picks one by name, never by path.
    """

    max_upload_bytes: int = 10 * 1024 * 1024
    max_pixels: int = 40_000_000
    max_text_chars: int = 5_000
    max_rows: int = 10_000
    max_steps: int = 513
    workers: int = 2
    kept_jobs: int = 64
    summary_dirs: tuple[Path, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        for name in ("max_upload_bytes", "max_pixels", "max_text_chars", "max_rows"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 1 <= self.workers <= 64:
            raise ValueError(f"workers must be in [1, 64], got {self.workers}")
        if self.kept_jobs < 1:
            raise ValueError(f"kept_jobs must be >= 1, got {self.kept_jobs}")
        if self.max_steps < 2:
            raise ValueError(f"max_steps must be >= 2, got {self.max_steps}")
