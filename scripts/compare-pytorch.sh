#!/usr/bin/env bash
# Runs our quick benchmark, the same workloads in PyTorch, and the whole reference example in
# both, back to back on this machine, then prints the comparison table used in docs/benchmarks.md.
# By hand only (needs Debian's python3-torch; libopenblas0-pthread for a fair BLAS). Not run by CI.
# Usage: [THREADS=N] scripts/compare-pytorch.sh [OUT_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-bench-results}
mkdir -p "$out"
device=${GPU_DEVICE:-cpu}
# OpenBLAS 0.3.21 (Debian 12) does not recognise some VMs' CPU models and falls back to its Prescott
# (SSE3) kernels: 32 GFLOP/s instead of 157 at 1024^3 on the AVX-512 machine of 2026-11-29. Give it
# the kernels the CPU supports, so PyTorch's baseline is fair.
if [[ -z "${OPENBLAS_CORETYPE:-}" ]]; then
  if grep -qw avx512f /proc/cpuinfo; then export OPENBLAS_CORETYPE=SkylakeX
  elif grep -qw avx2 /proc/cpuinfo; then export OPENBLAS_CORETYPE=Haswell; fi
fi
# Both sides on the same number of threads, printed in the table's header: THREADS (default: every
# core) for our host path (GPU_HOST_THREADS), PyTorch's intra-op threads and OpenBLAS's own (its
# default is 1 on some 2-core machines for PyTorch, and OpenBLAS's threads come on top of it).
threads=${THREADS:-$(nproc)}
export GPU_HOST_THREADS=$threads OPENBLAS_NUM_THREADS=$threads OMP_NUM_THREADS=$threads
dotnet build Gpu.sln -c Release -v quiet -nologo
dotnet run -c Release --no-build --project Gpu.Bench -- quick --device "$device" --large --report "$out/quick.json" | tee "$out/quick.txt"
/usr/bin/python3 Gpu.Bench/pytorch_bench.py --threads "$threads" --json "$out/torch.json" | tee "$out/torch.txt"
dotnet run -c Release --no-build --project Gpu.Cli -- train --device "$device" --report "$out/train.json" > "$out/train.txt"
/usr/bin/python3 Gpu.Bench/compare.py "$out/quick.json" "$out/torch.json" "$out/train.json" | tee "$out/comparison.md"
