using Gpu.Runtime;

namespace Gpu.Tests;

/// <summary>
/// Owns the devices every op test runs on, shared by all test classes: the CPU's host profile (what
/// users get without a GPU: vectorised host code), its fast profile (ILGPU's kernels on the CPU
/// accelerator) and its GPU-like profile (32-wide warps, groups of 256 with shared memory, which
/// exercises the tiled and group-reduction kernels GPUs run); and, where present, CUDA through the
/// default dispatch (cuBLAS for products), CUDA through the project's own kernels only, and OpenCL.
/// A test asking for a device this machine lacks is reported as skipped with the reason.
/// </summary>
public sealed class DeviceFixture : IDisposable
{
    private readonly Lazy<Device> gpuLike = new(() => Device.CreateCpu(CpuProfile.GpuLike));
    private readonly Lazy<(Device? Device, string? Problem)> cuda = new(() => Open("cuda", MatMulAlgorithm.Auto));
    private readonly Lazy<(Device? Device, string? Problem)> cudaKernels = new(() => Open("cuda", MatMulAlgorithm.RegisterTiled));
    private readonly Lazy<(Device? Device, string? Problem)> openCl = new(() => Open("opencl", MatMulAlgorithm.Auto));

    /// <summary>ILGPU kernels on the CPU accelerator.</summary>
    public Device Fast { get; } = Device.CreateCpu(CpuProfile.Fast);

    /// <summary>The host fast path (the default "cpu" device).</summary>
    public Device Host { get; } = Device.CreateCpu(CpuProfile.Host);

    public Device GpuLike => gpuLike.Value;

    /// <summary>
    /// The device a theory parameter names: "host", "fast", "gpulike", "cuda" (cuBLAS where it loads),
    /// "cuda-kernels" (our kernels only) or "opencl"; skips the test when the device is absent.
    /// </summary>
    public Device Get(string profile) => profile switch
    {
        "host" => Host,
        "fast" => Fast,
        "gpulike" => GpuLike,
        "cuda" => Require(cuda.Value, profile),
        "cuda-kernels" => Require(cudaKernels.Value, profile),
        "opencl" => Require(openCl.Value, profile),
        _ => throw new ArgumentOutOfRangeException(nameof(profile), profile, null),
    };

    /// <summary>True for the profiles that run on a real GPU, whose approximate exp/log and fused multiply-adds call for wider tolerances.</summary>
    public static bool IsGpu(string profile) => profile is "cuda" or "cuda-kernels" or "opencl";

    public void Dispose()
    {
        foreach (var lazy in new[] { cuda, cudaKernels, openCl })
        {
            if (lazy.IsValueCreated)
                lazy.Value.Device?.Dispose();
        }

        if (gpuLike.IsValueCreated)
            gpuLike.Value.Dispose();
        Host.Dispose();
        Fast.Dispose();
    }

    private static Device Require((Device? Device, string? Problem) opened, string profile)
    {
        Skip.If(opened.Device is null, $"no {profile} device here: {opened.Problem}");
        return opened.Device!;
    }

    private static (Device?, string?) Open(string kind, MatMulAlgorithm algorithm)
    {
        try
        {
            var device = Device.Create(kind);
            device.MatMulAlgorithm = algorithm;
            return (device, null);
        }
        catch (DeviceNotFoundException e)
        {
            return (null, e.Message);
        }
    }
}

[CollectionDefinition(Name)]
public sealed class DeviceCollection : ICollectionFixture<DeviceFixture>
{
    public const string Name = "devices";
}

/// <summary>Theory data: every device profile (the GPU ones are skipped where absent).</summary>
public static class Profiles
{
    public static TheoryData<string> All => new() { "host", "fast", "gpulike", "cuda", "cuda-kernels", "opencl" };

    /// <summary>One profile per kind of device and stream: "cuda-kernels" differs from "cuda" only in its matrix kernels.</summary>
    public static TheoryData<string> Devices => new() { "host", "fast", "gpulike", "cuda", "opencl" };

    /// <summary>The profiles that run on a GPU, for theories whose CPU cases are listed one by one.</summary>
    public static readonly string[] Gpus = ["cuda", "cuda-kernels", "opencl"];
}
