#!/usr/bin/python3
"""Writes the fixtures of ToolkitParityTests: whole `gpu train` runs with a learning-rate schedule,
gradient clipping, accumulation, L2 penalty, RMSprop and Huber, done the same way in PyTorch.

For each case: <case>_train.csv, <case>_val.csv, <case>_init.safetensors (initial weights),
<case>_final.safetensors (after training), and one entry in toolkit_cases.json with the command
line's flags and, per epoch, the training loss (sample-weighted mean of the batch losses, penalty
included), the validation loss, the learning rate of the epoch's last step and the gradient's
total norm at that step before clipping.

The loop is the one docs/training.md describes: per optimizer step, zero_grad; for each of its
batches (K with accumulation), loss * rows / step rows, backward; the L2 penalty added once per
step; clip_grad_norm_ then clip_grad_value_; optimizer.step(); a per-step scheduler steps, a
per-epoch one after the epoch, ReduceLROnPlateau on the validation loss. No shuffling.
Run by hand with Debian's python3-torch (1.13), one thread; the outputs are committed. Never run by
the build or CI.
"""
import json
from fixture_io import write_csv, write_safetensors
import torch
from torch import nn
from torch.optim import lr_scheduler as S

torch.set_num_threads(1)


def mlp(widths):
    layers = []
    for i in range(len(widths) - 1):
        layers.append(nn.Linear(widths[i], widths[i + 1]))
        if i < len(widths) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def total_norm(model):
    return torch.norm(torch.stack([torch.norm(p.grad.detach(), 2.0) for p in model.parameters()]), 2.0).item()


def run(name, widths, x, y, xv, yv, criterion, optimizer, scheduler, per_step, batch, accumulate, epochs, flags,
        clip_norm=None, clip_value=None, l2=0.0):
    model = mlp(widths)
    x_names = [f"x{i}" for i in range(x.shape[1])]
    y_names = [f"y{i}" for i in range(y.shape[1])]
    write_csv(f"{name}_train.csv", x, y, x_names, y_names)
    write_csv(f"{name}_val.csv", xv, yv, x_names, y_names)
    write_safetensors(f"{name}_init.safetensors", model.state_dict(), {"source": "torch " + torch.__version__})
    opt = optimizer(model.parameters())
    sched = scheduler(opt) if scheduler else None
    n = x.shape[0]
    batches = [(s, min(batch, n - s)) for s in range(0, n, batch)]
    steps = [batches[i:i + accumulate] for i in range(0, len(batches), accumulate)]
    rows = []
    for epoch in range(epochs):
        model.train()
        total = 0.0
        lr = norm = None
        for group in steps:
            group_rows = sum(c for _, c in group)
            opt.zero_grad()
            for start, count in group:
                loss = criterion(model(x[start:start + count]), y[start:start + count])
                total += loss.item() * count
                (loss * (count / group_rows)).backward()
            if l2:
                penalty = sum(l2 * p.pow(2).sum() for p in model.parameters())
                total += penalty.item() * group_rows
                penalty.backward()
            norm = total_norm(model)
            if clip_norm is not None:
                torch.nn.utils.clip_grad_norm_(model.parameters(), clip_norm)
            if clip_value is not None:
                torch.nn.utils.clip_grad_value_(model.parameters(), clip_value)
            lr = opt.param_groups[0]["lr"]
            opt.step()
            if sched is not None and per_step:
                sched.step()
        model.eval()
        with torch.no_grad():
            val = criterion(model(xv), yv).item()
        if sched is not None and not per_step:
            sched.step(val) if isinstance(sched, S.ReduceLROnPlateau) else sched.step()
        rows.append({"epoch": epoch, "loss": total / n, "val_loss": val, "lr": lr, "grad_norm": norm})
    write_safetensors(f"{name}_final.safetensors", model.state_dict(), {"source": "torch " + torch.__version__})
    return {"flags": flags, "targets": y_names, "epochs": rows}


cases = {}

# AdamW with linear warmup then cosine decay, clipped to a total norm of 0.5: nanoGPT's recipe.
torch.manual_seed(11)
X = torch.randn(96, 6)
Y = torch.stack([X[:, 0] * X[:, 1] + X[:, 2], 2 * X[:, 3] - X[:, 4] * X[:, 5]], dim=1)
XV = torch.randn(24, 6)
YV = torch.stack([XV[:, 0] * XV[:, 1] + XV[:, 2], 2 * XV[:, 3] - XV[:, 4] * XV[:, 5]], dim=1)
cases["cosine_clip_adamw"] = run(
    "cosine_clip_adamw", [6, 16, 16, 2], X, Y, XV, YV, nn.MSELoss(),
    lambda p: torch.optim.AdamW(p, lr=1e-2, foreach=False),
    lambda o: S.SequentialLR(o, [S.LinearLR(o, start_factor=1 / 6, end_factor=1.0, total_iters=5), S.CosineAnnealingLR(o, T_max=48 - 6, eta_min=1e-4)], milestones=[6]),
    True, 16, 1, 8,
    ["--layers", "16,16", "--optimizer", "adamw", "--lr", "0.01", "--lr-schedule", "cosine(min=0.0001,warmup=6)", "--clip-grad-norm", "0.5",
     "--batch-size", "16", "--epochs", "8"],
    clip_norm=0.5)

# SGD with the one-cycle policy (its momentum cycled between 0.95 and 0.85), gradients clamped to 0.5.
torch.manual_seed(12)
X = torch.randn(70, 5)
Y = X @ torch.randn(5, 1) + 0.3 * torch.sin(3 * X[:, :1])
XV = torch.randn(20, 5)
YV = XV @ torch.randn(5, 1)
cases["onecycle_sgd"] = run(
    "onecycle_sgd", [5, 12, 1], X, Y, XV, YV, nn.MSELoss(),
    lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, foreach=False),
    lambda o: S.OneCycleLR(o, max_lr=0.05, total_steps=70, pct_start=0.3),
    True, 10, 1, 10,
    ["--layers", "12", "--optimizer", "sgd", "--momentum", "0.9", "--lr", "0.05", "--lr-schedule", "onecycle(pct=0.3)", "--clip-grad-value", "0.5",
     "--batch-size", "10", "--epochs", "10"],
    clip_value=0.5)

# Centered RMSprop with momentum on a Huber loss over data with outliers, the rate halved on plateaus.
torch.manual_seed(13)
X = torch.randn(80, 4)
Y = (X[:, :1] - 0.5 * X[:, 1:2]) + 0.05 * torch.randn(80, 1)
Y[::9] += 6.0
XV = torch.randn(20, 4)
YV = XV[:, :1] - 0.5 * XV[:, 1:2]
cases["plateau_rmsprop_huber"] = run(
    "plateau_rmsprop_huber", [4, 12, 1], X, Y, XV, YV, nn.HuberLoss(delta=0.5),
    lambda p: torch.optim.RMSprop(p, lr=0.01, momentum=0.5, centered=True, foreach=False),
    lambda o: S.ReduceLROnPlateau(o, mode="min", factor=0.5, patience=1),
    False, 20, 1, 12,
    ["--layers", "12", "--loss", "huber", "--huber-delta", "0.5", "--optimizer", "rmsprop", "--momentum", "0.5", "--centered", "--lr", "0.01",
     "--lr-schedule", "plateau(patience=1,factor=0.5)", "--batch-size", "20", "--epochs", "12"])

# Three batches of 8 per step (the epoch's last step two batches, 14 rows), an L2 penalty, clipping,
# and a step decay: accumulation through the whole gradient pipeline.
torch.manual_seed(14)
X = torch.randn(70, 5)
Y = X @ torch.randn(5, 1) + 0.1 * torch.randn(70, 1)
XV = torch.randn(16, 5)
YV = XV @ torch.randn(5, 1)
cases["step_accumulate_l2"] = run(
    "step_accumulate_l2", [5, 8, 1], X, Y, XV, YV, nn.MSELoss(),
    lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, foreach=False),
    lambda o: S.StepLR(o, step_size=3, gamma=0.5),
    False, 8, 3, 9,
    ["--layers", "8", "--optimizer", "sgd", "--momentum", "0.9", "--lr", "0.05", "--lr-schedule", "step(3,gamma=0.5)", "--accumulate", "3",
     "--l2", "0.01", "--clip-grad-norm", "1", "--batch-size", "8", "--epochs", "9"],
    clip_norm=1.0, l2=0.01)

with open("toolkit_cases.json", "w") as f:
    json.dump({"torch_version": torch.__version__, "cases": cases}, f, indent=1)
print("wrote", ", ".join(cases))
