using System.Collections.Concurrent;
using System.Reflection;
using System.Runtime.InteropServices;

namespace Gpu.Runtime;

/// <summary>
/// Finds NVIDIA's libraries for ILGPU under the names driver installs and containers actually have.
/// ILGPU imports the driver as <c>cuda</c> and ILGPU.Algorithms NVML as <c>nvidia-ml.so</c> and cuBLAS
/// as <c>libcublas.so.12</c>, <c>.11</c> or <c>.10</c>; .NET then probes <c>libcuda.so</c> and
/// <c>libnvidia-ml.so</c>, which many installs lack (only <c>libcuda.so.1</c> and
/// <c>libnvidia-ml.so.1</c> come with the driver), and no CUDA 13 cuBLAS. A resolver registered on
/// both assemblies before the first context falls back to the versioned names and the usual CUDA
/// folders, and records what loaded (or what was tried) for `gpu devices` and the reports.
/// </summary>
internal static class NativeLibraries
{
    private static readonly ConcurrentDictionary<string, string> Outcomes = new();
    private static int registered;

    // Before any code of this assembly runs, so before any ILGPU context it creates (a test, a
    // benchmark or a user may open a context through PtxCompiler or Device first). CA2255 warns that
    // libraries rarely need this; the resolver must be in place before the first P/Invoke, which is
    // exactly the case it exists for.
#pragma warning disable CA2255
    [System.Runtime.CompilerServices.ModuleInitializer]
#pragma warning restore CA2255
    internal static void RegisterOnLoad() => Register();

    /// <summary>Registers the resolver once per process (later calls do nothing).</summary>
    public static void Register()
    {
        if (Interlocked.Exchange(ref registered, 1) == 1)
            return;
        foreach (var assembly in new[] { typeof(ILGPU.Context).Assembly, typeof(ILGPU.Runtime.Cuda.CuBlas).Assembly })
        {
            try
            {
                NativeLibrary.SetDllImportResolver(assembly, Resolve);
            }
            catch (InvalidOperationException)
            {
                // Another component registered a resolver first: its choice stands.
            }
        }
    }

    /// <summary>What happened to a library ("cuda", "nvml", "cublas"): the file that loaded, or the names tried.</summary>
    public static string? Outcome(string library) => Outcomes.TryGetValue(library, out var text) ? text : null;

    /// <summary>The names to try for an import, in order: the import itself, then the fallbacks.</summary>
    public static IReadOnlyList<string> Candidates(string import)
    {
        string? family = Family(import);
        if (family is null)
            return [import];
        var names = new List<string> { import };
        IEnumerable<string> files = family switch
        {
            "cuda" => ["libcuda.so.1", "libcuda.so"],
            "nvml" => ["libnvidia-ml.so.1", "libnvidia-ml.so"],
            _ => ["libcublas.so.13", "libcublas.so.12", "libcublas.so.11"],
        };
        foreach (string file in files)
        {
            names.Add(file);
            foreach (string folder in Folders())
                names.Add(Path.Combine(folder, file));
        }

        return [.. names.Distinct()];
    }

    private static IntPtr Resolve(string import, Assembly assembly, DllImportSearchPath? searchPath)
    {
        string? family = Family(import);
        if (family is null || !OperatingSystem.IsLinux())
            return IntPtr.Zero; // default probing
        var tried = new List<string>();
        foreach (string name in Candidates(import))
        {
            bool loaded = name == import
                ? NativeLibrary.TryLoad(name, assembly, searchPath, out IntPtr handle)
                : NativeLibrary.TryLoad(name, out handle);
            if (loaded)
            {
                Outcomes[family] = name == import ? import : $"{name} (for {import})";
                return handle;
            }

            if (!name.Contains('/'))
                tried.Add(name);
        }

        Outcomes[family] = $"not found (tried {string.Join(", ", tried)} and the CUDA folders)";
        return IntPtr.Zero;
    }

    private static string? Family(string import) => import switch
    {
        "cuda" or "libcuda.so" => "cuda",
        "nvidia-ml.so" or "nvml" or "nvidia-ml" => "nvml",
        _ when import.StartsWith("libcublas.so", StringComparison.Ordinal) => "cublas",
        _ => null,
    };

    // Where CUDA toolkits and drivers put their libraries, the environment's CUDA_HOME first.
    private static IEnumerable<string> Folders()
    {
        foreach (var variable in new[] { "CUDA_HOME", "CUDA_PATH" })
        {
            if (Environment.GetEnvironmentVariable(variable) is { Length: > 0 } home)
                yield return Path.Combine(home, "lib64");
        }

        yield return "/usr/local/cuda/lib64";
        foreach (var version in new[] { "13.0", "12.9", "12.8", "12.6", "12.4", "12.2", "12.0", "11.8" })
            yield return $"/usr/local/cuda-{version}/lib64";
        yield return "/usr/lib/x86_64-linux-gnu";
        yield return "/usr/lib/aarch64-linux-gnu";
        yield return "/usr/lib64";
        yield return "/usr/lib/wsl/lib";
    }
}
