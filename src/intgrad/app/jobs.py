"""Long computations as jobs: run on a bounded thread pool, with progress and cancellation.

A request that explains something submits a job and answers at once with the job's page; the
page polls the job's status (``done``/``total`` gradient evaluations) and shows the result
when it is ready. Cancelling sets a flag that the next progress report turns into
:class:`JobCancelled`, which unwinds the library call (its ``finally`` blocks restore the
model), so a cancelled job leaves nothing behind.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

__all__ = [
    "EXPECTED_ERRORS",
    "Job",
    "JobCancelled",
    "JobManager",
    "JobState",
    "Progress",
    "ViewResult",
    "one_line",
]

JobState = Literal["queued", "running", "done", "failed", "cancelled"]

#: Failures of bad input or of a model that the page reports in one line; anything else is a
#: bug: its traceback goes to the server's log and the page says "internal error".
EXPECTED_ERRORS: tuple[type[BaseException], ...] = (ValueError, TypeError, OSError, KeyError)

_LOG = logging.getLogger("intgrad.app")


class JobCancelled(Exception):  # noqa: N818 (not an error: the user asked)
    """Raised inside a job's work by its progress report once the job is cancelled."""


class ViewResult(Protocol):
    """What a finished job shows, and what its exports hold."""

    @property
    def title(self) -> str:
        """The result's heading."""
        ...

    def html(self, job_id: str) -> str:
        """The result as an HTML fragment of the job's page (links may use ``job_id``)."""
        ...

    def export_html(self) -> str:
        """A complete, self-contained HTML page of the same content (pictures inline)."""
        ...

    def export_json(self) -> dict[str, Any]:
        """The numbers shown, as JSON-ready values."""
        ...

    def pictures(self) -> dict[str, bytes]:
        """PNG files by name (``"overlay.png"``...); empty when the view has none."""
        ...


def one_line(error: BaseException) -> str:
    """The first line of an error's message (its type's name when the message is empty)."""
    text = str(error).strip()
    if isinstance(error, KeyError) and error.args:
        text = str(error.args[0])
    return text.splitlines()[0] if text else type(error).__name__


@dataclass
class Job:
    """One submitted computation; read by the job's page, written by its worker thread."""

    id: str
    view: str
    title: str
    state: JobState = "queued"
    done: int = 0
    total: int = 0
    note: str = ""
    unit: str = ""
    result: ViewResult | None = None
    error: str | None = None
    cancel_requested: threading.Event = field(default_factory=threading.Event)

    @property
    def finished_state(self) -> bool:
        """Whether the job has stopped (done, failed or cancelled)."""
        return self.state in ("done", "failed", "cancelled")

    def status(self) -> dict[str, Any]:
        """What the page polls: state, progress (``done`` of at most ``total`` ``unit``)."""
        return {
            "id": self.id,
            "state": self.state,
            "done": self.done,
            "total": self.total,
            "note": self.note,
            "unit": self.unit,
            "error": self.error,
        }


class Progress:
    """The ``progress(done, total)`` callback a job's work hands to the library."""

    def __init__(self, job: Job) -> None:
        self._job = job

    def __call__(self, done: int, total: int) -> None:
        self.check()
        self._job.done, self._job.total = int(done), max(int(total), 1)

    def unit(self, text: str) -> None:
        """Name what ``done`` and ``total`` count (e.g. "gradient evaluations")."""
        self._job.unit = text

    def note(self, text: str) -> None:
        """Say what the job is doing now (e.g. "explaining baseline 2 of 2")."""
        self.check()
        self._job.note = text

    def check(self) -> None:
        """Raise :class:`JobCancelled` when the job was cancelled."""
        if self._job.cancel_requested.is_set():
            raise JobCancelled("cancelled")


Work = Callable[[Progress], ViewResult]


class JobManager:
    """Runs jobs on ``workers`` threads and keeps the last ``kept`` of them.

    Args:
        workers: jobs running at once.
        kept: jobs remembered; when more are submitted, the oldest finished ones are dropped.
    """

    def __init__(self, workers: int, kept: int) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="intgrad-job")
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._kept = kept
        self._lock = threading.Lock()

    def submit(self, view: str, title: str, work: Work) -> Job:
        """Queue ``work`` and return its job at once."""
        job = Job(id=secrets.token_urlsafe(12), view=view, title=title)
        with self._lock:
            self._jobs[job.id] = job
            self._forget_old()
        self._pool.submit(self._run, job, work)
        return job

    def get(self, job_id: str) -> Job | None:
        """The job of that id, or ``None`` (unknown, or forgotten)."""
        with self._lock:
            return self._jobs.get(job_id)

    def cancel(self, job_id: str) -> Job | None:
        """Ask a job to stop; a queued job never starts, a running one stops at its next
        progress report. Returns the job, or ``None`` when there is none of that id."""
        job = self.get(job_id)
        if job is not None and not job.finished_state:
            job.cancel_requested.set()
        return job

    def wait(self, job_id: str, timeout: float) -> Job | None:
        """Block until the job has stopped or ``timeout`` seconds passed (for tests, scripts)."""
        deadline = time.monotonic() + timeout
        job = self.get(job_id)
        while job is not None and not job.finished_state and time.monotonic() < deadline:
            time.sleep(0.02)
        return job

    def shutdown(self) -> None:
        """Cancel every job and stop the threads (running jobs stop at their next report)."""
        with self._lock:
            jobs = list(self._jobs.values())
        for job in jobs:
            job.cancel_requested.set()
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _forget_old(self) -> None:
        finished = [key for key, job in self._jobs.items() if job.finished_state]
        while len(self._jobs) > self._kept and finished:
            del self._jobs[finished.pop(0)]

    def _run(self, job: Job, work: Work) -> None:
        if job.cancel_requested.is_set():
            job.state = "cancelled"
            return
        job.state = "running"
        try:
            result = work(Progress(job))
        except JobCancelled:
            job.state = "cancelled"
        except EXPECTED_ERRORS as error:
            job.error = one_line(error)
            job.state = "failed"
        except Exception as error:  # a bug: logged in full, reported in one line
            _LOG.exception("job %s (%s) failed", job.id, job.view)
            job.error = f"internal error ({type(error).__name__}); see the server's log"
            job.state = "failed"
        else:
            job.result = result
            job.done = max(job.done, job.total)
            job.state = "done"
