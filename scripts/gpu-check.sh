#!/usr/bin/env bash
# GPU check: on a machine with an NVIDIA GPU, runs the whole test suite (every device-parameterised
# test then runs on CUDA too, through cuBLAS and through our own kernels), the quick benchmark, the
# main job and a narrow BenchmarkDotNet run on CUDA. Without a GPU it still runs end to end: the
# CUDA cases report "skipped" with the reason.
#
# With the .NET SDK it builds first. Without one (the lent H200's image), it runs the prebuilt
# bundle scripts/gpu-pack.sh made (.device/bundle.tar.xz: runtime, binaries, xunit's console runner).
#
# Usage: scripts/gpu-check.sh OUT [SUMMARY]
#   OUT gets every log as it is written; SUMMARY (default OUT/summary.txt) the one-screen summary,
#   appended step by step, so a run cut short still leaves what it found. Step timeouts add up to
#   512 s without the build step, under the device tool's 600 s per command. The device command (one line, `;` so the
#   results are copied even after a timeout; only a few files come back, so the logs are tarred):
#     timeout 580 scripts/gpu-check.sh /tmp/gc "$OUT/summary.txt"; tar -C /tmp -czf "$OUT/gpu-check.tar.gz" gc
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:-gpu-check-results}
mkdir -p "$out"
out=$(cd "$out" && pwd)
summary=${2:-$out/summary.txt}
start=$(date +%s)
step() { echo "== $* ($(( $(date +%s) - start )) s)" | tee -a "$summary"; }

step "libraries (a missing one is known in seconds)"
{ ldconfig -p 2>/dev/null | grep -E 'libcublas|libcuda\.|libnvidia-ml' || echo "ldconfig lists no libcuda, libcublas or libnvidia-ml"; } | tee -a "$summary"
{ command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv; } 2>&1 | tee -a "$summary"

mode=sdk
if ! command -v dotnet > /dev/null || [[ -z "$(dotnet --list-sdks 2>/dev/null)" ]]; then
  [[ -f .device/bundle.tar.xz ]] || { echo "no .NET SDK here and no .device/bundle.tar.xz (run scripts/gpu-pack.sh where the SDK is)" | tee -a "$summary" >&2; exit 2; }
  mode=bundle
  rm -rf .device/run && mkdir -p .device/run
  if command -v xz > /dev/null; then
    tar -C .device/run -xJf .device/bundle.tar.xz
  else
    python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1], "r:xz").extractall(sys.argv[2])' .device/bundle.tar.xz .device/run
  fi
  export DOTNET_ROOT="$PWD/.device/run/dotnet" PATH="$PWD/.device/run/dotnet:$PATH" DOTNET_CLI_TELEMETRY_OPTOUT=1
  # The image may have no ICU; nothing here depends on culture data.
  export DOTNET_SYSTEM_GLOBALIZATION_INVARIANT=1
fi

if [[ $mode == sdk ]]; then
  tests=(dotnet test Gpu.Tests -c Release --no-build --logger "console;verbosity=normal")
  bench=(dotnet run -c Release --no-build --project Gpu.Bench --)
  cli=(dotnet run -c Release --no-build --project Gpu.Cli --)
else
  # xunit's console runner targets netcoreapp2.0: DOTNET_ROLL_FORWARD lets it run on .NET 10.
  tests=(env DOTNET_ROLL_FORWARD=Major dotnet .device/run/xunit/xunit.console.dll .device/run/tests/Gpu.Tests.dll -verbose -noColor)
  bench=(dotnet .device/run/bench/Gpu.Bench.dll)
  cli=(dotnet .device/run/tests/gpu.dll)
fi

step "machine ($mode)"
{ date -u; uname -a; dotnet --list-runtimes 2>/dev/null | tail -1; } | tee -a "$summary" > "$out/machine.txt"
has_cuda=0
nvidia-smi -L > /dev/null 2>&1 && has_cuda=1

if [[ $mode == sdk ]]; then
  step "build"
  timeout 120 dotnet build Gpu.sln -c Release -v quiet -nologo > "$out/build.txt" 2>&1 || { tail -20 "$out/build.txt" | tee -a "$summary"; exit 1; }
fi

device=cpu
[[ $has_cuda == 1 ]] && device=cuda
step "devices"
timeout 30 "${cli[@]}" devices 2>&1 | tee -a "$summary"

step "main job on $device"
timeout 40 "${cli[@]}" train --device "$device" --report "$out/train.json" > "$out/train.txt" 2>&1
tail -2 "$out/train.txt" | tee -a "$summary"

step "the whole test suite (CUDA cases run where CUDA is)"
timeout 240 "${tests[@]}" > "$out/tests.txt" 2>&1
grep -E "Passed!|Failed!|Total tests:|Passed:|Failed:|Skipped:|Total:|\[FAIL\]|Failed Gpu" "$out/tests.txt" | tail -40 | tee -a "$summary"
grep -cE "\[SKIP\]|Skipped Gpu" "$out/tests.txt" | sed 's/^/skipped: /' | tee -a "$summary"

step "quick benchmark on $device"
timeout 80 "${bench[@]}" quick --device "$device" --large --report "$out/quick.json" > "$out/quick.txt" 2>&1
tee -a "$summary" < "$out/quick.txt" > /dev/null

if [[ $has_cuda == 1 ]]; then
  step "BenchmarkDotNet, short preset, CUDA, matrix products and training steps"
  GPU_BENCH_DEVICES=cuda timeout 90 "${bench[@]}" --preset short --filter '*MatMul*' '*TrainingStep*' \
    --artifacts "$out/bdn" > "$out/bdn.txt" 2>&1
  grep -E "^\|" "$out/bdn.txt" | tee -a "$summary"
fi

if [[ $has_cuda == 1 ]]; then
  # The upload ring: the same run with the data kept in host memory (each batch copied on a second
  # stream while the previous step computes) and on the device; the weights must be identical.
  step "host-resident against device-resident data on CUDA (20,000 rows of 784 features)"
  timeout 8 "${bench[@]}" write-csv "$out/wide.csv" --rows 20000 --features 784 > /dev/null 2>&1
  for limit in 0 1000000; do
    timeout 12 "${cli[@]}" train --device cuda --data "$out/wide.csv" --layers 1024 --batch-size 1024 --epochs 3 \
      --device-data-mb $limit --save "$out/wide-$limit.safetensors" --report "$out/wide-$limit.json" 2>&1 | grep -E "Trained|error" | tee -a "$summary"
  done
  cmp "$out/wide-0.safetensors" "$out/wide-1000000.safetensors" 2>&1 && echo "weights identical" | tee -a "$summary"
  rm -f "$out/wide.csv"
fi

step "done"
