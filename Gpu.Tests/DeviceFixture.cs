using Gpu.Runtime;

namespace Gpu.Tests;

/// <summary>
/// Owns the two CPU devices every kernel test runs on, shared by all test classes: the fast profile
/// (what users get without a GPU) and the GPU-like profile (32-wide warps, groups of 256 with shared
/// memory), which exercises the tiled and group-reduction code paths that GPUs take.
/// </summary>
public sealed class DeviceFixture : IDisposable
{
    private readonly Lazy<Device> gpuLike = new(() => Device.CreateCpu(CpuProfile.GpuLike));

    public Device Fast { get; } = Device.CreateCpu(CpuProfile.Fast);

    public Device GpuLike => gpuLike.Value;

    /// <summary>The device a theory parameter names: "fast" or "gpulike".</summary>
    public Device Get(string profile) => profile switch
    {
        "fast" => Fast,
        "gpulike" => GpuLike,
        _ => throw new ArgumentOutOfRangeException(nameof(profile), profile, null),
    };

    public void Dispose()
    {
        if (gpuLike.IsValueCreated)
            gpuLike.Value.Dispose();
        Fast.Dispose();
    }
}

[CollectionDefinition(Name)]
public sealed class DeviceCollection : ICollectionFixture<DeviceFixture>
{
    public const string Name = "devices";
}

/// <summary>Theory data: both CPU profiles.</summary>
public static class Profiles
{
    public static TheoryData<string> Both => new() { "fast", "gpulike" };
}
