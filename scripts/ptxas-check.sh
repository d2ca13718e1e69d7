#!/usr/bin/env bash
# Assembles every kernel's PTX with NVIDIA's own assembler, without a GPU or a driver: proof that the
# CUDA code is valid machine code for Ampere (sm_80) and Hopper (sm_90), and how many registers,
# spill bytes and bytes of shared memory each kernel takes.
#
# ptxas comes from Debian's nvidia-cuda-toolkit 11.8 (bookworm's non-free component), downloaded and
# unpacked, never installed, into a cache outside the clone (GPU_PTXAS_CACHE, default
# ~/.cache/gpu-ptxas), so a machine downloads it once. Run by .ci/run before the tests, which then
# assemble every kernel too (PtxCompilationTests, through GPU_PTXAS).
#
# Usage: scripts/ptxas-check.sh [OUT_DIR]   (prints the table docs/kernels.md carries; exits 1 on an error or a spill)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-ptx-results}
cache=${GPU_PTXAS_CACHE:-$HOME/.cache/gpu-ptxas}
ptxas="$cache/usr/bin/ptxas"

if [[ ! -x "$ptxas" ]]; then
  echo "fetching ptxas (nvidia-cuda-toolkit from Debian bookworm non-free) into $cache"
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  mkdir -p "$work/lists/partial" "$work/archives/partial" "$cache"
  cat > "$work/sources.list" <<'LIST'
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bookworm contrib non-free
LIST
  apt_options=(-o "Dir::Etc::SourceList=$work/sources.list" -o "Dir::Etc::SourceParts=-" -o "Dir::State::Lists=$work/lists"
    -o "Dir::Cache::Archives=$work/archives" -o "Debug::NoLocking=1" -o "APT::Sandbox::User=root")
  apt-get "${apt_options[@]}" update -qq
  (cd "$work" && apt-get "${apt_options[@]}" download nvidia-cuda-toolkit >/dev/null)
  dpkg -x "$work"/nvidia-cuda-toolkit_*.deb "$cache"
  "$ptxas" --version | tail -1
fi

mkdir -p "$out"
dotnet build Gpu.Bench -c Release -v quiet -nologo >/dev/null
dotnet Gpu.Bench/bin/Release/net10.0/Gpu.Bench.dll ptx --out "$out/ptx"

# ILGPU 1.5.3 writes `.version 8.0` for ISA 8.0; this ptxas (CUDA 11.8) reads up to 7.8, and the
# kernels use nothing newer.
status=0
printf '| kernel | sm_80 registers | sm_80 spills (bytes) | sm_90 registers | sm_90 spills (bytes) | shared memory (bytes) | max threads per block |\n'
printf '| --- | --- | --- | --- | --- | --- | --- |\n'
for file in "$out"/ptx/*.ptx; do
  name=$(basename "$file" .ptx)
  sed -i 's/^\.version 8\.[0-9]*/.version 7.8/' "$file"
  row="| $name"
  for arch in sm_80 sm_90; do
    if ! report=$("$ptxas" -arch=$arch -v "$file" -o "$out/$name.$arch.cubin" 2>&1); then
      echo "ptxas failed on $name for $arch:" >&2
      echo "$report" >&2
      status=1
      continue
    fi
    registers=$(grep -o 'Used [0-9]* registers' <<<"$report" | head -1 | grep -o '[0-9]*' || echo 0)
    spills=$(grep -o '[0-9]* bytes spill stores' <<<"$report" | head -1 | grep -o '^[0-9]*' || echo 0)
    shared=$(grep -o '[0-9]* bytes smem' <<<"$report" | head -1 | grep -o '^[0-9]*' || echo 0)
    (( spills > 0 )) && { echo "$name spills $spills bytes on $arch" >&2; status=1; }
    row="$row | $registers | $spills"
  done
  # Registers bound the threads of a block: 65,536 per SM, allocated per warp in units of 256.
  per_warp=$(( ( (registers * 32 + 255) / 256 ) * 256 ))
  threads=$(( per_warp > 0 ? 65536 / per_warp * 32 : 1024 ))
  (( threads > 1024 )) && threads=1024
  printf '%s | %s | %s |\n' "$row" "${shared:-0}" "$threads"
done
exit $status
