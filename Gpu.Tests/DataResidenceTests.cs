using Gpu.Runtime;
using Gpu.Training;

namespace Gpu.Tests;

/// <summary>
/// Data larger than the device stays in host memory and each batch is copied over as the step needs
/// it. A cap on the bytes the trainer may keep on the device, small enough to force that, gives
/// byte-identical weights and losses to keeping everything on the device.
/// </summary>
[Collection(DeviceCollection.Name)]
public sealed class DataResidenceTests(DeviceFixture devices)
{
    [SkippableTheory]
    [InlineData("host", 16, true)]
    [InlineData("host", 0, false)]
    [InlineData("fast", 16, true)]
    [InlineData("fast", 16, false)]
    [InlineData("gpulike", 32, true)]
    [InlineData("cuda", 16, true)]
    [InlineData("cuda", 16, false)]
    [InlineData("opencl", 16, true)]
    public void HostResidentDataGivesTheSameRunAsDeviceResidentData(string profile, int batchSize, bool shuffle)
    {
        var device = devices.Get(profile);
        var train = Dataset.Synthetic(70, 6, 2, 1); // 70 rows in batches of 16: the last has 6
        var validation = Dataset.Synthetic(23, 6, 2, 2);
        var (onDevice, deviceLosses, deviceResidence) = Train(device, train, validation, batchSize, shuffle, long.MaxValue);
        var (onHost, hostLosses, hostResidence) = Train(device, train, validation, batchSize, shuffle, 0);
        Assert.Equal("device", deviceResidence);
        Assert.Equal("host", hostResidence);
        Assert.Equal(deviceLosses, hostLosses);
        Assert.Equal(onDevice, onHost);
    }

    [SkippableTheory]
    [MemberData(nameof(Profiles.Devices), MemberType = typeof(Profiles))]
    public void BothFeedsGiveEachBatchItsRowsAcrossPassesEvenUnfinishedOnes(string profile)
    {
        var device = devices.Get(profile);
        var data = Dataset.Synthetic(23, 4, 2, 7);
        using var onDevice = DataFeed.Create(device, data, new TensorShape(4), 5, shuffled: true, onDevice: true);
        using var onHost = DataFeed.Create(device, data, new TensorShape(4), 5, shuffled: true, onDevice: false);
        var shuffled = Enumerable.Range(0, 23).Select(i => i * 7 % 23).ToArray();
        (int, int)[] all = [(0, 5), (5, 5), (10, 5), (15, 5), (20, 3)];
        var passes = new (int[]? Order, (int, int)[] Batches, int Taken)[]
        {
            (shuffled, all, 5),
            (null, all, 5),
            (shuffled, all, 2), // left unfinished: a batch in use and the next one sent
            (null, [(3, 4), (11, 5), (22, 1)], 3),
            (shuffled, all, 1),
            (shuffled, [(18, 5)], 1),
        };
        foreach (var (order, batches, taken) in passes)
        {
            onDevice.Start(order, batches);
            onHost.Start(order, batches);
            foreach (var (offset, count) in batches.Take(taken))
            {
                var rows = Enumerable.Range(offset, count).Select(i => order?[i] ?? i).ToArray();
                float[] x = [.. rows.SelectMany(r => data.Features.AsSpan(r * 4, 4).ToArray())];
                float[] y = [.. rows.SelectMany(r => data.Targets.AsSpan(r * 2, 2).ToArray())];
                var (deviceX, deviceY) = onDevice.Next();
                var (hostX, hostY) = onHost.Next();
                Assert.Equal(x, deviceX.ToArray());
                Assert.Equal(y, deviceY.ToArray());
                Assert.Equal(x, hostX.ToArray());
                Assert.Equal(y, hostY.ToArray());
                Assert.Equal(new TensorShape(count, 4), hostX.Shape);
            }
        }

        Assert.Throws<InvalidOperationException>(() => onHost.Next());
        Assert.Throws<ArgumentException>(() => onHost.Start(null, [(0, 0)]));
    }

    [Fact]
    public void TheCpuKeepsDataInHostMemoryByDefault()
    {
        using var model = Sequential.Mlp(6, [8], 2).To(devices.Host, 0);
        using var loss = new MSELoss();
        using var optimizer = new Adam(model.Parameters());
        var trainer = new Trainer(model, loss, optimizer, new TrainerOptions(Epochs: 1));
        trainer.Fit(Dataset.Synthetic(10, 6, 2, 3));
        Assert.Equal("host", trainer.DataResidence);
    }

    private static (float[] Weights, double[] Losses, string? Residence) Train(Device device, Dataset train, Dataset validation, int batchSize, bool shuffle, long limit)
    {
        using var model = Sequential.Mlp(6, [8, 8], 2).To(device, 5);
        using var loss = new MSELoss();
        using var optimizer = new Adam(model.Parameters(), new AdamOptions(Lr: 0.01));
        var trainer = new Trainer(model, loss, optimizer, new TrainerOptions(Epochs: 2, BatchSize: batchSize, Shuffle: shuffle, Seed: 2, DeviceDataLimit: limit));
        var history = trainer.Fit(train, validation);
        return (model.Parameters().Values.ToArray(), [.. history.Epochs.SelectMany(e => new[] { e.Loss, e.ValLoss!.Value })], trainer.DataResidence);
    }
}
