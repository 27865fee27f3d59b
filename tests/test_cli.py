"""The ``intgrad`` command end to end, in subprocesses, on the sample photos and the real model.

Every command of this module runs once, from the module-scoped ``runs`` fixture, a few at a time
in parallel (most of each run is importing PyTorch); the tests then read what each run printed,
returned and wrote. Only the argument parser is also tested in this process.
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import matplotlib
import numpy as np
import pytest
from PIL import Image

import intgrad.cli
from intgrad import METHODS
from intgrad._core.adaptive import FIRST_CHECK_NODES
from intgrad.cli import UsageError, build_parser
from intgrad.images import IMAGE_BACKENDS, IMAGE_BASELINES, RESIZE_MODES, available_models
from intgrad.images.samples import SAMPLE_NAMES, load_sample

CLI = (sys.executable, "-m", "intgrad.cli")
# The model on one thread per process: the runs share a few cores and would oversubscribe them.
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}
STEPS = "4"
# As many runs at a time as there are cores (at most 4): most of a run is importing PyTorch.
PARALLEL_RUNS = min(4, os.cpu_count() or 1)
TIMEOUT_S = 300
EXIT_FAILED, EXIT_USAGE = 1, 2
# TensorFlow's C++ start-up notes ("oneDNN custom operations are on", on CPUs where it enables
# them) reach stderr before its logging is set up, whatever TF_CPP_MIN_LOG_LEVEL says
# (tensorflow/tensorflow#100442). Only these two kinds of line are not the command's own.
TENSORFLOW_NOTE = re.compile(
    r"WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    r"|I\d{4} \d\d:\d\d:\d+\.\d+ +\d+ port\.cc:\d+\] oneDNN custom operations are on\. .*"
)

CAT_CLASSES = range(281, 286)
ESPRESSO = 967
SENTINEL = '{"written": "before the command"}\n'
SUMMARY_KEYS = {
    "image",
    "model",
    "target",
    "target_label",
    "top_k",
    "f_input",
    "f_baseline",
    "attribution_sum",
    "delta",
    "steps",
    "method",
    "baseline",
    "seconds",
}
# Pixel sizes the figures declare: 8 x 8, 10 x 4 and 6 panels x 2.2 inches, saved at 100 dpi.
FIGURE_SIZES = {
    "-figure.png": (800, 800),
    "-path.png": (1000, 400),
    "-interpolation.png": (1320, 220),
}
OUTPUT_SUFFIXES = (
    ".json",
    "-attributions.npy",
    "-mask.png",
    "-overlay.png",
    *FIGURE_SIZES,
)

# Every option away from its default, in one run.
OPTIONS = (
    *("--target", "espresso", "--baseline", "white", "--method", "riemann_trapezoid"),
    *("--signed", "--cmap", "viridis", "--resize", "crop"),
)

# Bad arguments: each command, and a word its one-line message must contain. "{out}" stands for
# the case's own output folder, which holds a sentinel coffee.json that must survive.
_EXPLAIN = ("explain", "--sample", "coffee", "--steps", "2", "--output-dir", "{out}")
BAD_ARGUMENTS: dict[str, tuple[tuple[str, ...], str]] = {
    "unknown label": ((*_EXPLAIN, "--target", "notaclass"), "notaclass"),
    "index out of range": ((*_EXPLAIN, "--target", "1000"), "1000"),
    "zero steps": ((*_EXPLAIN, "--steps", "0"), "--steps"),
    "unknown method": ((*_EXPLAIN, "--method", "simpson"), "simpson"),
    "unknown baseline": ((*_EXPLAIN, "--baseline", "purple"), "purple"),
    "zero batch size": ((*_EXPLAIN, "--batch-size", "0"), "--batch-size"),
    "unknown sample": ((*_EXPLAIN, "--sample", "nosuchsample"), "nosuchsample"),
    "unknown cmap": ((*_EXPLAIN, "--cmap", "nosuchcmap"), "nosuchcmap"),
    "unknown model": ((*_EXPLAIN, "--model", "nosuchmodel"), "nosuchmodel"),
    "no images": (("explain", "--output-dir", "{out}"), "IMAGE"),
    "auto with a method": ((*_EXPLAIN, "--steps", "auto", "--method", "riemann_left"), "--method"),
    "tolerance out of range": ((*_EXPLAIN, "--steps", "auto", "--tolerance", "2"), "--tolerance"),
    "tensorflow with another model": (
        (*_EXPLAIN, "--backend", "tensorflow", "--model", "torchvision:googlenet"),
        "torchvision:googlenet",
    ),
    "output dir is a file": ((*_EXPLAIN, "--output-dir", "{out}/coffee.json"), "not a directory"),
    "predict: unknown sample": (("predict", "--sample", "nosuchsample"), "nosuchsample"),
    "predict: zero top-k": (("predict", "--sample", "coffee", "--top-k", "0"), "--top-k"),
}


@dataclass(frozen=True)
class Run:
    """What one command printed and returned, and the folder it was told to write to."""

    returncode: int
    stdout: str
    stderr: str
    output_dir: Path

    @property
    def error_lines(self) -> list[str]:
        return self.stderr.splitlines()


def _execute(command: list[str], output_dir: Path, cwd: Path) -> Run:
    done = subprocess.run(
        [*CLI, *command],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=ENV,
        timeout=TIMEOUT_S,
        check=False,
    )
    return Run(done.returncode, done.stdout, done.stderr, output_dir)


def _bad_command(case: str, folder: Path) -> tuple[list[str], Path]:
    """The command of a bad-argument case, and its folder, made, with the sentinel in it."""
    folder.mkdir()
    (folder / "coffee.json").write_text(SENTINEL)
    command, _ = BAD_ARGUMENTS[case]
    return [argument.replace("{out}", str(folder)) for argument in command], folder


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with a good photo ``x/coffee.png`` and a text file ``bad.jpg``."""
    root = tmp_path_factory.mktemp("cli")
    (root / "x").mkdir()
    pixels = np.round(load_sample("coffee") * 255).astype(np.uint8)
    Image.fromarray(pixels).save(root / "x" / "coffee.png")
    (root / "bad.jpg").write_text("this is not a JPEG\n")
    return root


@pytest.fixture(scope="module")
def runs(workspace: Path) -> dict[str, Run]:
    """Run every command of this module once; name → result. The slowest are started first."""

    def explain(name: str, *arguments: str) -> tuple[list[str], Path]:
        folder = workspace / name
        return ["explain", "--steps", STEPS, "--output-dir", str(folder), *arguments], folder

    commands = {
        "mixed": explain("mixed", "--sample", "coffee", "x/coffee.png", "bad.jpg", "missing.png"),
        "options": explain("options", "--sample", "coffee", *OPTIONS),
        "explain": explain("plain", "--sample", "coffee"),
        "auto": explain("auto", "--sample", "coffee", "--steps", "auto"),
        "tensorflow": explain("tensorflow", "--sample", "coffee", "--backend", "tensorflow"),
        "predict json": (["predict", "--sample", "chelsea", "--json"], workspace),
        "predict text": (["predict", "--sample", "chelsea"], workspace),
        "samples": (["samples"], workspace),
        "help": (["--help"], workspace),
    }
    for index, case in enumerate(BAD_ARGUMENTS):
        commands[case] = _bad_command(case, workspace / f"bad-{index}")
    with ThreadPoolExecutor(PARALLEL_RUNS) as pool:
        futures = {
            name: pool.submit(_execute, command, folder, workspace)
            for name, (command, folder) in commands.items()
        }
        return {name: future.result() for name, future in futures.items()}


def _assert_clean(run: Run, *, tensorflow: bool = False) -> None:
    assert run.returncode == 0, run.stderr
    lines = run.error_lines
    if tensorflow:
        lines = [line for line in lines if not TENSORFLOW_NOTE.fullmatch(line)]
    assert lines == []


def _outputs(stem: str) -> list[str]:
    return sorted(f"{stem}{suffix}" for suffix in OUTPUT_SUFFIXES)


def _png_size(path: Path) -> tuple[int, int]:
    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        assert image.format == "PNG"
        return image.size


# --- samples, help, predict -------------------------------------------------------------------


@pytest.mark.slow
def test_samples_lists_the_four_photos(runs: dict[str, Run]) -> None:
    run = runs["samples"]
    _assert_clean(run)
    lines = run.stdout.splitlines()
    assert [line.split(":")[0] for line in lines] == list(SAMPLE_NAMES)
    assert lines[0] == "chelsea: a tabby cat (451×300)"


@pytest.mark.slow
def test_help_exits_zero(runs: dict[str, Run]) -> None:
    run = runs["help"]
    _assert_clean(run)
    for command in ("predict", "explain", "samples"):
        assert command in run.stdout


@pytest.mark.slow
def test_predict_json(runs: dict[str, Run]) -> None:
    run = runs["predict json"]
    _assert_clean(run)
    report = json.loads(run.stdout)
    assert list(report) == ["chelsea"]
    best = report["chelsea"]
    assert len(best) == 3
    assert all(set(p) == {"index", "label", "probability"} for p in best)
    assert best[0]["index"] in CAT_CLASSES
    probabilities = [p["probability"] for p in best]
    assert probabilities == sorted(probabilities, reverse=True)
    assert 0.0 < sum(probabilities) <= 1.0 + 1e-9


@pytest.mark.slow
def test_predict_text_matches_json(runs: dict[str, Run]) -> None:
    run = runs["predict text"]
    _assert_clean(run)
    best = json.loads(runs["predict json"].stdout)["chelsea"]
    expected = ", ".join(f"{p['label']} ({p['index']}) {p['probability']:.3f}" for p in best)
    assert run.stdout == f"chelsea: {expected}\n"


# --- explain ----------------------------------------------------------------------------------


@pytest.mark.slow
def test_explain_writes_every_file_and_nothing_else(runs: dict[str, Run]) -> None:
    run = runs["explain"]
    _assert_clean(run)
    assert sorted(p.name for p in run.output_dir.iterdir()) == _outputs("coffee")


@pytest.mark.slow
def test_explain_json_summary(runs: dict[str, Run]) -> None:
    folder = runs["explain"].output_dir
    summary = json.loads((folder / "coffee.json").read_text())
    assert set(summary) >= SUMMARY_KEYS
    assert summary["image"] == "coffee"
    assert summary["model"] == "efficientnet-lite0"
    assert summary["target"] == ESPRESSO == summary["top_k"][0]["index"]
    assert summary["target_label"] == "espresso"
    assert summary["steps"] == int(STEPS)
    assert summary["method"] == "gausslegendre"
    assert summary["baseline"] == "black"
    assert sorted(summary["files"]) == _outputs("coffee")
    assert summary["attribution_sum"] == pytest.approx(
        summary["f_input"] - summary["f_baseline"] + summary["delta"], rel=1e-9
    )


@pytest.mark.slow
def test_explain_attributions_file(runs: dict[str, Run]) -> None:
    folder = runs["explain"].output_dir
    attributions = np.load(folder / "coffee-attributions.npy", allow_pickle=False)
    summary = json.loads((folder / "coffee.json").read_text())
    assert attributions.shape == (224, 224, 3)
    assert attributions.dtype == np.float32
    total = float(attributions.astype(np.float64).sum())
    assert total == pytest.approx(summary["attribution_sum"], rel=1e-3)
    # The black padding above the photo gets exactly nothing.
    assert np.all(attributions[:30] == 0.0)


@pytest.mark.slow
def test_explain_pictures_are_pngs_of_the_declared_sizes(runs: dict[str, Run]) -> None:
    folder = runs["explain"].output_dir
    for suffix in ("-mask.png", "-overlay.png"):
        assert _png_size(folder / f"coffee{suffix}") == (224, 224)
        with Image.open(folder / f"coffee{suffix}") as image:
            assert image.mode == "RGB"
    for suffix, size in FIGURE_SIZES.items():
        assert _png_size(folder / f"coffee{suffix}") == size


@pytest.mark.slow
def test_explain_prints_a_short_summary(runs: dict[str, Run]) -> None:
    lines = runs["explain"].stdout.splitlines()
    assert len(lines) == 3
    assert lines[0].startswith("coffee: top-3: espresso ")
    assert lines[1].startswith("  target: espresso (967); F(x) = ")
    assert lines[2].startswith("  wrote coffee-attributions.npy")


@pytest.mark.slow
def test_options_are_used_and_reported(runs: dict[str, Run]) -> None:
    run = runs["options"]
    _assert_clean(run)
    summary = json.loads((run.output_dir / "coffee.json").read_text())
    assert summary["target"] == ESPRESSO
    assert summary["target_label"] == "espresso"
    assert summary["baseline"] == "white"
    assert summary["method"] == "riemann_trapezoid"
    assert summary["steps"] == int(STEPS)
    # --resize crop: no padding, so the top rows are photo and get attribution.
    attributions = np.load(run.output_dir / "coffee-attributions.npy")
    assert np.count_nonzero(attributions[:30]) > 0.9 * attributions[:30].size


@pytest.mark.slow
def test_signed_viridis_mask(runs: dict[str, Run]) -> None:
    with Image.open(runs["options"].output_dir / "coffee-mask.png") as image:
        pixels = np.asarray(image, dtype=np.float64).reshape(-1, 3)
    lut = matplotlib.colormaps["viridis"](np.linspace(0.0, 1.0, 256))[:, :3] * 255
    distances = np.sqrt(((pixels[:, None, :] - lut[None]) ** 2).sum(axis=-1))
    # Every pixel is a viridis colour (to uint8 rounding: measured at most 0.8 levels away).
    assert distances.min(axis=1).max() < 1.5
    # Signed: zero is the middle of the map and about half the pixels are negative (measured
    # median index 127; the unsigned mask of the same photo has median 16).
    assert 96 <= np.median(distances.argmin(axis=1)) <= 160


# --- several images, some bad ------------------------------------------------------------------


@pytest.mark.slow
def test_bad_images_are_reported_and_good_ones_written(runs: dict[str, Run]) -> None:
    run = runs["mixed"]
    assert run.returncode == EXIT_FAILED
    assert "Traceback" not in run.stderr + run.stdout
    assert len(run.error_lines) == 2
    for line, name in zip(run.error_lines, ("bad.jpg", "missing.png"), strict=True):
        assert line.startswith("intgrad: error: ")
        assert name in line
    written = sorted(p.name for p in run.output_dir.iterdir())
    assert written == sorted(_outputs("coffee") + _outputs("coffee-2"))


@pytest.mark.slow
def test_same_stem_twice_gets_a_suffix(runs: dict[str, Run]) -> None:
    folder = runs["mixed"].output_dir
    first = json.loads((folder / "coffee.json").read_text())
    second = json.loads((folder / "coffee-2.json").read_text())
    assert first["image"] == "coffee"
    assert second["image"] == "x/coffee.png"
    assert all(name.startswith("coffee-2") for name in second["files"])
    # The PNG holds the sample's own 8-bit pixels: both runs explain the same image.
    assert second["target"] == first["target"]
    assert second["f_input"] == pytest.approx(first["f_input"], rel=1e-6)
    assert second["attribution_sum"] == pytest.approx(first["attribution_sum"], rel=1e-6)


# --- bad arguments ----------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("case", list(BAD_ARGUMENTS))
def test_bad_arguments_fail_in_one_line_and_write_nothing(runs: dict[str, Run], case: str) -> None:
    run = runs[case]
    assert run.returncode != 0
    assert run.stdout == ""
    assert "Traceback" not in run.stderr
    (line,) = run.error_lines
    assert line.startswith("intgrad: error: ")
    assert BAD_ARGUMENTS[case][1] in line
    assert [p.name for p in run.output_dir.iterdir()] == ["coffee.json"]
    assert (run.output_dir / "coffee.json").read_text() == SENTINEL


@pytest.mark.slow
@pytest.mark.parametrize("case", list(BAD_ARGUMENTS))
def test_bad_arguments_exit_with_usage_code(runs: dict[str, Run], case: str) -> None:
    assert runs[case].returncode == EXIT_USAGE


@pytest.mark.slow
def test_explain_auto_steps(runs: dict[str, Run]) -> None:
    run = runs["auto"]
    _assert_clean(run)
    summary = json.loads((run.output_dir / "coffee.json").read_text())
    assert summary["method"] == "auto"
    # Cells refine one at a time: any count from the first check (25) to max_steps (513), and
    # more than the first check on this photo (its first check misses the L2 bar).
    assert FIRST_CHECK_NODES < summary["steps"] <= 513
    assert abs(summary["delta"]) <= 0.01 * abs(summary["f_input"] - summary["f_baseline"])
    assert summary["relative_delta"] == pytest.approx(
        abs(summary["delta"]) / abs(summary["f_input"] - summary["f_baseline"]), rel=1e-6
    )


@pytest.mark.slow
def test_explain_in_tensorflow_matches_torch(runs: dict[str, Run]) -> None:
    torch_run, tf_run = runs["explain"], runs["tensorflow"]
    _assert_clean(tf_run, tensorflow=True)
    ours = json.loads((tf_run.output_dir / "coffee.json").read_text())
    reference = json.loads((torch_run.output_dir / "coffee.json").read_text())
    assert [p["index"] for p in ours["top_k"]] == [p["index"] for p in reference["top_k"]]
    assert ours["f_input"] == pytest.approx(reference["f_input"], rel=1e-5)
    a = np.load(tf_run.output_dir / "coffee-attributions.npy")
    b = np.load(torch_run.output_dir / "coffee-attributions.npy")
    # Same weights in both frameworks; float32 gradients differ by ~1e-4 relative (measured).
    assert np.linalg.norm(a - b) / np.linalg.norm(b) < 2e-3


# --- the parser's choices are the library's names -----------------------------------------------


def _explain_help(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("COLUMNS", "1000")  # one line per option: argparse wraps at hyphens
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["explain", "--help"])
    assert exit_info.value.code == 0
    return capsys.readouterr().out


@pytest.mark.parametrize(
    ("option", "names"),
    [("--method", METHODS), ("--backend", IMAGE_BACKENDS), ("--resize", RESIZE_MODES)],
)
def test_choices_are_the_librarys_names(option: str, names: tuple[str, ...]) -> None:
    parser = build_parser()
    attribute = option.removeprefix("--")
    for name in names:
        assert getattr(parser.parse_args(["explain", option, name]), attribute) == name
    with pytest.raises(UsageError, match=f"argument {option}: invalid choice: 'jax'"):
        parser.parse_args(["explain", option, "jax"])


def test_help_lists_the_librarys_baselines_and_models(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    text = _explain_help(capsys, monkeypatch)
    assert f"one of {', '.join(IMAGE_BASELINES)} (default black), or an image file" in text
    assert f"one of {', '.join(available_models())} (default efficientnet-lite0)" in text
    assert "{torch,tensorflow}" in text


def test_the_command_imports_no_engine_internals() -> None:
    imported: set[str] = set()
    for node in ast.walk(ast.parse(Path(intgrad.cli.__file__).read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module is not None:
            imported.add(node.module)
    assert {"intgrad", "intgrad.images", "intgrad.viz"} <= imported
    engine = ("intgrad._core", "intgrad._api", "intgrad.backends")
    assert {module for module in imported if module.startswith(engine)} == set()


@pytest.mark.parametrize("command", ["explain", "text"])
def test_steps_default_to_auto_and_a_count_is_one_flag_away(command: str) -> None:
    parser = build_parser()
    extra = ["a text"] if command == "text" else []
    assert parser.parse_args([command, *extra]).steps == "auto"
    assert parser.parse_args([command, *extra, "--steps", "64"]).steps == 64
    assert parser.parse_args([command, *extra]).tolerance == 0.01
