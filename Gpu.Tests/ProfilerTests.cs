using Gpu.Runtime;
using Gpu.Runtime.Profiling;
using Gpu.Training;

namespace Gpu.Tests;

/// <summary>The per-op profile: what it counts, that it adds up, and that it costs nothing when off.</summary>
[Collection(DeviceCollection.Name)]
public sealed class ProfilerTests(DeviceFixture devices)
{
    // Large enough that each op takes a measurable time, so the time between ops is a small part of a step.
    private static (TrainingHistory History, Dictionary<string, float[]> Weights, long Launches) Train(
        Device device, bool profile, out IReadOnlyList<OpStats> ops, int features = 256, int hidden = 512)
    {
        using var model = Sequential.Mlp(features, [hidden, hidden], 16).To(device, 3);
        using var loss = new MSELoss();
        using var optimizer = new Adam(model.Parameters(), new AdamOptions(Lr: 1e-3));
        var trainer = new Trainer(model, loss, optimizer, new TrainerOptions(Epochs: 3, BatchSize: 256, Shuffle: true, Seed: 5));
        var data = Dataset.Synthetic(2048, features, 16, 9);
        var profiler = profile ? device.StartProfiling() : null;
        long before = device.LaunchCount;
        TrainingHistory history;
        try
        {
            history = trainer.Fit(data);
        }
        finally
        {
            device.StopProfiling();
        }

        ops = profiler?.Results() ?? [];
        return (history, model.StateDict(), device.LaunchCount - before);
    }

    [Fact]
    public void TheOpsAddUpToTheTrainingTimeOnTheHost()
    {
        // Warm: the first run of a shape pays for JIT compilation and buffers outside any op.
        Train(devices.Host, profile: true, out _);
        var (history, _, _) = Train(devices.Host, profile: true, out var ops);
        double opSeconds = ops.Sum(o => o.TotalSeconds);
        double trainSeconds = history.TrainSeconds;
        Assert.True(Math.Abs(opSeconds - trainSeconds) <= 0.05 * trainSeconds,
            $"ops {opSeconds * 1e3:F2} ms against {trainSeconds * 1e3:F2} ms of training:\n{string.Join("\n", ops.Select(o => $"{o.Name} {o.Calls} {o.TotalSeconds * 1e3:F3} ms"))}");

        // 3 epochs of 8 steps; every layer's forward product once per step, by its shape.
        Assert.Equal(24, ops.Single(o => o.Name == "matmul NT 256x512 k256").Calls);
        Assert.Equal(24, ops.Single(o => o.Name == "matmul NT 256x16 k512").Calls);
        Assert.Equal(24, ops.Single(o => o.Name == "optimizer adam").Calls); // one fused step over the flat parameters
        Assert.Equal(24, ops.Single(o => o.Name == "data feed").Calls);
        var forward = ops.Single(o => o.Name == "matmul NT 256x512 k256");
        Assert.Equal(24 * 2.0 * 256 * 512 * 256, forward.Flops);
        Assert.True(forward.Gflops > 0);
        Assert.DoesNotContain(ops, o => o.Name == "all-reduce"); // one process: nothing to reduce
    }

    [Fact]
    public void ProfilingLaunchesNothingAndChangesNothing()
    {
        var plain = Train(devices.Host, profile: false, out var none);
        var profiled = Train(devices.Host, profile: true, out var ops);
        Assert.Empty(none);
        Assert.NotEmpty(ops);
        Assert.Equal(plain.Launches, profiled.Launches);
        Assert.Equal(plain.History.Epochs.Select(e => e.Loss), profiled.History.Epochs.Select(e => e.Loss));
        foreach (var (name, values) in plain.Weights)
            Assert.Equal(values, profiled.Weights[name]);
        Assert.Null(devices.Host.Profiler);
    }

    [Fact]
    public void KernelDevicesAreTimedWithStreamMarkers()
    {
        // ILGPU's CPU accelerator runs kernels slowly: a small model.
        var (history, _, _) = Train(devices.Fast, profile: true, out var ops, features: 16, hidden: 32);
        Assert.True(history.Epochs.Count == 3);
        var forward = ops.Single(o => o.Name == "matmul NT 256x32 k16");
        Assert.Equal(24, forward.Calls);
        Assert.True(forward.TotalSeconds > 0);
        Assert.True(ops.Sum(o => o.TotalSeconds) <= 1.05 * history.TrainSeconds);
    }
}
