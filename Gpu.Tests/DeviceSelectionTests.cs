using Gpu.Runtime;

namespace Gpu.Tests;

/// <summary>Device selection. Touches the GPU_DEVICE variable, so it does not run in parallel with other classes.</summary>
[Collection(EnvironmentCollection.Name)]
public sealed class DeviceSelectionTests
{
    private static bool HasUsableGpu => Device.Discover().Any(d => d.Kind != DeviceKind.Cpu && d.IsUsable);

    [Fact]
    public void CpuIsAlwaysAvailableAndDescribed()
    {
        using var device = Device.Create("cpu");
        Assert.Equal(DeviceKind.Cpu, device.Kind);
        Assert.True(device.Info.Multiprocessors >= 1);
        Assert.True(device.Info.WarpSize >= 1);
        Assert.True(device.Info.MemoryBytes > 0);
        Assert.Contains("cpu: CPU", device.ToString());
        Assert.True(device.IsHost);
    }

    [Fact]
    public void RequestsAreCaseInsensitive()
    {
        using var device = Device.Create(" CPU ");
        Assert.Equal(DeviceKind.Cpu, device.Kind);
    }

    [SkippableFact]
    public void AutoFallsBackToTheCpuAndSaysSo()
    {
        Skip.If(HasUsableGpu, "a usable GPU is present, so auto does not fall back");
        using var device = Device.Create("auto");
        Assert.Equal(DeviceKind.Cpu, device.Kind);
        Assert.NotNull(device.SelectionNote);
        Assert.Contains("using the CPU", device.SelectionNote);
        Assert.Contains("CUDA", device.SelectionNote);
    }

    [SkippableTheory]
    [InlineData("cuda")]
    [InlineData("opencl")]
    public void AnAbsentDeviceRequestedExplicitlyFailsAndListsWhatWasFound(string request)
    {
        var kind = request == "cuda" ? DeviceKind.Cuda : DeviceKind.OpenCL;
        Skip.If(Device.Discover().Any(d => d.Kind == kind && d.IsUsable), $"a usable {request} device is present");
        var error = Assert.Throws<DeviceNotFoundException>(() => Device.Create(request));
        Assert.Contains($"'{request}' was requested but is not available", error.Message);
        Assert.Contains("cpu: CPU", error.Message);
    }

    [Fact]
    public void UnknownRequestsNameTheChoices()
    {
        var error = Assert.Throws<ArgumentException>(() => Device.Create("tpu"));
        Assert.Contains("Unknown device 'tpu'", error.Message);
        Assert.Contains("auto, cpu, cuda or opencl", error.Message);
    }

    [Fact]
    public void EnvironmentVariableOverridesTheDefault()
    {
        string? saved = Environment.GetEnvironmentVariable(Device.EnvironmentVariable);
        try
        {
            Environment.SetEnvironmentVariable(Device.EnvironmentVariable, "cpu");
            using (var device = Device.Create())
            {
                Assert.Equal(DeviceKind.Cpu, device.Kind);
                Assert.Null(device.SelectionNote);
            }

            Environment.SetEnvironmentVariable(Device.EnvironmentVariable, "quantum");
            var error = Assert.Throws<ArgumentException>(() => Device.Create());
            Assert.Contains("GPU_DEVICE", error.Message);

            // An explicit request wins over the variable.
            using var explicitCpu = Device.Create("cpu");
            Assert.Equal(DeviceKind.Cpu, explicitCpu.Kind);
        }
        finally
        {
            Environment.SetEnvironmentVariable(Device.EnvironmentVariable, saved);
        }
    }

    [Fact]
    public void DiscoverListsTheCpu()
    {
        var found = Device.Discover();
        Assert.Contains(found, d => d.Kind == DeviceKind.Cpu && d.IsUsable);
    }

    [Fact]
    public void GpuLikeProfileHasLargeGroups()
    {
        using var device = Device.CreateCpu(CpuProfile.GpuLike);
        Assert.Equal(32, device.Info.WarpSize);
        Assert.True(device.Info.MaxGroupSize >= 256);
    }

    [Fact]
    public void ADisposedDeviceRefusesWorkAndItsTensorsAreDisposed()
    {
        var device = Device.CreateCpu();
        var tensor = device.Zeros(3);
        device.Dispose();
        Assert.True(tensor.IsDisposed);
        Assert.Throws<ObjectDisposedException>(() => tensor.ToArray());
        Assert.Throws<ObjectDisposedException>(() => device.Zeros(2));
        device.Dispose(); // idempotent
    }

    [Theory]
    [InlineData(CpuProfile.Fast)]
    [InlineData(CpuProfile.GpuLike)]
    public void KernelsCompiledAheadOfTimeAreNotCompiledAgain(CpuProfile profile)
    {
        using var device = Device.CreateCpu(profile);
        Assert.Equal(0, device.CompiledKernels);
        device.CompileKernels();
        int compiled = device.CompiledKernels;
        // Every [Kernel] method the accelerator can launch, found without a hand-written list.
        int launchable = Gpu.Runtime.Backends.Kernels.KernelCatalog.All.Count(k => Gpu.Runtime.Backends.Kernels.KernelCatalog.Fits(k, device.Info.MaxGroupSize));
        Assert.Equal(launchable, compiled);
        Assert.True(compiled >= 40, $"only {compiled} kernels compiled");
        using var t = device.FromArray([-1f, 1f], 2);
        Ops.Relu(t, t);
        Assert.Equal([0f, 1f], t.ToArray());
        Assert.Equal(compiled, device.CompiledKernels);
    }

    [Fact]
    public void HostPathCompilesNoKernelUnlessOneIsForced()
    {
        using var device = Device.CreateCpu(CpuProfile.Host);
        device.CompileKernels();
        using var t = device.FromArray([-1f, 1f], 2);
        Ops.Relu(t, t);
        Assert.Equal([0f, 1f], t.ToArray());
        Assert.Equal(0, device.CompiledKernels);

        using var a = device.FromArray([1f, 2f], 1, 2);
        using var b = device.FromArray([3f, 4f], 2, 1);
        using var c = device.Zeros(1, 1);
        Ops.MatMul(a, b, c, algorithm: MatMulAlgorithm.RowBlocked);
        Assert.Equal(11f, c.Item());
        Assert.Equal(1, device.CompiledKernels);
    }
}

[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class EnvironmentCollection
{
    public const string Name = "environment";
}
