#!/usr/bin/python3
"""Writes optimizers.json: parameters after each step of torch.optim on fixed gradients.

Run by hand with Debian's python3-torch (1.13); the output is committed and read by
OptimizerTests. Never run by the build or CI.
"""
import json
import torch

torch.manual_seed(1234)
N = 37
P0 = (torch.rand(N) * 2 - 1).tolist()
GRADS = [(torch.rand(N) * 2 - 1).tolist() for _ in range(6)]
# A zero parameter and a zero gradient exercise sign(0) and the epsilon.
P0[0] = 0.0
GRADS[0][1] = 0.0

CASES = [
    ("adam_default", torch.optim.Adam, dict(lr=1e-3)),
    ("adam_weight_decay", torch.optim.Adam, dict(lr=1e-2, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1)),
    ("adam_amsgrad", torch.optim.Adam, dict(lr=5e-3, amsgrad=True)),
    ("adamw_default", torch.optim.AdamW, dict(lr=1e-3)),
    ("adamw_amsgrad", torch.optim.AdamW, dict(lr=2e-2, weight_decay=0.5, amsgrad=True)),
    ("sgd_plain", torch.optim.SGD, dict(lr=0.1)),
    ("sgd_momentum", torch.optim.SGD, dict(lr=0.05, momentum=0.9)),
    ("sgd_nesterov_wd", torch.optim.SGD, dict(lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.01)),
    ("sgd_dampening", torch.optim.SGD, dict(lr=0.05, momentum=0.9, dampening=0.3)),
    ("rmsprop_default", torch.optim.RMSprop, dict(lr=1e-2)),
    ("rmsprop_momentum", torch.optim.RMSprop, dict(lr=5e-3, alpha=0.9, momentum=0.8)),
    ("rmsprop_centered", torch.optim.RMSprop, dict(lr=1e-2, centered=True)),
    ("rmsprop_centered_momentum_wd", torch.optim.RMSprop, dict(lr=2e-3, alpha=0.95, eps=1e-6, weight_decay=0.05, momentum=0.5, centered=True)),
]

out = {"torch_version": torch.__version__, "initial": P0, "gradients": GRADS, "cases": []}
for name, cls, kwargs in CASES:
    p = torch.nn.Parameter(torch.tensor(P0, dtype=torch.float32))
    opt = cls([p], foreach=False, **kwargs)
    steps = []
    for g in GRADS:
        p.grad = torch.tensor(g, dtype=torch.float32)
        opt.step()
        steps.append(p.detach().tolist())
    settings = {k: (list(v) if isinstance(v, tuple) else v) for k, v in kwargs.items()}
    out["cases"].append({"name": name, "optimizer": cls.__name__, "settings": settings, "after_each_step": steps})

with open("optimizers.json", "w") as f:
    json.dump(out, f)
print("wrote optimizers.json with", len(CASES), "cases")
