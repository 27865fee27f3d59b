"""Integrated Gradients of text classifiers, to token embeddings, per token and per word.

The path runs through an embedding layer (Sundararajan et al. 2017, section 6.3: "the
attributions ... are computed with respect to the embedding of the words"): by default the
word-embedding lookup, so position and token-type embeddings, the attention mask and every other
input are identical at both ends of the path and F(x′) is the model at the path's own start —
the completeness check measures the path the attributions integrate (captum#1413 is the
failure of the alternative). The embedding block (``layer="block"``: word + position +
token-type embeddings and their normalisation) is the other choice; there the baseline's block
output includes the same positions.

Texts are tokenized once, grouped by length, padded (right for encoders, left for decoder-only
models, with their masks) and explained in batches; each result is unpadded to its own tokens.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Literal

import numpy as np

from intgrad import Explainer
from intgrad._core.targets import resolve_target
from intgrad.text._calls import ModelCall, model_call
from intgrad.text.baselines import (
    BaselinePolicy,
    baseline_ids,
    baseline_policy,
    check_baseline,
    explained_positions,
)
from intgrad.text.encode import (
    EncodedText,
    PaddingSide,
    TextBatch,
    encode_text,
    pad_batch,
    pad_token_id,
    words_of,
)
from intgrad.text.explanation import TextExplanation
from intgrad.text.models import TextModel
from intgrad.text.predict import MAX_PADDING, length_groups, resolve_text_model

__all__ = [
    "EMBEDDING_LAYERS",
    "TEXT_OUTPUTS",
    "TextExplainer",
    "explain_text",
    "resolve_target",
]

EMBEDDING_LAYERS: tuple[str, ...] = ("word", "block")
"""Where the path runs: the word-embedding lookup (default) or the whole embedding block."""

TEXT_OUTPUTS: tuple[str, ...] = ("probability", "logit")
"""What F is: the target's softmax probability (the tutorial's choice) or its logit."""

Target = int | str | None
Progress = Callable[[int, int], None]


class TextExplainer:
    """Integrated Gradients of one text classifier, for many calls.

    Args:
        model: a :class:`~intgrad.text.TextModel`, a model name or local Hugging Face
            directory, or a PyTorch classifier (``torch.nn.Module``; then with ``tokenizer``);
            default: the embedded sentiment classifier. Never modified.
        tokenizer: the fast Hugging Face tokenizer of a model object.
        layer: ``"word"`` (default: the word-embedding lookup, positions and token types held
            fixed) or ``"block"`` (the embedding block's output).
        output: ``"probability"`` (default) or ``"logit"``: what F is.
        padding_side: ``"right"`` or ``"left"``; default: left for decoder-only models.
    """

    def __init__(
        self,
        model: Any = None,
        *,
        tokenizer: Any = None,
        layer: Literal["word", "block"] = "word",
        output: Literal["probability", "logit"] = "probability",
        padding_side: PaddingSide | None = None,
    ) -> None:
        if layer not in EMBEDDING_LAYERS:
            raise ValueError(f"layer must be one of {', '.join(EMBEDDING_LAYERS)}, got {layer!r}")
        if output not in TEXT_OUTPUTS:
            raise ValueError(f"output must be one of {', '.join(TEXT_OUTPUTS)}, got {output!r}")
        self.model: TextModel = resolve_text_model(model, tokenizer)
        self.layer, self.output = layer, output
        self._call = ModelCall(self.model.module, padding_side)
        self._embedding = _embedding_module(self.model.module, layer)
        self._sessions: dict[tuple[str, ...], tuple[Any, Explainer]] = {}
        self._lock = threading.Lock()

    def _session(self, batch: TextBatch) -> tuple[Any, Explainer]:
        """The model called with this batch's keyword inputs, and its explanation session."""
        names = self._call.present(batch)
        with self._lock:
            return self._session_for(names)

    def _session_for(self, names: tuple[str, ...]) -> tuple[Any, Explainer]:
        if names not in self._sessions:
            forward = model_call(self.model.module, names)
            session = Explainer(
                forward,
                backend="torch",
                layer=self._embedding,
                output="probability" if self.output == "probability" else None,
            )
            self._sessions[names] = (forward, session)
        return self._sessions[names]

    def groups(
        self,
        encoded: Sequence[EncodedText],
        texts_per_call: int = 32,
        max_padding: float | None = None,
    ) -> list[list[int]]:
        """The indices of ``encoded`` that :meth:`explain` pads and attributes together: by
        length, at most ``texts_per_call`` per group (``max_padding`` as in :meth:`explain`)."""
        return list(length_groups(encoded, texts_per_call, self._max_padding(max_padding)))

    def _max_padding(self, given: float | None) -> float:
        if given is not None:
            if isinstance(given, bool) or not isinstance(given, (int, float)) or given < 0:
                raise ValueError(f"max_padding must be a number >= 0, got {given!r}")
            return float(given)
        parameter = next(iter(self.model.module.parameters()), None)
        on_cpu = parameter is None or parameter.device.type == "cpu"
        return 0.0 if on_cpu else MAX_PADDING

    def encode(self, texts: Sequence[str]) -> list[EncodedText]:
        """Tokenize each text (warning when one is truncated to the model's limit)."""
        return [encode_text(t, self.model.tokenizer, self.model.max_tokens) for t in texts]

    def _forward(self, batch: TextBatch) -> tuple[Explainer, tuple[Any, ...], np.ndarray]:
        import torch

        forward, session = self._session(batch)
        ids = torch.from_numpy(batch.input_ids)
        extras = tuple(torch.from_numpy(a) for a in self._call.extras(batch))
        with torch.no_grad():
            logits = forward(ids, *extras).double()
        return session, extras, torch.softmax(logits, dim=-1).numpy()

    def explain(
        self,
        texts: str | Sequence[str],
        *,
        target: Target | Sequence[Target] = None,
        baseline: str = "pad",
        keep_special: bool = True,
        steps: int | Literal["auto"] = 50,
        method: str | None = None,
        texts_per_call: int = 32,
        max_padding: float | None = None,
        batch_size: int | None = None,
        tolerance: float = 0.01,
        max_steps: int = 513,
        return_path: bool = False,
        progress: Progress | None = None,
    ) -> TextExplanation | list[TextExplanation]:
        """Explain one text (returns one explanation) or several (returns a list, in order).

        Args:
            texts: a text or a sequence of texts.
            target: the class to explain — an index or a label name, one for all texts or
                one per text; default: each text's predicted class.
            baseline: ``"pad"`` (default), ``"unk"``, ``"mask"``, ``"zero"`` (zero word
                embeddings), ``"token:<token>"`` or ``"text:<text>"`` (a text of as many
                tokens): what replaces each explained token at the path's start.
            keep_special: keep special tokens ([CLS], [SEP], BOS, EOS) in the baseline, so
                they are not explained and get exactly zero (default).
            steps: gradient evaluations per text (default 50), or ``"auto"``.
            method: the quadrature rule of a fixed ``steps`` (default Gauss–Legendre).
            texts_per_call: the most texts padded and attributed together; texts are grouped
                by length.
            max_padding: the most padding a group may carry, as a fraction of its real tokens
                (padded tokens cost the model as much as real ones). Default: 0 when the model
                is on the CPU, where a text's own path rows already fill a chunk and a chunk
                costs in proportion to its tokens (texts of one length still go together);
                0.25 on an accelerator, where more rows per call are nearly free.
            batch_size: path rows per forward pass; default: sized to memory.
            tolerance, max_steps: the ``steps="auto"`` settings.
            return_path: record F and the mean gradient along the path per text.
            progress: called as ``progress(done, total)`` in gradient evaluations, all texts
                together, after each chunk of the path (as in
                :func:`intgrad.integrated_gradients`), so one long text advances it and an
                exception it raises stops the work there. Groups not yet started count at
                the current group's evaluations per text; with ``steps="auto"`` the total is
                the most it may take, and it ends with ``(done, done)``.
        """
        single = isinstance(texts, str)
        items = [texts] if isinstance(texts, str) else list(texts)
        if not items:
            raise ValueError("give at least one text")
        if isinstance(texts_per_call, bool) or not isinstance(texts_per_call, int):
            raise TypeError(f"texts_per_call must be a positive int, got {texts_per_call!r}")
        if texts_per_call < 1:
            raise ValueError(f"texts_per_call must be >= 1, got {texts_per_call}")
        targets = _per_text(target, len(items))
        check_baseline(baseline, self.model.tokenizer, self.layer)
        policy = baseline_policy(baseline, self.model.tokenizer)
        encoded = self.encode(items)
        if policy.text_ids is not None:  # every text fits a text baseline, before any work
            for text in encoded:
                self._baseline_of([text], policy, keep_special)
        out: list[TextExplanation | None] = [None] * len(items)
        counter = _EvaluationCount(progress, len(items))
        options = {
            "steps": steps,
            "method": method,
            "batch_size": batch_size,
            "tolerance": tolerance,
            "max_steps": max_steps,
            "return_path": return_path,
        }
        for group in self.groups(encoded, texts_per_call, max_padding):
            explained = self._explain_group(
                [encoded[i] for i in group],
                [targets[i] for i in group],
                policy,
                keep_special,
                {**options, "progress": counter.group(len(group))},
            )
            for index, explanation in zip(group, explained, strict=True):
                out[index] = explanation
            counter.finish_group()
        finished = [e for e in out if e is not None]
        return finished[0] if single else finished

    def _explain_group(
        self,
        texts: list[EncodedText],
        targets: list[Target],
        policy: BaselinePolicy,
        keep_special: bool,
        options: dict[str, Any],
    ) -> list[TextExplanation]:
        import torch

        batch, explained, start_ids = self._baseline_of(texts, policy, keep_special)
        session, extras, probabilities = self._forward(batch)
        labels, classes = self.model.labels, probabilities.shape[1]
        chosen = np.array(
            [
                int(np.argmax(probabilities[row]))
                if t is None
                else resolve_target(t, labels, classes)
                for row, t in enumerate(targets)
            ],
            dtype=np.int64,
        )
        ids = torch.from_numpy(batch.input_ids)
        baseline_arguments: dict[str, Any] = {}
        if policy.zero:
            baseline_arguments["layer_baselines"] = self._zero_embeddings(ids, explained)
        else:
            baseline_arguments["baselines"] = torch.from_numpy(start_ids)
        started = time.perf_counter()
        result = session.attribute(
            ids,
            target=chosen,
            additional_forward_args=extras if extras else None,
            **baseline_arguments,
            **options,
        )
        seconds = time.perf_counter() - started
        per_dimension = result.attributions.detach().cpu()
        per_token = per_dimension.double().sum(-1).numpy()
        return [
            self._one(
                text,
                batch,
                row,
                per_dimension,
                per_token,
                start_ids,
                probabilities,
                int(chosen[row]),
                policy,
                result,
                seconds,
            )
            for row, text in enumerate(texts)
        ]

    def _baseline_of(
        self, texts: list[EncodedText], policy: BaselinePolicy, keep_special: bool
    ) -> tuple[TextBatch, np.ndarray, np.ndarray]:
        """The padded batch, its explained positions and its baseline ids (ValueError when a
        text baseline's length does not fit a text)."""
        batch = pad_batch(texts, pad_token_id(self.model.tokenizer), self._call.padding_side)
        explained = explained_positions(batch, keep_special)
        return batch, explained, baseline_ids(batch, policy, explained)

    def _zero_embeddings(self, ids: Any, explained: np.ndarray) -> Any:
        """The word embeddings of ``ids`` with the explained positions set to zero."""
        import torch

        with torch.no_grad():
            vectors = self._embedding(ids).detach().clone()
        vectors[torch.from_numpy(explained)] = 0.0
        return vectors

    def _one(
        self,
        text: EncodedText,
        batch: TextBatch,
        row: int,
        per_dimension: Any,
        per_token: np.ndarray,
        start_ids: np.ndarray,
        probabilities: np.ndarray,
        target: int,
        policy: BaselinePolicy,
        result: Any,
        seconds: float,
    ) -> TextExplanation:
        columns = batch.positions[row]
        values = per_token[row, columns]
        tokens = tuple(self.model.tokenizer.convert_ids_to_tokens(text.input_ids.tolist()))
        return TextExplanation(
            text=text.text,
            tokens=tokens,
            token_ids=text.input_ids,
            baseline_ids=start_ids[row, columns],
            offsets=text.offsets,
            special=text.special,
            attributions=values,
            embedding_attributions=per_dimension[row, columns].float().numpy(),
            words=words_of(text, values, tokens),
            labels=self.model.labels,
            probabilities=probabilities[row],
            target=target,
            output=self.output,
            baseline=policy.name,
            layer=self.layer,
            model=self.model.name,
            dropped_tokens=text.dropped,
            result=result.example(row),
            seconds=seconds,
        )


class _EvaluationCount:
    """One ``progress(done, total)`` over a call's groups, from each group's per-chunk reports.

    ``done`` adds the gradient evaluations of finished groups to the current group's; ``total``
    adds the current group's planned evaluations and, for texts not yet started, the current
    group's evaluations per text.
    """

    def __init__(self, report: Progress | None, texts_total: int) -> None:
        self.report, self.texts_total = report, texts_total
        self.done_before = self.texts_before = 0
        self.group_texts = self.group_done = 0

    def group(self, texts: int) -> Progress | None:
        """The engine's progress callback for the next group of ``texts`` texts."""
        self.group_texts, self.group_done = texts, 0
        return None if self.report is None else self._group_report

    def _group_report(self, done: int, total: int) -> None:
        assert self.report is not None
        self.group_done = done
        waiting = self.texts_total - self.texts_before - self.group_texts
        later = total * waiting // max(1, self.group_texts)
        self.report(self.done_before + done, self.done_before + total + later)

    def finish_group(self) -> None:
        """Count the group just explained as done."""
        self.done_before += self.group_done
        self.texts_before += self.group_texts


def _per_text(target: object, count: int) -> list[Target]:
    if isinstance(target, (list, tuple)):
        if len(target) != count:
            raise ValueError(f"got {len(target)} targets for {count} texts")
        return list(target)
    if isinstance(target, np.ndarray):
        if target.shape != (count,):
            raise ValueError(f"target must have shape ({count},), got {target.shape}")
        return [int(t) for t in target]
    return [target] * count  # type: ignore[list-item]


def _embedding_module(module: Any, layer: str) -> Any:
    """The word-embedding lookup, or the block that holds it (``embeddings`` in Hugging Face)."""
    get = getattr(module, "get_input_embeddings", None)
    words = get() if callable(get) else None
    if words is None:
        raise ValueError(
            "the model has no get_input_embeddings(): give a Hugging Face model, or explain it "
            "with intgrad.Explainer(model, layer=<its embedding module>)"
        )
    if layer == "word":
        return words
    candidates = [
        child
        for name, child in module.named_modules()
        if name.split(".")[-1] == "embeddings"
        and child is not words
        and any(grandchild is words for grandchild in child.modules())
    ]
    if not candidates:
        raise ValueError(
            "the model has no embedding block around its word embeddings: use layer='word'"
        )
    return candidates[-1]


def explain_text(
    texts: str | Sequence[str],
    model: Any = None,
    *,
    tokenizer: Any = None,
    layer: Literal["word", "block"] = "word",
    output: Literal["probability", "logit"] = "probability",
    padding_side: PaddingSide | None = None,
    **options: Any,
) -> TextExplanation | list[TextExplanation]:
    """Explain texts with a one-shot :class:`TextExplainer`; ``options`` as in its ``explain``.

    Example::

        explanation = explain_text("a gripping, beautifully acted film", target="positive")
        print(explanation.to_terminal())
    """
    explainer = TextExplainer(
        model, tokenizer=tokenizer, layer=layer, output=output, padding_side=padding_side
    )
    return explainer.explain(texts, **options)
