#!/usr/bin/python3
"""Writes the PyTorch fixtures for the layers beyond the MLP (LayerTests, TrainingParityTests).

layers.safetensors + layer_cases.json: for each single-layer case, a random input x and output
gradient g, the layer's parameters, and PyTorch's output y, input gradient dx and parameter
gradients (module(x) then y.backward(g)).

cnn_* and dropout_mlp_* (+ entries in layer_training_cases.json): whole training runs, as
make_training_fixtures.py writes them: data, initial and final weights, per-epoch losses. The
dropout run applies the very masks the project's Dropout draws (the counter-based generator of
Gpu.Kernels/RandomKernels.cs, written out below), so PyTorch's autograd checks our scaling,
masking and backward with identical randomness.

Run by hand with Debian's python3-torch (1.13), one thread; the outputs are committed. Never run by
the build or CI.
"""
import gzip
import json
from fixture_io import write_csv, write_safetensors
import torch
from torch import nn

torch.set_num_threads(1)

M64 = (1 << 64) - 1


def bits24(seed, step, index):
    """RandomKernels.Bits24: SplitMix64's finaliser over seed + step * phi + index * c."""
    z = (seed + step * 0x9E3779B97F4A7C15 + index * 0xD1B54A32D192ED03) & M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    z ^= z >> 31
    return z >> 40


def dropout_mask(shape, p, seed, step, offset=0):
    threshold = round(p * (1 << 24))
    scale = float(torch.tensor(1.0 / (1.0 - p), dtype=torch.float32)) if p < 1 else 0.0
    n = 1
    for d in shape:
        n *= d
    values = [scale if bits24(seed, step, offset + i) >= threshold else 0.0 for i in range(n)]
    return torch.tensor(values, dtype=torch.float32).reshape(shape)


class CounterDropout(nn.Module):
    """nn.Dropout with the project's masks: seed = (model seed << 32) | layer index, step = optimizer steps so far."""

    def __init__(self, p, seed):
        super().__init__()
        self.p, self.seed, self.step = p, seed, 0

    def forward(self, x):
        if not self.training or self.p == 0:
            return x
        mask = dropout_mask(x.shape, self.p, self.seed, self.step)
        self.step += 1
        return x * mask




# ---------------------------------------------------------------- single layers
tensors = {}
cases = {}


def layer_case(name, spec, module, shape, low=-2.0, high=2.0):
    torch.manual_seed(len(cases) + 10)
    x = (low + (high - low) * torch.rand(shape)).requires_grad_(True)
    y = module(x)
    g = torch.randn(y.shape)
    y.backward(g)
    tensors[f"{name}.x"] = x.detach()
    tensors[f"{name}.g"] = g
    tensors[f"{name}.y"] = y.detach()
    tensors[f"{name}.dx"] = x.grad
    params = []
    for pname, p in module.named_parameters():
        tensors[f"{name}.{pname}"] = p.detach()
        tensors[f"{name}.d{pname}"] = p.grad
        params.append(pname)
    cases[name] = {"spec": spec, "input_shape": list(shape[1:]), "parameters": params}


def conv(name, cin, cout, k, s, p, shape):
    layer_case(name, {"type": "Conv2d", "in_channels": cin, "out_channels": cout, "kernel_size": k, "stride": s, "padding": p, "bias": True},
               nn.Conv2d(cin, cout, k, stride=s, padding=p), shape)


conv("conv_1to2_k3", 1, 2, 3, 1, 0, (2, 1, 5, 5))
conv("conv_3to4_k3_s2_p1", 3, 4, 3, 2, 1, (2, 3, 7, 6))
conv("conv_2to3_k2_p2_batch1", 2, 3, 2, 1, 2, (1, 2, 4, 5))
conv("conv_3to2_k5_s3", 3, 2, 5, 3, 0, (1, 3, 9, 8))
conv("conv_1x1", 3, 5, 1, 1, 0, (2, 3, 3, 3))
layer_case("maxpool_2", {"type": "MaxPool2d", "kernel_size": 2}, nn.MaxPool2d(2), (2, 3, 5, 5))
layer_case("maxpool_3_s2_overlapping", {"type": "MaxPool2d", "kernel_size": 3, "stride": 2}, nn.MaxPool2d(3, stride=2), (1, 2, 7, 7))
layer_case("avgpool_2", {"type": "AvgPool2d", "kernel_size": 2}, nn.AvgPool2d(2), (2, 3, 6, 6))
layer_case("avgpool_3_s1", {"type": "AvgPool2d", "kernel_size": 3, "stride": 1}, nn.AvgPool2d(3, stride=1), (1, 1, 5, 4))
layer_case("flatten", {"type": "Flatten"}, nn.Flatten(), (2, 3, 2, 2))
layer_case("tanh", {"type": "Tanh"}, nn.Tanh(), (3, 7), -6, 6)
layer_case("sigmoid", {"type": "Sigmoid"}, nn.Sigmoid(), (3, 7), -12, 12)
layer_case("gelu", {"type": "GELU"}, nn.GELU(), (4, 9), -7, 7)
layer_case("leakyrelu", {"type": "LeakyReLU", "negative_slope": 0.01}, nn.LeakyReLU(0.01), (3, 7), -3, 3)
layer_case("leakyrelu_0.2", {"type": "LeakyReLU", "negative_slope": 0.2}, nn.LeakyReLU(0.2), (2, 5), -3, 3)
layer_case("relu_4d", {"type": "ReLU"}, nn.ReLU(), (2, 2, 3, 3))
# Dropout in training mode: model seed 0, layer 0, step 0; the test builds a one-layer model.
layer_case("dropout_0.3", {"type": "Dropout", "p": 0.3}, CounterDropout(0.3, (0 << 32) | 0), (4, 9))
# 16 input channels and more: the host computes dx as a convolution of dy (stride 1, padding up to
# k - 1), else by col2im. Odd sizes, narrow outputs, batches that leave a partial group of images.
conv("conv_16to5_k3_p1", 16, 5, 3, 1, 1, (3, 16, 5, 7))
conv("conv_17to9_k5_p2", 17, 9, 5, 1, 2, (2, 17, 6, 9))
conv("conv_16to3_k3_p2_batch1", 16, 3, 3, 1, 2, (1, 16, 4, 3))
conv("conv_16to33_k3_s2_p1", 16, 33, 3, 2, 1, (5, 16, 7, 8))

write_safetensors("layers.safetensors", tensors, {"source": "torch " + torch.__version__})
with open("layer_cases.json", "w") as f:
    json.dump({"torch_version": torch.__version__, "cases": cases}, f, indent=1)


# ---------------------------------------------------------------- whole runs
def train_run(name, model, architecture, input_shape, x, y, xv, yv, loss_name, optimizer, options, batch, epochs, y_names, l1=0.0, l2=0.0):
    x_names = [f"x{i}" for i in range(x[0].numel())]
    flat_x, flat_xv = x.reshape(x.shape[0], -1), xv.reshape(xv.shape[0], -1)
    write_csv(f"{name}_train.csv", flat_x, y, x_names, y_names)
    write_csv(f"{name}_val.csv", flat_xv, yv, x_names, y_names)
    write_safetensors(f"{name}_init.safetensors", model.state_dict(), {"source": "torch " + torch.__version__})
    criterion = {"mse": nn.MSELoss(), "ce": nn.CrossEntropyLoss()}[loss_name]
    target = (lambda t: t[:, 0].long()) if loss_name == "ce" else (lambda t: t)
    cls = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD}[optimizer]
    opt = cls(model.parameters(), foreach=False, **options)
    n = x.shape[0]
    rows = []
    steps = 0
    for epoch in range(epochs):
        model.train()
        total = 0.0
        for start in range(0, n, batch):
            xb, yb = x[start:start + batch], y[start:start + batch]
            for m in model.modules():
                if isinstance(m, CounterDropout):
                    m.step = steps
            opt.zero_grad()
            loss = criterion(model(xb), target(yb))
            if l1 or l2:
                # The penalty added to the loss in Python: PyTorch's autograd gives its gradient.
                loss = loss + sum(l1 * p.abs().sum() + l2 * p.pow(2).sum() for p in model.parameters())
            loss.backward()
            opt.step()
            steps += 1
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
    return {"architecture": architecture, "input_shape": input_shape, "loss": loss_name, "optimizer": optimizer,
            "options": options, "batch_size": batch, "epochs": epochs, "targets": y_names, "l1": l1, "l2": l2}


runs = {}

# A small CNN on real digits (scaled to [0, 1]): conv, relu, maxpool, conv, relu, maxpool, flatten, linear.
rows = [list(map(float, l.split(","))) for l in gzip.open("/usr/lib/python3/dist-packages/sklearn/datasets/data/digits.csv.gz", "rt") if l.strip()]
data = torch.tensor(rows)
images, labels = (data[:, :64] / 16).reshape(-1, 1, 8, 8), data[:, 64:65]
torch.manual_seed(20)
cnn = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(4, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                    nn.Flatten(), nn.Linear(32, 10))
cnn_arch = [{"type": "Conv2d", "in_channels": 1, "out_channels": 4, "kernel_size": 3, "stride": 1, "padding": 1, "bias": True},
            {"type": "ReLU"}, {"type": "MaxPool2d", "kernel_size": 2},
            {"type": "Conv2d", "in_channels": 4, "out_channels": 8, "kernel_size": 3, "stride": 1, "padding": 1, "bias": True},
            {"type": "ReLU"}, {"type": "MaxPool2d", "kernel_size": 2}, {"type": "Flatten"},
            {"type": "Linear", "in_features": 32, "out_features": 10, "bias": True}]
runs["cnn"] = train_run("cnn", cnn, cnn_arch, [1, 8, 8], images[:192], labels[:192], images[192:256], labels[192:256],
                        "ce", "adam", {"lr": 1e-2}, 32, 6, ["label"])

# An MLP with GELU, Dropout (the project's masks) and Tanh, AdamW, validation in eval mode.
torch.manual_seed(21)
X = torch.randn(64, 6)
Y = torch.stack([torch.sin(X[:, 0]) + X[:, 1] * X[:, 2], X[:, 3] - 0.5 * X[:, 4] * X[:, 5]], dim=1)
XV = torch.randn(16, 6)
YV = torch.stack([torch.sin(XV[:, 0]) + XV[:, 1] * XV[:, 2], XV[:, 3] - 0.5 * XV[:, 4] * XV[:, 5]], dim=1)
mlp = nn.Sequential(nn.Linear(6, 16), nn.GELU(), CounterDropout(0.2, (0 << 32) | 2), nn.Linear(16, 8), nn.Tanh(), nn.Linear(8, 2))
mlp_arch = [{"type": "Linear", "in_features": 6, "out_features": 16, "bias": True}, {"type": "GELU"}, {"type": "Dropout", "p": 0.2},
            {"type": "Linear", "in_features": 16, "out_features": 8, "bias": True}, {"type": "Tanh"},
            {"type": "Linear", "in_features": 8, "out_features": 2, "bias": True}]
runs["dropout_mlp"] = train_run("dropout_mlp", mlp, mlp_arch, [6], X, Y, XV, YV, "mse", "adamw", {"lr": 5e-3, "weight_decay": 0.01}, 16, 12,
                                ["y0", "y1"])

# L1 and L2 penalties, added to the loss in PyTorch (our optimizers fuse their gradient into the step).
torch.manual_seed(22)
X = torch.randn(48, 5)
Y = (X @ torch.randn(5, 1)) + 0.1 * torch.randn(48, 1)
XV = torch.randn(12, 5)
YV = XV @ torch.randn(5, 1)
mlp_arch = [{"type": "Linear", "in_features": 5, "out_features": 8, "bias": True}, {"type": "ReLU"},
            {"type": "Linear", "in_features": 8, "out_features": 1, "bias": True}]
penalised = nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 1))
runs["l1l2_adam"] = train_run("l1l2_adam", penalised, mlp_arch, [5], X, Y, XV, YV, "mse", "adam", {"lr": 1e-2}, 16, 15, ["y"], l1=1e-3, l2=1e-2)
torch.manual_seed(23)
penalised = nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 1))
runs["l1l2_sgd"] = train_run("l1l2_sgd", penalised, mlp_arch, [5], X, Y, XV, YV, "mse", "sgd", {"lr": 0.05, "momentum": 0.9}, 16, 15, ["y"], l1=2e-3, l2=5e-3)

with open("layer_training_cases.json", "w") as f:
    json.dump({"torch_version": torch.__version__, "cases": runs}, f, indent=1)
print("wrote", len(cases), "layer cases and", ", ".join(runs))
