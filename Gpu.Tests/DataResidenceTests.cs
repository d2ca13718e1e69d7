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
        var trainer = new Trainer(model, loss, optimizer, new TrainerOptions(Epochs: 4, BatchSize: batchSize, Shuffle: shuffle, Seed: 2, DeviceDataLimit: limit));
        var history = trainer.Fit(train, validation);
        return (model.Parameters().Values.ToArray(), [.. history.Epochs.SelectMany(e => new[] { e.Loss, e.ValLoss!.Value })], trainer.DataResidence);
    }
}
