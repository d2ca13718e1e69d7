#!/usr/bin/python3
"""Times the same workloads as the quick benchmark in PyTorch, on the same machine.

Run by hand (never by CI): /usr/bin/python3 Gpu.Bench/pytorch_bench.py [--json PATH]
Debian's python3-torch (1.13); install libopenblas0-pthread so torch's BLAS is OpenBLAS.
Reports medians of repeated timings, like the quick benchmark.
"""
import json
import math
import statistics
import sys
import time

import torch
from torch import nn

# --threads N: PyTorch's intra-op threads, set to what our side uses (scripts/compare-pytorch.sh passes
# the machine's cores); its default differs between builds and machines (1 on some 2-core VMs).
if "--threads" in sys.argv:
    torch.set_num_threads(int(sys.argv[sys.argv.index("--threads") + 1]))


def median_seconds(fn, budget=0.5, min_batches=5):
    fn()
    t = time.perf_counter(); fn(); once = max(time.perf_counter() - t, 1e-7)
    per_batch = int(min(max(budget / 20 / once, 1), 100000))
    samples, start = [], time.perf_counter()
    while len(samples) < min_batches or (time.perf_counter() - start < budget and len(samples) < 200):
        t = time.perf_counter()
        for _ in range(per_batch):
            fn()
        samples.append((time.perf_counter() - t) / per_batch)
    return statistics.median(samples)


def train_step(inputs, hidden, batch):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(inputs, hidden), nn.ReLU(), nn.Linear(hidden, 1))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    crit = nn.MSELoss()
    x, y = torch.randn(batch, inputs), torch.randn(batch, 1)

    def step():
        opt.zero_grad()
        loss = crit(model(x), y)
        loss.backward()
        opt.step()
    return step


def blas_info():
    config = torch.__config__.show()
    for part in config.replace(",", "\n").splitlines():
        if "BLAS_INFO" in part:
            return part.strip()
    return "unknown"


results = []


def add(group, name, seconds, unit, amount):
    rate = amount / seconds / 1e9 if amount else None
    results.append({"group": group, "name": name, "microseconds": seconds * 1e6, "unit": unit, "rate": rate})
    print(f"  {group:<32} {name:<22} {seconds * 1e6:12.1f} us" + (f" {rate:10.3f} {unit}" if rate else ""))


print(f"PyTorch {torch.__version__}, {blas_info()}, {torch.get_num_threads()} threads")
for m, k, n in [(100, 10, 20), (128, 128, 128), (256, 256, 256), (512, 512, 512), (1024, 1024, 1024)]:
    a, b = torch.rand(m, k), torch.rand(k, n)
    out = torch.empty(m, n)
    add(f"matmul {m}x{k}x{n}", "torch.mm", median_seconds(lambda: torch.mm(a, b, out=out)), "GFLOP/s", 2.0 * m * n * k)

n = 1 << 20
x, y = torch.rand(n) - 0.5, torch.rand(n) - 0.5
add(f"relu {n}", "torch.relu", median_seconds(lambda: torch.relu(x)), "GB/s", 8.0 * n)
add(f"mse {n}", "F.mse_loss", median_seconds(lambda: nn.functional.mse_loss(x, y)), "GB/s", 8.0 * n)
for foreach in (False, True):
    p = nn.Parameter(torch.rand(n))
    p.grad = torch.rand(n)
    opt = torch.optim.Adam([p], lr=1e-3, foreach=foreach)
    add(f"adam {n} params (28 B each)", f"Adam foreach={foreach}", median_seconds(opt.step), "GB/s", 28.0 * n)

def conv_step(channels, size, out_channels, batch=64):
    torch.manual_seed(0)
    conv = nn.Conv2d(channels, out_channels, 3, padding=1)
    x = torch.randn(batch, channels, size, size, requires_grad=True)
    g = torch.randn(batch, out_channels, size, size)

    def step():
        conv.zero_grad()
        x.grad = None
        conv(x).backward(g)
    flops = 3 * 2 * out_channels * channels * 9 * size * size * batch
    return step, flops


for channels, size, out_channels in [(3, 32, 32), (32, 16, 64)]:
    step, flops = conv_step(channels, size, out_channels)
    add(f"conv2d {channels}x{size}x{size}->{out_channels} k3 b64 fwd+bwd", "conv2d + backward", median_seconds(step, budget=1), "GFLOP/s", flops)

torch.manual_seed(0)
cnn = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                    nn.Flatten(), nn.Linear(128, 64), nn.ReLU(), nn.Dropout(0.2), nn.Linear(64, 10))
cnn_opt = torch.optim.Adam(cnn.parameters(), lr=1e-3)
cnn_x, cnn_y = torch.randn(32, 1, 8, 8), torch.arange(32) % 10
cnn_crit = nn.CrossEntropyLoss()


def cnn_step():
    cnn_opt.zero_grad()
    cnn_crit(cnn(cnn_x), cnn_y).backward()
    cnn_opt.step()


cnn_flops = 32 * (2 * 16 * 9 * 64 * 2 + 2 * 32 * 144 * 16 * 3 + 2 * 128 * 64 * 3 + 2 * 64 * 10 * 3)
add("digits cnn step b32", "zero_grad..step", median_seconds(cnn_step, budget=1), "GFLOP/s", cnn_flops)

def lstm_step(hidden, steps=64, batch=32):
    torch.manual_seed(0)
    lstm = nn.LSTM(hidden, hidden, batch_first=True)
    opt = torch.optim.Adam(lstm.parameters(), lr=1e-3)
    crit = nn.MSELoss()
    x, y = torch.randn(batch, steps, hidden), torch.randn(batch, steps, hidden)

    def step():
        opt.zero_grad()
        crit(lstm(x)[0], y).backward()
        opt.step()
    # 4 gates: 2 products (input and recurrent) of 4H x H per step, x3 for forward and backward
    flops = 3 * 2 * 2 * 4 * hidden * hidden * steps * batch
    return step, flops


for hidden in (128, 512):
    step, flops = lstm_step(hidden)
    add(f"lstm step H{hidden} T64 b32", "nn.LSTM zero_grad..step", median_seconds(step, budget=2, min_batches=3), "GFLOP/s", flops)

class SelfAttention(nn.Module):
    """nanoGPT's CausalSelfAttention, its non-flash path (PyTorch 1.13 has no fused attention on the CPU)."""

    def __init__(self, dim, heads):
        super().__init__()
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.heads = heads

    def forward(self, x):
        n, t, d = x.shape
        q, k, v = self.qkv(x).split(d, dim=2)
        q, k, v = (z.view(n, t, self.heads, d // self.heads).transpose(1, 2) for z in (q, k, v))
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
        att = att.masked_fill(torch.tril(torch.ones(t, t)) == 0, float("-inf"))
        y = nn.functional.softmax(att, dim=-1) @ v
        return self.proj(y.transpose(1, 2).contiguous().view(n, t, d))


class Residual(nn.Sequential):
    def forward(self, x):
        return x + super().forward(x)


class Positions(nn.Module):
    def __init__(self, context, dim):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(context, dim) * 0.02)

    def forward(self, x):
        return x + self.weight[:x.shape[1]]


for steps, batch in ((128, 16), (256, 16), (1024, 4)):
    torch.manual_seed(0)
    att = SelfAttention(128, 4)
    xa = torch.randn(batch, steps, 128, requires_grad=True)

    def attention_step():
        att.zero_grad()
        xa.grad = None
        att(xa).backward(torch.ones(batch, steps, 128))
    add(f"attention fwd+bwd T{steps} b{batch}", "nanoGPT attention", median_seconds(attention_step, budget=2, min_batches=3), "GFLOP/s", None)

torch.manual_seed(0)
blocks = []
for _ in range(4):
    blocks += [Residual(nn.LayerNorm(128), SelfAttention(128, 4)),
               Residual(nn.LayerNorm(128), nn.Linear(128, 512), nn.GELU(approximate="tanh"), nn.Linear(512, 128))]
gpt = nn.Sequential(nn.Embedding(256, 128), Positions(128, 128), *blocks, nn.LayerNorm(128), nn.Linear(128, 256))
gpt_opt = torch.optim.AdamW(gpt.parameters(), lr=1e-3)
gpt_x, gpt_y = torch.randint(0, 256, (16, 128)), torch.randint(0, 256, (16, 128))


def gpt_step():
    gpt_opt.zero_grad()
    nn.functional.cross_entropy(gpt(gpt_x).view(-1, 256), gpt_y.view(-1)).backward()
    gpt_opt.step()


# Times only: the quick benchmark's rows carry the FLOP counts (both sides run the same model).
add("gpt step 4x128 T128 b16", "zero_grad..step", median_seconds(gpt_step, budget=3, min_batches=3), "GFLOP/s", None)

step = train_step(10, 20, 100)
flops = (2 * 10 * 20 * 2 + 2 * 20 * 3) * 100
add("train step 10-20-1 b100", "zero_grad..step", median_seconds(step), "GFLOP/s", flops)
step = train_step(1024, 1024, 1024)
flops = (2 * 1024 * 1024 * 2 + 2 * 1024 * 3) * 1024
add("train step 1024-1024-1 b1024", "zero_grad..step", median_seconds(step, budget=2, min_batches=3), "GFLOP/s", flops)

# The whole reference example: 100 full-batch epochs with validation, as the CLI's `train` runs it.
torch.manual_seed(0)
X, Y, XV, YV = torch.randn(100, 10), torch.randn(100, 1), torch.randn(20, 10), torch.randn(20, 1)


def reference_run():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(10, 20), nn.ReLU(), nn.Linear(20, 1))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    crit = nn.MSELoss()
    for epoch in range(100):
        opt.zero_grad()
        loss = crit(model(X), Y)
        loss.backward()
        opt.step()
        with torch.no_grad():
            val = crit(model(XV), YV)
        if epoch % 10 == 0:
            _ = (loss.item(), val.item())


add("reference example 100 epochs", "train loop", median_seconds(reference_run, budget=2, min_batches=3), "s", None)

if "--json" in sys.argv:
    path = sys.argv[sys.argv.index("--json") + 1]
    with open(path, "w") as f:
        json.dump({"torch": torch.__version__, "blas": blas_info(), "threads": torch.get_num_threads(), "results": results}, f, indent=1)
    print("wrote", path)
