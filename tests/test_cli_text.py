"""``intgrad text`` end to end, in subprocesses, on the embedded sentiment classifier.

Every command runs once, from the module-scoped ``runs`` fixture, a few at a time in parallel;
the tests then read what each run printed, returned and wrote.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

CLI = (sys.executable, "-m", "intgrad.cli", "text")
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}
PARALLEL_RUNS = min(4, os.cpu_count() or 1)
EXIT_FAILED, EXIT_USAGE = 1, 2
SENTINEL = '{"written": "before the command"}\n'
# The fields every image summary has too, under the same names.
SHARED_KEYS = {
    "model",
    "target",
    "target_label",
    "f_input",
    "f_baseline",
    "attribution_sum",
    "delta",
    "relative_delta",
    "steps",
    "method",
    "baseline",
    "seconds",
}
LONG_TEXT = " ".join(["wonderful"] * 520)


@dataclass(frozen=True)
class Run:
    code: int
    stdout: str
    stderr: str


def _commands(tmp: Path) -> dict[str, list[str]]:
    lines = tmp / "texts.txt"
    lines.write_text("a gripping film\n\n  \na boring film\n", encoding="utf-8")
    table = tmp / "reviews.csv"
    table.write_text('id,review\n1,"a warm, funny film"\n2,dull\n', encoding="utf-8")
    kept = tmp / "kept.json"
    kept.write_text(SENTINEL)
    out = tmp / "out"
    out.mkdir()
    return {
        "ok": [
            "a gripping, beautifully acted film",
            "dull <script>alert(1)</script> & flat",
            "--target",
            "positive",
            "--baseline",
            "pad",
            "--steps",
            "auto",
            "--html",
            str(out / "page.html"),
            "--json",
        ],
        "plain": [
            "a gripping film",
            "--steps",
            "8",
            "--color",
            "never",
            "--json-file",
            str(out / "plain.json"),
        ],
        "lines": ["--file", str(lines), "--steps", "4", "--json"],
        "csv": ["--file", str(table), "--column", "review", "--steps", "4", "--json"],
        "empty_one": ["", "a fine film", "--steps", "4", "--json"],
        "baseline_misfit": [
            "a fine film",
            "dull",
            "a dull plot",
            "--baseline",
            "text:a good film",
            "--steps",
            "4",
            "--json",
        ],
        "long_truncated": [LONG_TEXT, "--steps", "2", "--json"],
        "long_refused": [LONG_TEXT, "--steps", "2", "--too-long", "refuse"],
        "unknown_label": ["a film", "--target", "neutral", "--json-file", str(kept)],
        "no_texts": [],
        "missing_file": ["--file", str(tmp / "nope.txt")],
        "missing_column": ["--file", str(table), "--column", "text"],
        "column_alone": ["a film", "--column", "review"],
        "bad_baseline": ["a film", "--baseline", "nothing"],
        "bad_html": ["a film", "--html", str(tmp / "no-dir" / "page.html")],
        "auto_method": ["a film", "--steps", "auto", "--method", "riemann_left"],
        "bad_model": ["a film", "--model", "no-such-model"],
        "bad_steps": ["a film", "--steps", "0"],
    }


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Run]]:
    tmp = tmp_path_factory.mktemp("cli-text")
    commands = _commands(tmp)

    def run(arguments: list[str]) -> Run:
        done = subprocess.run(
            [*CLI, *arguments], capture_output=True, text=True, env=ENV, timeout=300, cwd=tmp
        )
        return Run(done.returncode, done.stdout, done.stderr)

    with ThreadPoolExecutor(PARALLEL_RUNS) as pool:
        results = dict(zip(commands, pool.map(run, commands.values()), strict=True))
    return tmp, results


def _one_line_error(run: Run, code: int, *fragments: str) -> None:
    assert run.code == code, run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("intgrad: error: "), run.stderr
    assert "Traceback" not in run.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def test_json_output_has_the_shared_fields_and_adds_up(runs: tuple[Path, dict[str, Run]]) -> None:
    _, results = runs
    ok = results["ok"]
    assert ok.code == 0, ok.stderr
    summaries = json.loads(ok.stdout)
    assert len(summaries) == 2
    for summary in summaries:
        assert summary.keys() >= SHARED_KEYS
        assert summary["target_label"] == "positive" and summary["method"] == "auto"
        assert summary["baseline"] == "pad" and summary["model"] == "minilm-sentiment"
        tokens = [t["attribution"] for t in summary["tokens"]]
        words = [w["attribution"] for w in summary["words"]]
        assert sum(tokens) == pytest.approx(summary["attribution_sum"], abs=1e-9)
        assert sum(words) == pytest.approx(summary["attribution_sum"], abs=1e-9)
        gap = summary["attribution_sum"] - (summary["f_input"] - summary["f_baseline"])
        assert gap == pytest.approx(summary["delta"], abs=1e-9)
        assert (
            abs(summary["delta"]) <= 0.01 * abs(summary["f_input"] - summary["f_baseline"]) + 1e-6
        )
    assert summaries[0]["prediction"]["label"] == "positive"
    assert summaries[1]["prediction"]["label"] == "negative"


def test_the_html_page_escapes_the_text(runs: tuple[Path, dict[str, Run]]) -> None:
    tmp, _ = runs
    page = (tmp / "out" / "page.html").read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert "<script" not in page and "&lt;" in page and "&amp;" in page


def test_plain_terminal_view_and_json_file(runs: tuple[Path, dict[str, Run]]) -> None:
    tmp, results = runs
    plain = results["plain"]
    assert plain.code == 0, plain.stderr
    assert "\x1b" not in plain.stdout and "gripping[+" in plain.stdout
    assert "prediction: positive" in plain.stdout
    (summary,) = json.loads((tmp / "out" / "plain.json").read_text())
    assert summary["steps"] == 8 and summary["text"] == "a gripping film"


def test_texts_from_a_file_of_lines_and_a_csv_column(runs: tuple[Path, dict[str, Run]]) -> None:
    _, results = runs
    lines = json.loads(results["lines"].stdout)
    assert [s["text"] for s in lines] == ["a gripping film", "a boring film"]
    assert [s["name"] for s in lines] == ["texts.txt:1", "texts.txt:2"]
    # Two texts of 5 tokens are attributed in one call: they share its duration.
    assert lines[0]["seconds"] == lines[1]["seconds"] > 0
    table = json.loads(results["csv"].stdout)
    assert [s["text"] for s in table] == ["a warm, funny film", "dull"]


def test_an_empty_text_fails_alone(runs: tuple[Path, dict[str, Run]]) -> None:
    _, results = runs
    run = results["empty_one"]
    _one_line_error(run, EXIT_FAILED, "text 1: the text is empty")
    assert [s["text"] for s in json.loads(run.stdout)] == ["a fine film"]


def test_a_text_the_baseline_does_not_fit_fails_alone(runs: tuple[Path, dict[str, Run]]) -> None:
    _, results = runs
    run = results["baseline_misfit"]
    _one_line_error(
        run, EXIT_FAILED, "text 2: the baseline text has 3 tokens and the text 'dull' 1"
    )
    summaries = json.loads(run.stdout)
    assert [s["text"] for s in summaries] == ["a fine film", "a dull plot"]
    assert [s["baseline"] for s in summaries] == ["text:a good film"] * 2


def test_an_over_long_text_is_truncated_with_a_warning_or_refused(
    runs: tuple[Path, dict[str, Run]],
) -> None:
    _, results = runs
    truncated = results["long_truncated"]
    assert truncated.code == 0
    assert truncated.stderr.strip().startswith("intgrad: warning: text 1: the text has 522 tokens")
    (summary,) = json.loads(truncated.stdout)
    assert summary["dropped_tokens"] == 10 and len(summary["tokens"]) == 512
    _one_line_error(results["long_refused"], EXIT_FAILED, "522 tokens", "--too-long refuse")


@pytest.mark.parametrize(
    ("name", "fragments"),
    [
        ("unknown_label", ("--target: unknown label 'neutral'", "'negative', 'positive'")),
        ("no_texts", ("give at least one TEXT or --file",)),
        ("missing_file", ("nope.txt", "cannot read it")),
        ("missing_column", ("no column 'text'", "columns: id, review")),
        ("column_alone", ("--column needs --file",)),
        ("bad_baseline", ("--baseline: unknown baseline 'nothing'",)),
        ("bad_html", ("--html", "not a file in an existing directory")),
        ("auto_method", ("--method applies to a fixed --steps",)),
        ("bad_model", ("--model: unknown text model 'no-such-model'",)),
        ("bad_steps", ("--steps",)),
    ],
)
def test_bad_arguments_are_one_line_usage_errors(
    runs: tuple[Path, dict[str, Run]], name: str, fragments: tuple[str, ...]
) -> None:
    _, results = runs
    _one_line_error(results[name], EXIT_USAGE, *fragments)


def test_a_failed_command_leaves_existing_files_alone(runs: tuple[Path, dict[str, Run]]) -> None:
    tmp, _ = runs
    assert (tmp / "kept.json").read_text() == SENTINEL
