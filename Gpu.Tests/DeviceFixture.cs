using Gpu.Runtime;

namespace Gpu.Tests;

/// <summary>
/// Owns the CPU devices every op test runs on, shared by all test classes: the host profile (what
/// users get without a GPU: vectorised host code), the fast profile (ILGPU's kernels on the CPU
/// accelerator) and the GPU-like profile (32-wide warps, groups of 256 with shared memory), which
/// exercises the tiled and group-reduction kernels that GPUs run.
/// </summary>
public sealed class DeviceFixture : IDisposable
{
    private readonly Lazy<Device> gpuLike = new(() => Device.CreateCpu(CpuProfile.GpuLike));

    /// <summary>ILGPU kernels on the CPU accelerator.</summary>
    public Device Fast { get; } = Device.CreateCpu(CpuProfile.Fast);

    /// <summary>The host fast path (the default "cpu" device).</summary>
    public Device Host { get; } = Device.CreateCpu(CpuProfile.Host);

    public Device GpuLike => gpuLike.Value;

    /// <summary>The device a theory parameter names: "host", "fast" or "gpulike".</summary>
    public Device Get(string profile) => profile switch
    {
        "host" => Host,
        "fast" => Fast,
        "gpulike" => GpuLike,
        _ => throw new ArgumentOutOfRangeException(nameof(profile), profile, null),
    };

    public void Dispose()
    {
        if (gpuLike.IsValueCreated)
            gpuLike.Value.Dispose();
        Host.Dispose();
        Fast.Dispose();
    }
}

[CollectionDefinition(Name)]
public sealed class DeviceCollection : ICollectionFixture<DeviceFixture>
{
    public const string Name = "devices";
}

/// <summary>Theory data: every CPU profile.</summary>
public static class Profiles
{
    public static TheoryData<string> All => new() { "host", "fast", "gpulike" };
}
