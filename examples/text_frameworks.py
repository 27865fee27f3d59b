"""One sentence, one tiny classifier, three frameworks: the same per-word attributions.

The tiny sentiment model of ``intgrad.text.tiny`` has the same weights in PyTorch, Keras and
JAX; each is explained through its split at the token embedding, from the ``pad`` baseline
([CLS] and [SEP] kept, every other token replaced by [PAD]), for the positive class.
"""

import jax.numpy as jnp
import numpy as np
import tensorflow as tf
import torch

import intgrad
from intgrad.text import minilm_tokenizer, words_of
from intgrad.text.tiny import (
    pad_baseline_ids,
    tiny_batch,
    tiny_jax_model,
    tiny_keras_model,
    tiny_torch_model,
)

torch.set_num_threads(1)
tokenizer = minilm_tokenizer()
batch = tiny_batch(["A gorgeous, witty film that never drags."], tokenizer)
baseline = pad_baseline_ids(batch, tokenizer.pad_token_id)
frameworks = {
    "torch": (tiny_torch_model(), torch.as_tensor),
    "tensorflow": (tiny_keras_model(), tf.constant),
    "jax": (tiny_jax_model(), jnp.asarray),
}

results = {}
for name, (tiny, native) in frameworks.items():
    explainer = intgrad.Explainer(tiny.model, layer=tiny.layer, output="probability")
    results[name] = explainer.attribute(
        native(batch.input_ids),
        baselines=native(baseline),
        additional_forward_args=(native(batch.attention_mask),),
        target=1,
        steps=64,
    )

(text,) = batch.texts
tokens = tokenizer.convert_ids_to_tokens(text.input_ids.tolist())
words = {
    name: words_of(text, np.asarray(result.attributions).sum(-1)[0], tokens)
    for name, result in results.items()
}
reference = results["torch"]
print(f"P(positive) = {reference.f_input[0]:.4f}, at the baseline {reference.f_baseline[0]:.4f}")
print(f"{'word':<10}" + "".join(f"{name:>12}" for name in results))
for row in zip(*words.values(), strict=True):
    print(f"{row[0].text:<10}" + "".join(f"{w.attribution:>12.4f}" for w in row))
print("delta:", ", ".join(f"{name} {result.delta[0]:.1e}" for name, result in results.items()))
