#!/usr/bin/env bash
# GPU check: on a machine with an NVIDIA GPU, runs the CUDA tests, the quick benchmark and the
# BenchmarkDotNet suites (short preset, CUDA only) and the main job on CUDA, writing everything to
# one folder (default gpu-check-results/, or $1). Budget: under 8 minutes. Without a GPU it still
# runs end to end: the CUDA tests report "skipped" with the reason and the benchmarks run on the
# CPU accelerator.
# With the .NET SDK it builds first. Without one (the lent H200's image), it runs the prebuilt
# bundle that scripts/gpu-pack.sh made here (.device/bundle.tar.xz: the runtime, the binaries
# and xunit's console runner); see that script for the device call.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:-gpu-check-results}
mkdir -p "$out"
out=$(cd "$out" && pwd)
start=$(date +%s)
step() { echo "== $* ($(( $(date +%s) - start )) s)" | tee -a "$out/summary.txt"; }

mode=sdk
if ! command -v dotnet > /dev/null || [[ -z "$(dotnet --list-sdks 2>/dev/null)" ]]; then
  [[ -f .device/bundle.tar.xz ]] || { echo "no .NET SDK here and no .device/bundle.tar.xz (run scripts/gpu-pack.sh where the SDK is)" >&2; exit 2; }
  mode=bundle
  rm -rf .device/run && mkdir -p .device/run && tar -C .device/run -xJf .device/bundle.tar.xz
  export DOTNET_ROOT="$PWD/.device/run/dotnet" PATH="$PWD/.device/run/dotnet:$PATH" DOTNET_CLI_TELEMETRY_OPTOUT=1
fi
# The three programs, from the build (SDK) or from the bundle.
classes=(Gpu.Tests.CudaTests Gpu.Tests.PtxCompilationTests Gpu.Tests.DeviceSelectionTests)
if [[ $mode == sdk ]]; then
  filter=$(printf 'FullyQualifiedName~%s|' "${classes[@]}")
  tests=(dotnet test Gpu.Tests -c Release --no-build --filter "${filter%|}" --logger "console;verbosity=normal")
  bench=(dotnet run -c Release --no-build --project Gpu.Bench --)
  cli=(dotnet run -c Release --no-build --project Gpu.Cli --)
else
  # xunit's console runner targets netcoreapp2.0: DOTNET_ROLL_FORWARD lets it run on .NET 10.
  tests=(env DOTNET_ROLL_FORWARD=Major dotnet .device/run/xunit/xunit.console.dll .device/run/tests/Gpu.Tests.dll -verbose -noColor)
  for c in "${classes[@]}"; do tests+=(-class "$c"); done
  bench=(dotnet .device/run/bench/Gpu.Bench.dll)
  cli=(dotnet .device/run/tests/gpu.dll)
fi

step "machine ($mode)"
{ date -u; uname -a; dotnet --version 2>/dev/null || dotnet --list-runtimes; if command -v nvidia-smi > /dev/null; then nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv; else echo "nvidia-smi: not available"; fi; } > "$out/machine.txt"
cat "$out/machine.txt" >> "$out/summary.txt"
has_cuda=0
nvidia-smi -L > /dev/null 2>&1 && has_cuda=1

if [[ $mode == sdk ]]; then
  step "build"
  dotnet build Gpu.sln -c Release -v quiet -nologo > "$out/build.txt" 2>&1 || { tail -20 "$out/build.txt"; exit 1; }
fi

step "CUDA tests (and PTX compilation)"
timeout 240 "${tests[@]}" > "$out/cuda-tests.txt" 2>&1
grep -E "Passed!|Failed!|Skipped |Failed |\[SKIP\]|\[FAIL\]|Total:" "$out/cuda-tests.txt" | tee -a "$out/summary.txt"

device=cpu
[[ $has_cuda == 1 ]] && device=cuda
step "quick benchmark on $device"
timeout 120 "${bench[@]}" quick --device "$device" --large --report "$out/quick.json" 2>&1 | tee "$out/quick.txt" | tee -a "$out/summary.txt"

step "main job on $device"
timeout 60 "${cli[@]}" train --device "$device" --report "$out/train.json" 2>&1 | tee "$out/train.txt" | tail -2 | tee -a "$out/summary.txt"

if [[ $has_cuda == 1 ]]; then
  step "BenchmarkDotNet, short preset, CUDA"
  GPU_BENCH_DEVICES=cuda timeout 240 "${bench[@]}" --preset short --filter '*' \
    --artifacts "$out/bdn" > "$out/bdn.txt" 2>&1
  grep -E "^\|" "$out/bdn.txt" | tee -a "$out/summary.txt"
else
  step "BenchmarkDotNet skipped: no CUDA device (run Gpu.Bench -- --preset short for the CPU suites)"
fi

step "done"
