using Gpu.Runtime;

namespace Gpu.Tests;

/// <summary>
/// The same checks on a real CUDA device. On a machine without one every test is reported as
/// skipped with the reason, never silently passed. scripts/gpu-check.sh runs these on a GPU machine.
/// </summary>
public sealed class CudaFixture : IDisposable
{
    public CudaFixture()
    {
        try
        {
            Device = Device.Create("cuda");
        }
        catch (DeviceNotFoundException e)
        {
            Problem = e.Message;
        }
    }

    public Device? Device { get; }

    public string? Problem { get; }

    public void Dispose() => Device?.Dispose();
}

public sealed class CudaTests(CudaFixture cuda) : IClassFixture<CudaFixture>
{
    private Device Require()
    {
        Skip.If(cuda.Device is null, $"No CUDA device: {cuda.Problem}");
        return cuda.Device!;
    }

    [SkippableTheory]
    [InlineData(MatMulAlgorithm.CuBlas)]
    [InlineData(MatMulAlgorithm.Tiled)]
    [InlineData(MatMulAlgorithm.RowBlocked)]
    public void MatMulMatchesMathNetForEveryForm(MatMulAlgorithm algorithm)
    {
        var device = Require();
        foreach (var (m, n, k) in new[] { (1, 1, 1), (7, 33, 1), (100, 20, 10), (130, 70, 1025), (257, 129, 65) })
        {
            foreach (var (ta, tb) in new[] { (false, false), (false, true), (true, false), (true, true) })
            {
                MatMulTests.Run(device, m, n, k, ta, tb, withBias: true, accumulate: false, algorithm);
                MatMulTests.Run(device, m, n, k, ta, tb, withBias: false, accumulate: true, algorithm);
            }
        }
    }

    [SkippableFact]
    public void AdamAndSgdMatchTorchOptim()
    {
        var device = Require();
        foreach (var name in new[] { "adam_default", "adam_amsgrad", "adamw_amsgrad", "sgd_nesterov_wd" })
            OptimizerTests.RunFixtureCase(device, name);
    }

    [SkippableFact]
    public void MseReductionIsCorrectAndDeterministic()
    {
        var device = Require();
        const int n = 3_000_017;
        var x = Numerics.Random(n, 1);
        var y = Numerics.Random(n, 2);
        using var input = device.FromArray(x, n);
        using var target = device.FromArray(y, n);
        using var loss = device.Zeros();
        Ops.MseLoss(input, target, loss);
        float first = loss.Item();
        Numerics.AssertClose(Reference.Mse(x, y, mean: true), first, 1e-6, 1e-5, "mse on CUDA");
        for (int i = 0; i < 3; i++)
        {
            Ops.MseLoss(input, target, loss);
            Assert.Equal(BitConverter.SingleToInt32Bits(first), BitConverter.SingleToInt32Bits(loss.Item()));
        }
    }

    [SkippableFact]
    public void EnergyIsReadOnNvidiaGpus()
    {
        var device = Require();
        var joules = device.ReadEnergyJoules();
        Skip.If(joules is null, "NVML gives no energy reading on this GPU");
        Assert.True(joules > 0);
    }
}
