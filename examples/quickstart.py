"""The README's quick start: explain a small PyTorch classifier and check completeness."""

import torch

import intgrad

torch.manual_seed(0)
model = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.Tanh(), torch.nn.Linear(16, 3))
x = torch.tensor([[0.5, -1.0, 2.0, 0.1]])

result = intgrad.integrated_gradients(model, x, target=2, steps=64, output="probability")
print("attributions:", result.attributions.numpy().round(4))
print(f"F(x) - F(x') = {result.f_input[0] - result.f_baseline[0]:.6f}")
print(f"sum of attributions = {result.attribution_sums[0]:.6f}, delta = {result.delta[0]:.1e}")
