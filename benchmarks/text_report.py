"""How the baseline changes a text explanation: F(x′), completeness and faithfulness per policy.

On held-out Rotten Tomatoes test sentences and the embedded sentiment classifier, each baseline
policy explains the predicted class's probability (Gauss–Legendre, ``STEPS`` steps, special
tokens kept); the explanations are then scored by comprehensiveness and sufficiency (ERASER's
AOPC over 10 %, …, 100 % of the tokens, :func:`intgrad.text.faithfulness.faithfulness`), with
tokens removed and with tokens masked, against uniformly random token orders. Writes
``docs/text-baselines.md`` and ``docs/images/text-faithfulness-curves.png``.

    .venv/bin/python benchmarks/text_report.py            # 100 sentences (about 6 min, 2 cores)
    .venv/bin/python benchmarks/text_report.py --quick    # 20 sentences
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from intgrad.text._minilm import WEIGHTS_PATH, read_weights
from intgrad.text.corpus import rotten_tomatoes
from intgrad.text.explain import TextExplainer
from intgrad.text.explanation import TextExplanation
from intgrad.text.faithfulness import FAITHFULNESS_MODES, FaithfulnessReport, faithfulness

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "text-baselines.md"
FIGURE = ROOT / "docs" / "images" / "text-faithfulness-curves.png"
BASELINES = ("pad", "unk", "mask", "zero", "token:the")
STEPS = 50
RANDOM_RANKINGS = 5
SHOWN, TOP_WORDS = 3, 3
BUSY_LOAD = 3.0

Explained = dict[str, list[TextExplanation]]
Scores = dict[str, dict[str, FaithfulnessReport]]


def explain_all(explainer: TextExplainer, texts: list[str], loads: list[float]) -> Explained:
    """Every baseline's explanations; ``loads`` gets the load average after each."""
    out: Explained = {}
    for baseline in BASELINES:
        started = time.perf_counter()
        found = explainer.explain(texts, baseline=baseline, steps=STEPS)
        out[baseline] = found if isinstance(found, list) else [found]
        loads.append(os.getloadavg()[0])
        print(f"{baseline}: {time.perf_counter() - started:.1f} s", flush=True)
    return out


def score_all(explainer: TextExplainer, explained: Explained) -> tuple[Scores, Scores]:
    """Faithfulness per baseline and mode; the random orders once per mode (they ignore the
    attributions, and every baseline explains the same predicted classes)."""
    scores: Scores = {b: {} for b in explained}
    chance: Scores = {"random": {}}
    first = next(iter(explained.values()))
    for mode in FAITHFULNESS_MODES:
        chance["random"][mode] = faithfulness(
            first, explainer.model, mode=mode, random_rankings=RANDOM_RANKINGS
        )
        for baseline, explanations in explained.items():
            assert [e.target for e in explanations] == [e.target for e in first]
            scores[baseline][mode] = faithfulness(explanations, explainer.model, mode=mode)
    return scores, chance


def _mean_abs(values: list[float]) -> float:
    return float(np.mean(np.abs(values)))


def _positive_at_baseline(explanations: list[TextExplanation]) -> np.ndarray:
    """p(positive | x′) per sentence: F(x′) is the explained class's, and there are two."""
    f = np.array([e.f_baseline for e in explanations])
    positive = np.array([e.labels[e.target] == "positive" for e in explanations])
    return np.where(positive, f, 1 - f)


def baseline_table(explained: Explained, scores: Scores, chance: Scores) -> list[str]:
    lines = [
        "| baseline | F(x′) mean | p(positive \\| x′): mean, range | mean \\|F(x) − F(x′)\\| |"
        " mean \\|delta\\| | comprehensiveness ↑, remove | sufficiency ↓, remove |"
        " comprehensiveness ↑, mask | sufficiency ↓, mask |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for baseline, explanations in explained.items():
        aopcs = [
            f"{scores[baseline][m].comprehensiveness_aopc.mean():.3f} | "
            f"{scores[baseline][m].sufficiency_aopc.mean():.3f}"
            for m in FAITHFULNESS_MODES
        ]
        positive = _positive_at_baseline(explanations)
        lines.append(
            f"| `{baseline}` | {np.mean([e.f_baseline for e in explanations]):.3f} |"
            f" {positive.mean():.3f}, {positive.min():.3f}–{positive.max():.3f} |"
            f" {_mean_abs([e.f_input - e.f_baseline for e in explanations]):.3f} |"
            f" {_mean_abs([e.delta for e in explanations]):.1e} | {' | '.join(aopcs)} |"
        )
    randoms = []
    for mode in FAITHFULNESS_MODES:
        report = chance["random"][mode]
        c, s = report.random_comprehensiveness_aopc, report.random_sufficiency_aopc
        assert c is not None and s is not None
        randoms.append(f"{c.mean():.3f} | {s.mean():.3f}")
    lines.append(
        f"| random order ({RANDOM_RANKINGS} per sentence) | | | | | {' | '.join(randoms)} |"
    )
    return lines


def beats_chance_table(scores: Scores, chance: Scores) -> list[str]:
    lines = [
        "| baseline | comprehensiveness above chance, remove | sufficiency below chance,"
        " remove | comprehensiveness above chance, mask | sufficiency below chance, mask |",
        "|---|---|---|---|---|",
    ]
    for baseline, by_mode in scores.items():
        cells = []
        for mode in FAITHFULNESS_MODES:
            report, random = by_mode[mode], chance["random"][mode]
            c, s = random.random_comprehensiveness_aopc, random.random_sufficiency_aopc
            assert c is not None and s is not None
            cells.append(f"{np.mean(report.comprehensiveness_aopc > c):.0%}")
            cells.append(f"{np.mean(report.sufficiency_aopc < s):.0%}")
        lines.append(f"| `{baseline}` | {' | '.join(cells)} |")
    return lines


def _aopcs(scores: Scores, mode: str, curve: str) -> dict[str, float]:
    return {b: float(getattr(r[mode], f"{curve}_aopc").mean()) for b, r in scores.items()}


def reading(scores: Scores, chance: Scores) -> list[str]:
    """What the table says, computed from it: the best baseline per column, spread vs chance."""
    lines = []
    for mode in FAITHFULNESS_MODES:
        random = chance["random"][mode]
        parts = []
        for curve, better in (("comprehensiveness", max), ("sufficiency", min)):
            values = _aopcs(scores, mode, curve)
            best = better(values, key=lambda b: values[b])
            level = float(getattr(random, f"random_{curve}_aopc").mean())
            spread = max(values.values()) - min(values.values())
            gap = min(abs(v - level) for v in values.values())
            parts.append(
                f"{curve} is best with `{best}` ({values[best]:.3f}); the baselines span"
                f" {spread:.3f}, {'less' if spread < gap else 'more'} than the smallest"
                f" distance to chance ({gap:.3f})"
            )
        lines.append(f"- *{mode}*: " + "; ".join(parts) + ".")
    lines += [
        "- A negative sufficiency means the top tokens alone give the prediction *more*"
        " probability than the whole sentence: the tokens left out argued against it.",
        "- *mask* mode replaces tokens with [MASK], the very token the `mask` baseline's path"
        " starts from, so that baseline is scored on perturbations like its own; *remove*"
        " mode favours no baseline.",
    ]
    return lines


def shown_sentences(texts: list[str]) -> list[int]:
    """The first sentences of 8 to 18 words: short enough to read, long enough to rank."""
    chosen = [i for i, t in enumerate(texts) if 8 <= len(t.split()) <= 18]
    return chosen[:SHOWN]


def _top_words(explanation: TextExplanation) -> str:
    words = [w for w in explanation.words if not w.special]
    words.sort(key=lambda w: w.attribution, reverse=True)
    return ", ".join(f"{w.text} ({w.attribution:+.3f})" for w in words[:TOP_WORDS])


def sentence_tables(explained: Explained, indices: list[int]) -> list[str]:
    lines: list[str] = []
    first = next(iter(explained.values()))
    for index in indices:
        e = first[index]
        lines += [
            f"> {e.text}",
            "",
            f"Predicted **{e.predicted_label}** (p = {e.probabilities[e.predicted]:.3f});"
            f" the top {TOP_WORDS} words for it, by signed attribution:",
            "",
            "| baseline | F(x′) | top words | delta |",
            "|---|---|---|---|",
        ]
        for baseline, explanations in explained.items():
            b = explanations[index]
            lines.append(
                f"| `{baseline}` | {b.f_baseline:.3f} | {_top_words(b)} | {b.delta:+.1e} |"
            )
        lines.append("")
    return lines


def plot(scores: Scores, chance: Scores, path: Path) -> None:
    from intgrad.viz.figures import new_figure, save_figure

    figure = new_figure((10, 4))
    for column, curve in enumerate(("comprehensiveness", "sufficiency")):
        axes = figure.add_subplot(1, 2, column + 1)
        for index, (baseline, by_mode) in enumerate(scores.items()):
            report = by_mode["remove"]
            values = getattr(report, curve).mean(axis=0)
            axes.plot(100 * report.fractions, values, marker="o", color=f"C{index}", label=baseline)
        random = chance["random"]["remove"]
        values = getattr(random, f"random_{curve}").mean(axis=0)
        axes.plot(100 * random.fractions, values, "k--", label="random order")
        action = "removed" if column == 0 else "the only ones kept"
        axes.set_xlabel(f"% of tokens, by attribution rank ({action})")
        axes.set_ylabel(f"{curve} (mean over sentences)")
        axes.set_title(f"{curve} ({'higher' if column == 0 else 'lower'} is better)")
        axes.legend(fontsize=8)
    save_figure(figure, path, dpi=100)


def machine(threads: int) -> str:
    names = [
        line.split(":", 1)[1].strip()
        for line in Path("/proc/cpuinfo").read_text().splitlines()
        if "model name" in line
    ]
    cpu = names[0] if names else platform.machine()
    return (
        f"{cpu} ({os.cpu_count()} cores), {threads} torch threads, Python"
        f" {platform.python_version()}, torch {torch.__version__}"
    )


def write_page(
    explained: Explained, scores: Scores, chance: Scores, texts: list[str], context: dict[str, Any]
) -> None:
    meta, busy = context["meta"], max(context["load"])
    loads = context["load"]
    lines = [
        "# Text baselines: what x′ does to the explanation",
        "",
        f"Produced by `{context['command']}` (see `benchmarks/text_report.py`) on"
        f" {context['machine']}, in {context['minutes']:.1f} minutes"
        + (
            f"; 1-minute load average {loads[0]:.1f} at the start, {loads[-1]:.1f} at the end"
            f" and up to {busy:.1f} between (this run's own {context['threads']} threads count"
            " in it): **another heavy process was running**, so the time is inflated."
            if busy > BUSY_LOAD
            else "."
        ),
        "",
        f"{len(texts)} held-out Rotten Tomatoes test sentences, the embedded sentiment"
        f" classifier (test accuracy {meta.get('test_accuracy', float('nan')):.3f}), F = the"
        f" predicted class's probability, Gauss–Legendre {STEPS} steps through the word"
        " embeddings, [CLS] and [SEP] kept in every baseline. Each policy replaces every other"
        ' token: `pad` by [PAD], `unk` by [UNK], `mask` by [MASK], `token:the` by "the";'
        " `zero` sets its word embedding to zero (positions and token types stay).",
        "",
        "Faithfulness (DeYoung et al. 2020, ERASER, arXiv:1911.03429) ranks a sentence's"
        " tokens by signed attribution, most supporting the prediction first, and takes the top"
        " k = ⌈f × n⌉ (at least 1) of its n tokens for f = 10 %, 20 %, …, 100 %."
        " *Comprehensiveness* is p(class | x) − p(class | x without them) (higher: the"
        " credited tokens mattered), *sufficiency* p(class | x) − p(class | only them) (lower:"
        " they suffice); each figure is the mean over the fractions (AOPC), then over the"
        " sentences. *remove* deletes the token ids from the sequence; *mask* replaces them"
        " with [MASK]; both work on ids, never on decoded text. The random row ranks the"
        f" tokens in {RANDOM_RANKINGS} uniformly random orders per sentence (seeded): the"
        " chance level.",
        "",
        "## Baselines side by side",
        "",
        *baseline_table(explained, scores, chance),
        "",
        *reading(scores, chance),
        "",
        "Share of sentences whose explanation beats its own random orders:",
        "",
        *beats_chance_table(scores, chance),
        "",
        "![Comprehensiveness and sufficiency by fraction of tokens removed, per baseline]"
        "(images/text-faithfulness-curves.png)",
        "",
        f"## {SHOWN} sentences, every baseline",
        "",
        *sentence_tables(explained, shown_sentences(texts)),
    ]
    PAGE.write_text("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20 sentences instead of 100")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    started, loads = time.perf_counter(), [os.getloadavg()[0]]
    texts = [s.text for s in rotten_tomatoes("test")[: 20 if args.quick else 100]]
    explainer = TextExplainer()
    explained = explain_all(explainer, texts, loads)
    scores, chance = score_all(explainer, explained)
    plot(scores, chance, FIGURE)
    loads.append(os.getloadavg()[0])
    context = {
        "meta": read_weights(WEIGHTS_PATH)[1],
        "load": loads,
        "threads": args.threads,
        "minutes": (time.perf_counter() - started) / 60,
        "machine": machine(args.threads),
        "command": ".venv/bin/python benchmarks/text_report.py"
        + (" --quick" if args.quick else ""),
    }
    write_page(explained, scores, chance, texts, context)
    print(PAGE.read_text())


if __name__ == "__main__":
    main()
