using System.Diagnostics;
using System.Text.RegularExpressions;
using Gpu.Runtime;
using ILGPU.Runtime.Cuda;

namespace Gpu.Tests;

/// <summary>
/// Proves every kernel compiles for CUDA without a GPU (ILGPU's PTX backend, asked for sm_90), and,
/// where NVIDIA's assembler is at hand (GPU_PTXAS, the cache scripts/ptxas-check.sh fills, or
/// `ptxas` on the PATH; .ci/run fetches it), that the PTX assembles for sm_80 and sm_90 without
/// errors and without spilling registers. Kernels are discovered by their [Kernel] attribute, so a
/// new kernel is covered as soon as it is written.
/// </summary>
public sealed partial class PtxCompilationTests
{
    private static readonly Lazy<string?> Ptxas = new(FindPtxas);

    public static TheoryData<string> Kernels()
    {
        var data = new TheoryData<string>();
        foreach (var kernel in PtxCompiler.Kernels())
            data.Add(PtxCompiler.Describe(kernel));
        return data;
    }

    [Fact]
    public void EveryKernelIsDiscovered()
    {
        var names = PtxCompiler.Kernels().Select(PtxCompiler.Describe).ToList();
        // A floor, not a list: fails if discovery itself breaks (an attribute renamed, say).
        Assert.True(names.Count >= 40, $"only {names.Count} kernels discovered: {string.Join(", ", names)}");
        Assert.Contains(names, n => n.StartsWith("MatMulKernels.Tiled", StringComparison.Ordinal));
        Assert.Contains(names, n => n.StartsWith("ReductionKernels.PartialSums<CrossEntropyTerm>", StringComparison.Ordinal));
        Assert.Contains(names, n => n.StartsWith("ActivationKernels.Forward<GeluActivation>", StringComparison.Ordinal));
    }

    [Theory]
    [MemberData(nameof(Kernels))]
    public void CompilesToPtxForHopper(string kernelName)
    {
        string ptx = Compile(kernelName);
        // ILGPU 1.5.3 caps the emitted target at sm_80 even when sm_90 is asked for; the driver
        // JIT-compiles that PTX for Hopper at load time. Accept any target in [sm_80, sm_90].
        var target = Regex.Match(ptx, @"\.target sm_(\d+)");
        Assert.True(target.Success, ptx[..Math.Min(400, ptx.Length)]);
        Assert.InRange(int.Parse(target.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture), 80, 90);
        Assert.Contains(".entry", ptx);
    }

    [SkippableTheory]
    [MemberData(nameof(Kernels))]
    public void AssemblesWithPtxasWithoutSpills(string kernelName)
    {
        Skip.If(Ptxas.Value is null, "ptxas not found (set GPU_PTXAS, or run scripts/ptxas-check.sh once to fetch it)");
        string folder = Directory.CreateTempSubdirectory("gpu-ptxas-").FullName;
        try
        {
            string file = Path.Combine(folder, "kernel.ptx");
            // ptxas 11.8 reads PTX up to ISA 7.8; ILGPU writes 8.0 and uses nothing newer.
            File.WriteAllText(file, VersionLine().Replace(Compile(kernelName), ".version 7.8"));
            foreach (var arch in new[] { "sm_80", "sm_90" })
            {
                var (code, output) = Run(Ptxas.Value!, "-arch=" + arch, "-v", file, "-o", Path.Combine(folder, $"kernel.{arch}.cubin"));
                Assert.True(code == 0, $"ptxas failed on {kernelName} for {arch}:\n{output}");
                var spills = SpillStores().Match(output);
                Assert.True(spills.Success, $"ptxas printed no register report for {kernelName}:\n{output}");
                Assert.True(spills.Groups[1].Value == "0", $"{kernelName} spills {spills.Groups[1].Value} bytes on {arch}:\n{output}");
            }
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    private static string Compile(string kernelName) =>
        PtxCompiler.Compile(PtxCompiler.Kernels().Single(k => PtxCompiler.Describe(k) == kernelName), CudaArchitecture.SM_90, CudaInstructionSet.ISA_80);

    private static string? FindPtxas()
    {
        var candidates = new List<string?>
        {
            Environment.GetEnvironmentVariable("GPU_PTXAS"),
            Path.Combine(Environment.GetEnvironmentVariable("GPU_PTXAS_CACHE") ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "gpu-ptxas"), "usr", "bin", "ptxas"),
        };
        candidates.AddRange((Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator).Select(dir => Path.Combine(dir, "ptxas")));
        return candidates.FirstOrDefault(path => path is not null && File.Exists(path) && Run(path, "--version").Code == 0);
    }

    private static (int Code, string Output) Run(string file, params string[] args)
    {
        var info = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args)
            info.ArgumentList.Add(a);
        using var process = Process.Start(info)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        process.WaitForExit();
        return (process.ExitCode, output.Result + error.Result);
    }

    [GeneratedRegex(@"^\.version \d+\.\d+", RegexOptions.Multiline)]
    private static partial Regex VersionLine();

    [GeneratedRegex(@"(\d+) bytes spill stores")]
    private static partial Regex SpillStores();
}
