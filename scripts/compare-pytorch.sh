#!/usr/bin/env bash
# Runs our quick benchmark, the same workloads in PyTorch, and the whole reference example in
# both, back to back on this machine, then prints the comparison table used in docs/benchmarks.md.
# By hand only (needs Debian's python3-torch; libopenblas0-pthread for a fair BLAS). Not run by CI.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-bench-results}
mkdir -p "$out"
device=${GPU_DEVICE:-cpu}
dotnet build Gpu.sln -c Release -v quiet -nologo
dotnet run -c Release --no-build --project Gpu.Bench -- quick --device "$device" --large --report "$out/quick.json" | tee "$out/quick.txt"
/usr/bin/python3 Gpu.Bench/pytorch_bench.py --json "$out/torch.json" | tee "$out/torch.txt"
dotnet run -c Release --no-build --project Gpu.Cli -- train --device "$device" --report "$out/train.json" > "$out/train.txt"
/usr/bin/python3 Gpu.Bench/compare.py "$out/quick.json" "$out/torch.json" "$out/train.json" | tee "$out/comparison.md"
