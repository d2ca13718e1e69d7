#!/usr/bin/python3
"""Writes losses.json: the pointwise losses' values (mean, sum, none) and input gradients (mean, sum)
from torch.nn.functional on fixed inputs and targets, for LossTests.

The differences x - y are spread over [-4, 4] and include exactly +-delta, where the Huber loss
switches from squared to absolute error. Run by hand with Debian's python3-torch (1.13); the output
is committed. Never run by the build or CI.
"""
import json
import torch
import torch.nn.functional as F

torch.manual_seed(7)
N = 41
x = (torch.rand(N) * 8 - 4)
y = torch.rand(N) * 2 - 1
x[0], y[0] = 1.5, 0.5     # d = 1 exactly
x[1], y[1] = -0.25, 0.25  # d = -0.5 exactly
x[2], y[2] = 0.75, -1.25  # d = 2 exactly
y_bce = torch.rand(N)

CASES = [
    ("mse", lambda a, b, r: F.mse_loss(a, b, reduction=r), y),
    ("bce", lambda a, b, r: F.binary_cross_entropy_with_logits(a, b, reduction=r), y_bce),
    ("huber:1", lambda a, b, r: F.huber_loss(a, b, reduction=r, delta=1.0), y),
    ("huber:0.5", lambda a, b, r: F.huber_loss(a, b, reduction=r, delta=0.5), y),
    ("huber:2", lambda a, b, r: F.huber_loss(a, b, reduction=r, delta=2.0), y),
]

cases = []
for name, f, target in CASES:
    case = {"name": name, "input": x.tolist(), "target": target.tolist()}
    for reduction in ("mean", "sum"):
        a = x.clone().requires_grad_(True)
        value = f(a, target, reduction)
        value.backward()
        case[reduction] = value.item()
        case[f"grad_{reduction}"] = a.grad.tolist()
    case["none"] = f(x, target, "none").tolist()
    cases.append(case)

with open("losses.json", "w") as out:
    json.dump({"torch_version": torch.__version__, "cases": cases}, out)
print("wrote losses.json with", len(cases), "cases")
