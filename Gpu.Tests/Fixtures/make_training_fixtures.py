#!/usr/bin/python3
"""Writes the PyTorch parity fixtures for TrainingParityTests.

For each case: <case>_train.csv and <case>_val.csv (data), <case>_init.safetensors (initial
weights, nn.Sequential state_dict names), <case>_losses.csv (per-epoch training and validation
loss), <case>_final.safetensors (weights after training), and one entry in training_cases.json.

Run by hand with Debian's python3-torch (1.13) on a CPU; the outputs are committed. Never run by the
build or CI. The safetensors files are written by fixture_io.py (the safetensors package is
not available here); the format is the one documented at huggingface.co/docs/safetensors.
"""
import json
from fixture_io import write_csv, write_safetensors
import torch
from torch import nn

torch.set_num_threads(1)  # a fixed summation order for the reference numbers




def mlp(widths):
    layers = []
    for i in range(len(widths) - 1):
        layers.append(nn.Linear(widths[i], widths[i + 1]))
        if i < len(widths) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def run(name, widths, x, y, xv, yv, loss_name, optimizer, options, batch, epochs, y_names=None):
    model = mlp(widths)
    x_names = [f"x{i}" for i in range(x.shape[1])]
    y_names = y_names or [f"y{i}" for i in range(y.shape[1])]
    write_csv(f"{name}_train.csv", x, y, x_names, y_names)
    write_csv(f"{name}_val.csv", xv, yv, x_names, y_names)
    write_safetensors(f"{name}_init.safetensors", model.state_dict(), {"source": "torch " + torch.__version__})

    criterion = {"mse": nn.MSELoss(), "bce": nn.BCEWithLogitsLoss(), "ce": nn.CrossEntropyLoss()}[loss_name]
    target = (lambda t: t[:, 0].long()) if loss_name == "ce" else (lambda t: t)
    cls = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD}[optimizer]
    opt = cls(model.parameters(), foreach=False, **options)
    n = x.shape[0]
    b = n if batch == 0 else batch
    rows = []
    for epoch in range(epochs):
        model.train()
        total = 0.0
        for start in range(0, n, b):
            xb, yb = x[start:start + b], y[start:start + b]
            opt.zero_grad()
            loss = criterion(model(xb), target(yb))
            loss.backward()
            opt.step()
            total += loss.item() * xb.shape[0]
        model.eval()
        with torch.no_grad():
            val = criterion(model(xv), target(yv)).item()
        rows.append((epoch, total / n, val))
    with open(f"{name}_losses.csv", "w") as f:
        f.write("epoch,loss,val_loss\n")
        for e, l, v in rows:
            f.write(f"{e},{l!r},{v!r}\n")
    write_safetensors(f"{name}_final.safetensors", model.state_dict(), {"source": "torch " + torch.__version__})
    return {"layers": widths, "loss": loss_name, "optimizer": optimizer, "options": options, "batch_size": batch,
            "epochs": epochs, "targets": y_names}


cases = {}

# The reference example: MLP 10-20-1, MSE, Adam lr 1e-3, full batch, 100 epochs.
torch.manual_seed(0)
X, Y, XV, YV = torch.randn(100, 10), torch.randn(100, 1), torch.randn(20, 10), torch.randn(20, 1)
cases["reference"] = run("reference", [10, 20, 1], X, Y, XV, YV, "mse", "adam", {"lr": 1e-3}, 0, 100)

# Mini-batch SGD with momentum (batches of 16, last one short), no shuffling.
torch.manual_seed(1)
X = torch.randn(70, 5)
Y = X @ torch.randn(5, 1) + 0.1 * torch.randn(70, 1)
XV = torch.randn(16, 5)
YV = XV @ torch.randn(5, 1)
cases["sgd_momentum"] = run("sgd_momentum", [5, 8, 1], X, Y, XV, YV, "mse", "sgd", {"lr": 0.05, "momentum": 0.9}, 16, 20)

# AdamW with two targets and two hidden layers.
torch.manual_seed(2)
X = torch.randn(50, 6)
Y = torch.stack([X[:, 0] * X[:, 1], X[:, 2] - X[:, 3]], dim=1)
XV = torch.randn(12, 6)
YV = torch.stack([XV[:, 0] * XV[:, 1], XV[:, 2] - XV[:, 3]], dim=1)
cases["adamw"] = run("adamw", [6, 12, 12, 2], X, Y, XV, YV, "mse", "adamw", {"lr": 5e-3, "weight_decay": 0.05}, 20, 30)

# Cross-entropy on three Gaussian blobs.
torch.manual_seed(3)
centres = torch.tensor([[2.0, 0.0, 0.0, 1.0], [-2.0, 1.0, 0.0, 0.0], [0.0, -2.0, 1.0, -1.0]])
labels = torch.arange(3).repeat(40)
points = centres[labels] + 0.8 * torch.randn(120, 4)
X, Y = points[:90], labels[:90].float().unsqueeze(1)
XV, YV = points[90:], labels[90:].float().unsqueeze(1)
cases["cross_entropy"] = run("cross_entropy", [4, 16, 3], X, Y, XV, YV, "ce", "adam", {"lr": 1e-2}, 0, 50, ["label"])

# Binary classification with BCEWithLogits, mini-batches of 32.
torch.manual_seed(4)
X = torch.randn(96, 3)
Y = ((X[:, 0] + 0.5 * X[:, 1] - X[:, 2]) > 0).float().unsqueeze(1)
XV = torch.randn(32, 3)
YV = ((XV[:, 0] + 0.5 * XV[:, 1] - XV[:, 2]) > 0).float().unsqueeze(1)
cases["bce"] = run("bce", [3, 8, 1], X, Y, XV, YV, "bce", "adam", {"lr": 1e-2, "amsgrad": True}, 32, 40, ["label"])

with open("training_cases.json", "w") as f:
    json.dump({"torch_version": torch.__version__, "cases": cases}, f, indent=1)
print("wrote", ", ".join(cases))
