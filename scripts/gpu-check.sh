#!/usr/bin/env bash
# GPU check: on a machine with an NVIDIA GPU and the .NET SDK, builds everything, runs the CUDA
# tests, the quick benchmark and the BenchmarkDotNet suites (short preset, CUDA only) and the main
# job on CUDA, writing everything to one folder (default gpu-check-results/, or $1). Budget: under
# 8 minutes. Without a GPU it still runs end to end: the CUDA tests report "skipped" with the
# reason and the benchmarks run on the CPU accelerator.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:-gpu-check-results}
mkdir -p "$out"
start=$(date +%s)
step() { echo "== $* ($(( $(date +%s) - start )) s)" | tee -a "$out/summary.txt"; }

step "machine"
{ date -u; uname -a; dotnet --version; if command -v nvidia-smi > /dev/null; then nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv; else echo "nvidia-smi: not available"; fi; } > "$out/machine.txt"
cat "$out/machine.txt" >> "$out/summary.txt"
has_cuda=0
nvidia-smi -L > /dev/null 2>&1 && has_cuda=1

step "build"
dotnet build Gpu.sln -c Release -v quiet -nologo > "$out/build.txt" 2>&1 || { tail -20 "$out/build.txt"; exit 1; }

step "CUDA tests (and PTX compilation)"
timeout 240 dotnet test Gpu.Tests -c Release --no-build \
  --filter "FullyQualifiedName~CudaTests|FullyQualifiedName~PtxCompilationTests|FullyQualifiedName~DeviceSelectionTests" \
  --logger "console;verbosity=normal" > "$out/cuda-tests.txt" 2>&1
grep -E "Passed!|Failed!|Skipped |Failed " "$out/cuda-tests.txt" | tee -a "$out/summary.txt"

device=cpu
[[ $has_cuda == 1 ]] && device=cuda
step "quick benchmark on $device"
timeout 120 dotnet run -c Release --no-build --project Gpu.Bench -- quick --device "$device" --large --report "$out/quick.json" 2>&1 | tee "$out/quick.txt" | tee -a "$out/summary.txt"

step "main job on $device"
timeout 60 dotnet run -c Release --no-build --project Gpu.Cli -- train --device "$device" --report "$out/train.json" 2>&1 | tee "$out/train.txt" | tail -2 | tee -a "$out/summary.txt"

if [[ $has_cuda == 1 ]]; then
  step "BenchmarkDotNet, short preset, CUDA"
  GPU_BENCH_DEVICES=cuda timeout 240 dotnet run -c Release --no-build --project Gpu.Bench -- --preset short --filter '*' \
    --artifacts "$out/bdn" > "$out/bdn.txt" 2>&1
  grep -E "^\|" "$out/bdn.txt" | tee -a "$out/summary.txt"
else
  step "BenchmarkDotNet skipped: no CUDA device (run Gpu.Bench -- --preset short for the CPU suites)"
fi

step "done"
