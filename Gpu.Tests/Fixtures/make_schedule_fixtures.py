#!/usr/bin/python3
"""Writes schedules.json: the learning rate (and momentum) torch.optim.lr_scheduler gives before
every optimizer step, for each --lr-schedule word, over a run with mini-batches (several steps per
epoch) and one with full batches (one step per epoch).

Per-epoch schedulers (StepLR, ExponentialLR, ReduceLROnPlateau) are stepped after each epoch,
per-step ones (CosineAnnealingLR, OneCycleLR, warmup then cosine) after each optimizer step, as a
training loop does. ReduceLROnPlateau is fed a fixed sequence of epoch losses, listed in the case.
Run by hand with Debian's python3-torch (1.13); the output is committed and read by
ScheduleTests. Never run by the build or CI.
"""
import json
import math
import torch
from torch.optim import lr_scheduler as S

LR = 0.1
RUNS = {"minibatch": (6, 7), "fullbatch": (30, 1)}  # (epochs, optimizer steps per epoch)
LOSSES = {  # the watched loss after each epoch, for plateau
    "minibatch": [1.0, 0.9, 0.9, 0.9, 0.95, 0.9],
    "fullbatch": [1.0 - 0.01 * e if e < 8 else 0.93 + 0.001 * (e % 3) for e in range(30)],
}


def optimizer(kind):
    p = torch.nn.Parameter(torch.zeros(1))
    if kind == "adam":
        return torch.optim.Adam([p], lr=LR)
    return torch.optim.SGD([p], lr=LR, momentum=0.9)


def warmup_cosine(opt, total, warmup, eta_min):
    if warmup == 0:
        return S.CosineAnnealingLR(opt, T_max=total, eta_min=eta_min)
    warm = S.LinearLR(opt, start_factor=1.0 / warmup, end_factor=1.0, total_iters=warmup - 1) if warmup > 1 else S.ConstantLR(opt, factor=1.0, total_iters=0)
    return S.SequentialLR(opt, [warm, S.CosineAnnealingLR(opt, T_max=total - warmup, eta_min=eta_min)], milestones=[warmup])


# (text, optimizer kind, per-step?, factory(opt, total steps, steps per epoch, epochs))
CASES = [
    ("constant", "sgd", False, lambda o, t, p, e: None),
    ("step(2,gamma=0.5)", "sgd", False, lambda o, t, p, e: S.StepLR(o, step_size=2, gamma=0.5)),
    ("exponential(0.9)", "sgd", False, lambda o, t, p, e: S.ExponentialLR(o, gamma=0.9)),
    ("cosine(min=0,warmup=0)", "sgd", True, lambda o, t, p, e: S.CosineAnnealingLR(o, T_max=t, eta_min=0)),
    ("cosine(min=0.001,warmup=5)", "adam", True, lambda o, t, p, e: warmup_cosine(o, t, 5, 0.001)),
    ("onecycle(pct=0.3)", "sgd", True, lambda o, t, p, e: S.OneCycleLR(o, max_lr=LR, total_steps=t, pct_start=0.3)),
    ("onecycle(pct=0.25)", "adam", True, lambda o, t, p, e: S.OneCycleLR(o, max_lr=LR, total_steps=t, pct_start=0.25)),
    ("plateau(patience=1,factor=0.5)", "sgd", False, lambda o, t, p, e: S.ReduceLROnPlateau(o, mode="min", factor=0.5, patience=1)),
    ("plateau(patience=2,factor=0.1)", "adam", False, lambda o, t, p, e: S.ReduceLROnPlateau(o, mode="min", factor=0.1, patience=2)),
]


def momentum(opt):
    group = opt.param_groups[0]
    return group["betas"][0] if "betas" in group else group["momentum"]


cases = []
for run, (epochs, per_epoch) in RUNS.items():
    total = epochs * per_epoch
    for text, kind, per_step, make in CASES:
        opt = optimizer(kind)
        sched = make(opt, total, per_epoch, epochs)
        lrs, momenta = [], []
        for e in range(epochs):
            for s in range(per_epoch):
                lrs.append(opt.param_groups[0]["lr"])
                momenta.append(momentum(opt))
                opt.step()
                if per_step:
                    sched.step()
            if sched is not None and not per_step:
                if isinstance(sched, S.ReduceLROnPlateau):
                    sched.step(LOSSES[run][e])
                else:
                    sched.step()
        # The closed forms the C# schedules use, checked here against torch's recursions.
        if text.startswith("cosine"):
            warmup = 5 if "warmup=5" in text else 0
            eta = 0.001 if "min=0.001" in text else 0.0
            closed = [LR * (s + 1) / warmup if s < warmup else eta + (LR - eta) * (1 + math.cos(math.pi * (s - warmup) / (total - warmup))) / 2 for s in range(total)]
            worst = max(abs(a - b) / max(abs(b), 1e-12) for a, b in zip(lrs, closed))
            assert worst < 1e-9, (text, run, worst)
        cases.append({"name": f"{run}:{text}", "schedule": text, "optimizer": kind, "lr": LR, "epochs": epochs, "steps_per_epoch": per_epoch,
                      "losses": LOSSES[run] if text.startswith("plateau") else None, "lrs": lrs,
                      "momenta": momenta if text.startswith("onecycle") else None})

with open("schedules.json", "w") as f:
    json.dump({"torch_version": torch.__version__, "cases": cases}, f, indent=1)
print("wrote schedules.json with", len(cases), "cases")
