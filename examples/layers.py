"""Attribute a tiny text classifier to its embedding layer, from one reusable session."""

import torch

import intgrad

torch.manual_seed(0)


class Bag(torch.nn.Module):
    """Token ids and a mask → mean of the token embeddings → two logits."""

    def __init__(self) -> None:
        super().__init__()
        self.embedding = torch.nn.Embedding(100, 8)
        self.classify = torch.nn.Linear(8, 2)

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        vectors = self.embedding(ids) * mask[..., None]
        return self.classify(vectors.sum(1) / mask.sum(1, keepdim=True))


model = Bag().eval()
ids = torch.tensor([[5, 17, 42, 8], [9, 3, 0, 0]])  # 0 pads the second text
mask = torch.tensor([[1.0, 1.0, 1.0, 1.0], [1.0, 1.0, 0.0, 0.0]])

explainer = intgrad.Explainer(model, layer=model.embedding, output="probability")
result = explainer.attribute(ids, target=1, baselines=0, additional_forward_args=(mask,), steps=32)
per_token = result.attributions.sum(-1)  # (texts, tokens): summed over the embedding
print("per token:", per_token.double().numpy().round(4).tolist())
print("delta:", [f"{d:.1e}" for d in result.delta])
