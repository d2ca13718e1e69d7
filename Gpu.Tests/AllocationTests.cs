using Gpu.Runtime;
using Gpu.Training;

namespace Gpu.Tests;

/// <summary>
/// A training step on the host path allocates no managed memory once warm: activations,
/// gradients and their views are reused, and launchers build error messages only when they throw.
/// Thousands of steps per second would otherwise keep the garbage collector busy.
/// </summary>
[Collection(DeviceCollection.Name)]
public sealed class AllocationTests(DeviceFixture devices)
{
    [Fact]
    public void AWarmTrainingStepAllocatesNothing()
    {
        using var model = Sequential.Mlp(20, [64, 64], 1).To(devices.Host, 0);
        using var loss = new MSELoss();
        using var optimizer = new Adam(model.Parameters());
        var data = Dataset.Synthetic(64, 20, 1, 0);
        using var x = devices.Host.FromArray(data.Features, 64, 20);
        using var y = devices.Host.FromArray(data.Targets, 64, 1);
        void Step()
        {
            optimizer.ZeroGrad();
            loss.Forward(model.Forward(x), y);
            model.Backward(loss.Backward());
            optimizer.Step();
        }

        for (int i = 0; i < 20; i++)
            Step();
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 20; i++)
            Step();
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.True(allocated == 0, $"20 warm steps allocated {allocated} bytes");
    }
}
