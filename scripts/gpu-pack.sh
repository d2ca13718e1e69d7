#!/usr/bin/env bash
# Packs what scripts/gpu-check.sh needs on a GPU machine that has no .NET SDK (the lent H200's
# image has none): the .NET runtime, the built test, benchmark and CLI assemblies and xunit's
# console runner, into .device/bundle.tar.xz (git-ignored; it must stay under the 64 MiB carried
# with the tree). Run it here, then on the GPU machine, from the repository root with .device
# carried along (`;`, so the results come back even after a timeout):
#   timeout 580 scripts/gpu-check.sh /tmp/gc "$OUT/summary.txt"; tar -C /tmp -czf "$OUT/gpu-check.tar.gz" gc
# gpu-check.sh unpacks the bundle itself when it finds no `dotnet` on the PATH.
set -euo pipefail
cd "$(dirname "$0")/.."
runner_version=2.4.1
dotnet build Gpu.sln -c Release -v quiet -nologo
# xunit's console runner (netcoreapp2.0 build, runs on .NET 10 with DOTNET_ROLL_FORWARD=Major):
# `dotnet test` needs the SDK, this needs only the runtime.
runner="$HOME/.nuget/packages/xunit.runner.console/$runner_version/tools/netcoreapp2.0"
if [[ ! -f "$runner/xunit.console.dll" ]]; then
  restore=$(mktemp -d)
  cat > "$restore/restore.csproj" <<PROJ
<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup><TargetFramework>net10.0</TargetFramework><ManagePackageVersionsCentrally>false</ManagePackageVersionsCentrally></PropertyGroup>
  <ItemGroup><PackageDownload Include="xunit.runner.console" Version="[$runner_version]" /></ItemGroup>
</Project>
PROJ
  dotnet restore "$restore/restore.csproj" -v quiet
  rm -rf "$restore"
fi

root=$(dirname "$(readlink -f "$(command -v dotnet)")")
# The newest runtime and the folder it is installed in, as `dotnet --list-runtimes` reports them.
runtime=$(dotnet --list-runtimes | awk '/^Microsoft.NETCore.App /{v=$2} END{print v}')
frameworks=$(dotnet --list-runtimes | awk '/^Microsoft.NETCore.App /{d=$3} END{gsub(/[][]/, "", d); print d}')
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
framework_path=${frameworks#"$root"/}   # the same folder, relative to the dotnet root
mkdir -p "$stage/dotnet/$framework_path"
cp -r "$root/dotnet" "$root/host" "$stage/dotnet/"
cp -r "$frameworks/$runtime" "$stage/dotnet/$framework_path/"
cp -r Gpu.Tests/bin/Release/net10.0 "$stage/tests"   # holds the CLI (gpu.dll) too
cp -r Gpu.Bench/bin/Release/net10.0 "$stage/bench"
cp -r "$runner" "$stage/xunit"
# Native libraries for Linux x64 only (ONNX Runtime ships ~250 MB for every platform), and the
# benchmark's files that equal the tests' as hard links, which tar stores once.
for dir in "$stage/tests" "$stage/bench"; do
  find "$dir/runtimes" -mindepth 1 -maxdepth 1 ! -name linux-x64 -exec rm -rf {} + 2>/dev/null || true
done
(cd "$stage/bench" && find . -type f | while read -r file; do
  if [[ -f "../tests/$file" ]] && cmp -s "$file" "../tests/$file"; then ln -f "../tests/$file" "$file"; fi
done)
# Only the archive travels (64 MiB limit for everything carried); an unpacked copy would not fit.
rm -rf .device/run
mkdir -p .device
tar -C "$stage" -cf - . | xz -T0 -6 > .device/bundle.tar.xz
echo "wrote .device/bundle.tar.xz ($(du -h .device/bundle.tar.xz | cut -f1), .NET $runtime)"
