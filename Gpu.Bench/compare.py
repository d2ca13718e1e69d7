#!/usr/bin/python3
"""Prints our quick benchmark next to PyTorch's numbers for the same workloads (markdown).

Usage: compare.py QUICK.json TORCH.json [TRAIN_REPORT.json]
Inputs come from `Gpu.Bench -- quick --report`, `pytorch_bench.py --json` and optionally
`Gpu.Cli -- train --report` (the whole reference example). Run by hand, never by CI.
"""
import json
import sys

ours = json.load(open(sys.argv[1]))
torch = json.load(open(sys.argv[2]))
train = json.load(open(sys.argv[3])) if len(sys.argv) > 3 else None

ours_threads = ours.get("host_threads") or ours.get("processors")
if ours["device"]["kind"] == "cpu" and ours_threads != torch["threads"]:
    sys.exit(f"ours ran on {ours_threads} threads and PyTorch on {torch['threads']}: a comparison needs both on the same number")
print(f"Both sides on {torch['threads']} threads.")
print(f"ours: {ours['device']['kind']} ({ours['device']['name']}), .NET {ours['dotnet']}, ILGPU {ours['ilgpu']}, {ours_threads} host threads")
print(f"PyTorch {torch['torch']} ({torch['blas']}, {torch['threads']} intra-op threads)\n")
print("| workload | ours | PyTorch | ours / PyTorch (time) |")
print("| --- | --- | --- | --- |")


def best_ilgpu(group):
    rows = [r for r in ours["results"] if r["group"] == group and (r["name"].startswith("ours") or r["group"].startswith("train step"))]
    return min(rows, key=lambda r: r["microseconds"]) if rows else None


for t in torch["results"]:
    group = t["group"]
    if group.startswith("adam") and "foreach=True" not in t["name"]:
        continue
    o = best_ilgpu(group)
    if o is None and group == "reference example 100 epochs" and train:
        seconds = train["throughput"]["train_seconds"]
        print(f"| {group} | {seconds * 1e3:.1f} ms | {t['microseconds'] / 1e3:.1f} ms | {seconds * 1e6 / t['microseconds']:.2f} |")
        continue
    if o is None:
        continue
    unit = t["unit"]
    ours_rate = f" ({o['rate']:.3g} {unit})" if o.get("rate") and unit != "s" else ""
    torch_rate = f" ({t['rate']:.3g} {unit})" if t.get("rate") else ""
    print(f"| {group} | {o['microseconds']:.1f} us{ours_rate} | {t['microseconds']:.1f} us{torch_rate} | {o['microseconds'] / t['microseconds']:.2f} |")
