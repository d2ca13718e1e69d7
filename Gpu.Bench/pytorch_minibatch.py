"""Mini-batch training on a 100,000-row CSV, the PyTorch side of the comparison in docs/benchmarks.md.

Run by hand only (Debian's python3-torch), never by CI:
    /usr/bin/python3 Gpu.Bench/pytorch_minibatch.py --write /tmp/minibatch.csv   # make the data (seeded)
    /usr/bin/python3 Gpu.Bench/pytorch_minibatch.py /tmp/minibatch.csv            # time PyTorch
    dotnet run -c Release --project Gpu.Cli -- train --data /tmp/minibatch.csv --val-split 0.1 \\
        --layers 64,64 --batch-size 64 --epochs 3 --log-every 1                    # time ours
Same model (20-64-64-1, ReLU), MSELoss, Adam lr 1e-3, batch 64, shuffled, 3 epochs, 10% validation.
The PyTorch loop reads the loss every step (loss.item()), as typical PyTorch code does.
"""
import argparse
import random
import time

import numpy as np
import torch


def write(path, rows=100_000, features=20):
    random.seed(1)
    with open(path, "w") as f:
        f.write(",".join(f"x{i}" for i in range(features)) + ",y\n")
        for _ in range(rows):
            xs = [random.gauss(0, 1) for _ in range(features)]
            y = sum(xs[:5]) - 0.5 * xs[5] * xs[6] + random.gauss(0, 0.1)
            f.write(",".join(f"{v:.5f}" for v in xs) + f",{y:.5f}\n")


def train(path, epochs=3, batch=64):
    torch.manual_seed(0)
    data = np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.float32)
    x, y = torch.from_numpy(data[:, :-1]), torch.from_numpy(data[:, -1:])
    n = int(len(x) * 0.9)
    xt, yt, xv, yv = x[:n], y[:n], x[n:], y[n:]
    width = x.shape[1]
    model = torch.nn.Sequential(
        torch.nn.Linear(width, 64), torch.nn.ReLU(), torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 1))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.MSELoss()
    start, steps = time.perf_counter(), 0
    for epoch in range(epochs):
        order, total = torch.randperm(n), 0.0
        for i in range(0, n, batch):
            idx = order[i:i + batch]
            optimizer.zero_grad()
            loss = loss_fn(model(xt[idx]), yt[idx])
            loss.backward()
            optimizer.step()
            steps += 1
            total += loss.item() * len(idx)
        with torch.no_grad():
            val = loss_fn(model(xv), yv).item()
        print(f"Epoch {epoch}, Loss: {total / n}, Val Loss: {val}")
    seconds = time.perf_counter() - start
    print(f"{steps} steps in {seconds:.3f} s: {steps / seconds:.0f} steps/s "
          f"(torch {torch.__version__}, {torch.get_num_threads()} threads)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("csv")
    parser.add_argument("--write", action="store_true", help="write the CSV instead of training")
    args = parser.parse_args()
    write(args.csv) if args.write else train(args.csv)
