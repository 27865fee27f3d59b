"""Jobs: progress, cancellation, one-line failures, and how many are kept."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from intgrad.app.jobs import JobManager, Progress, one_line


class _Result:
    title = "done"

    def __init__(self, value: int) -> None:
        self.value = value

    def html(self, job_id: str) -> str:
        return f"<p>{self.value}</p>"

    def export_html(self) -> str:
        return self.html("")

    def export_json(self) -> dict[str, Any]:
        return {"value": self.value}

    def pictures(self) -> dict[str, bytes]:
        return {}


def test_a_job_reports_progress_and_its_result() -> None:
    jobs = JobManager(workers=1, kept=4)

    def work(progress: Progress) -> _Result:
        progress.unit("steps")
        for done in range(1, 6):
            progress(done, 5)
        return _Result(42)

    job = jobs.wait(jobs.submit("test", "forty-two", work).id, timeout=10)
    assert job is not None and job.state == "done"
    assert job.status() == {
        "id": job.id,
        "state": "done",
        "done": 5,
        "total": 5,
        "note": "",
        "unit": "steps",
        "error": None,
    }
    assert job.result.export_json() == {"value": 42}
    jobs.shutdown()


def test_cancel_stops_a_running_job_at_its_next_report() -> None:
    jobs = JobManager(workers=1, kept=4)
    started, release = threading.Event(), threading.Event()
    reports: list[int] = []

    def work(progress: Progress) -> _Result:
        for done in range(100):
            progress(done, 100)
            reports.append(done)
            started.set()
            release.wait(5)
        return _Result(0)

    job = jobs.submit("test", "long", work)
    assert started.wait(5)
    jobs.cancel(job.id)
    release.set()
    finished = jobs.wait(job.id, timeout=10)
    assert finished is not None and finished.state == "cancelled" and finished.result is None
    assert reports == [0]  # the report after the cancel raised; nothing more ran
    jobs.shutdown()


def test_a_queued_job_that_is_cancelled_never_starts() -> None:
    jobs = JobManager(workers=1, kept=4)
    release = threading.Event()
    ran: list[str] = []

    def blocker(progress: Progress) -> _Result:
        release.wait(5)
        return _Result(1)

    def queued(progress: Progress) -> _Result:
        ran.append("started")
        return _Result(2)

    first = jobs.submit("test", "blocker", blocker)
    second = jobs.submit("test", "queued", queued)
    jobs.cancel(second.id)
    release.set()
    assert jobs.wait(first.id, 10).state == "done"
    assert jobs.wait(second.id, 10).state == "cancelled" and ran == []
    jobs.shutdown()


def test_failures_are_one_line_and_bugs_say_internal_error(caplog: Any) -> None:
    jobs = JobManager(workers=1, kept=4)

    def bad_input(progress: Progress) -> _Result:
        raise ValueError("steps must be >= 2\nsecond line")

    def bug(progress: Progress) -> _Result:
        raise ZeroDivisionError("division by zero")

    expected = jobs.wait(jobs.submit("test", "bad", bad_input).id, 10)
    assert expected.state == "failed" and expected.error == "steps must be >= 2"
    with caplog.at_level("ERROR", logger="intgrad.app"):
        failed = jobs.wait(jobs.submit("test", "bug", bug).id, 10)
    assert failed.error == "internal error (ZeroDivisionError); see the server's log"
    assert "ZeroDivisionError" in caplog.text  # the traceback goes to the log, not the page
    jobs.shutdown()


def test_only_the_last_jobs_are_kept() -> None:
    jobs = JobManager(workers=1, kept=3)
    ids = [jobs.wait(jobs.submit("test", str(i), lambda p: _Result(0)).id, 10).id for i in range(5)]
    jobs.submit("test", "one more", lambda p: _Result(0))
    assert [jobs.get(job_id) is None for job_id in ids] == [True, True, True, False, False]
    jobs.shutdown()


@pytest.mark.parametrize(
    ("error", "line"),
    [
        (ValueError("first\nsecond"), "first"),
        (KeyError("no cohort 'x'"), "no cohort 'x'"),
        (ValueError(""), "ValueError"),
    ],
)
def test_one_line(error: BaseException, line: str) -> None:
    assert one_line(error) == line
