import torch

import intgrad
from intgrad import metrics

torch.manual_seed(0)
model = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1))
x = torch.tensor([[0.5, -1.0, 2.0, 0.1]])
background = torch.randn(64, 4)
session = intgrad.Explainer(model)  # one session: compiled steps are shared by every call

methods = {
    "integrated gradients": session.attribute(x, steps=64),
    "expected gradients": intgrad.expected_gradients(session, x, background=background, seed=0),
    "smoothgrad (IG)": intgrad.noise_tunnel(session, x, samples=32, stdev=0.1, seed=0),
    "IDGI": intgrad.idgi(session, x, steps=64),
    "guided IG": intgrad.guided_ig(session, x, steps=64),
}
for name, result in methods.items():
    gap = "n/a" if result.delta is None else f"{result.delta[0]:+.1e}"
    print(f"{name:>21}: {result.attributions.detach().numpy().round(3)[0]}  delta {gap}")

pairs = intgrad.integrated_hessians(session, x, steps=32)
print("interactions, row sums:", pairs.interactions[0].sum(axis=1).round(3))
((first, second, value),) = pairs.top_pairs(0, 1)
print(f"strongest pair: features {first} and {second}, {value:+.4f}")

for name in ("integrated gradients", "IDGI"):
    curve = metrics.deletion(session, x, methods[name], steps=4, perturbation="black")
    print(f"deletion of {name}: F {curve.scores[0].round(3)}, AUC {curve.auc[0]:.3f}")
