using Gpu.Runtime;

namespace Gpu.Bench;

/// <summary>
/// The devices a benchmark process can use: "cpu" (the host fast path), "cpu-kernels" (ILGPU's
/// kernels on the CPU accelerator) and "cuda" where present.
/// </summary>
public static class BenchDevices
{
    private static readonly Lazy<bool> HasCuda = new(() => Device.Discover().Any(d => d.Kind == DeviceKind.Cuda && d.IsUsable));

    /// <summary>Restricts the devices benchmarked, e.g. GPU_BENCH_DEVICES=cuda on a GPU machine.</summary>
    public const string DevicesVariable = "GPU_BENCH_DEVICES";

    /// <summary>"cpu", plus "cuda" when a CUDA device is usable; filtered by GPU_BENCH_DEVICES when set.</summary>
    public static IEnumerable<string> Available(bool includeCpuKernels = true)
    {
        string[] found = HasCuda.Value ? ["cpu", "cpu-kernels", "cuda"] : ["cpu", "cpu-kernels"];
        if (!includeCpuKernels)
            found = [.. found.Where(d => d != "cpu-kernels")];
        var wanted = Environment.GetEnvironmentVariable(DevicesVariable)?.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        return wanted is { Length: > 0 } ? found.Intersect(wanted) : found;
    }

    public static Device Open(string name) => name switch
    {
        "cpu" => Device.CreateCpu(CpuProfile.Host),
        "cpu-kernels" => Device.CreateCpu(CpuProfile.Fast),
        _ => Device.Create(name),
    };
}
