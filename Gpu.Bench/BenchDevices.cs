using Gpu.Runtime;

namespace Gpu.Bench;

/// <summary>The devices a benchmark process can use: the fast CPU profile always, CUDA where present.</summary>
public static class BenchDevices
{
    private static readonly Lazy<bool> HasCuda = new(() => Device.Discover().Any(d => d.Kind == DeviceKind.Cuda && d.IsUsable));

    /// <summary>"cpu", plus "cuda" when a CUDA device is usable.</summary>
    public static IEnumerable<string> Available() => HasCuda.Value ? ["cpu", "cuda"] : ["cpu"];

    public static Device Open(string name) => name == "cpu" ? Device.CreateCpu() : Device.Create(name);
}
