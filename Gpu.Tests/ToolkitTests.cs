using Gpu.Runtime;
using Gpu.Training;

namespace Gpu.Tests;

/// <summary>
/// The training toolkit's guarantees that need no PyTorch: gradient accumulation equals the big
/// batch, and a run resumed from a checkpoint in the middle of any schedule (with accumulation,
/// clipping and a penalty) equals the straight run byte for byte.
/// </summary>
[Collection(DeviceCollection.Name)]
public sealed class ToolkitTests(DeviceFixture devices) : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("gpu-toolkit-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    private static Dataset Data(int rows, int seed) => Dataset.Synthetic(rows, 10, 1, seed);

    [Theory]
    [InlineData("host", 96)]
    [InlineData("host", 100)] // the last step: one batch of 4 rows, as the big batch's last
    [InlineData("fast", 100)]
    public void KBatchesOfEightStepAsOneBatchOfEightK(string profile, int rows)
    {
        var device = devices.Get(profile);
        (TrainingHistory, Dictionary<string, float[]>) Train(int batch, int accumulate)
        {
            // Dropout draws by a row's place in the optimizer step, so the masks agree too.
            using var model = new Sequential(new Linear(10, 16), new ReLU(), new Dropout(0.2), new Linear(16, 1)).To(device, 3);
            using var loss = new MSELoss();
            using var optimizer = new Adam(model.Parameters(), new AdamOptions(Lr: 1e-2));
            var history = new Trainer(model, loss, optimizer, new TrainerOptions(Epochs: 3, BatchSize: batch, Shuffle: false, Accumulate: accumulate))
                .Fit(Data(rows, 1), Data(20, 2));
            return (history, model.StateDict());
        }

        var (big, bigWeights) = Train(24, 1);
        var (accumulated, accumulatedWeights) = Train(8, 3);
        Assert.Equal(big.Epochs.Select(e => e.Steps), accumulated.Epochs.Select(e => e.Steps));
        for (int e = 0; e < big.Epochs.Count; e++)
        {
            Numerics.AssertClose(big.Epochs[e].Loss, accumulated.Epochs[e].Loss, 1e-9, 1e-6, $"epoch {e} loss");
            Numerics.AssertClose(big.Epochs[e].ValLoss!.Value, accumulated.Epochs[e].ValLoss!.Value, 1e-9, 1e-6, $"epoch {e} val loss");
            Numerics.AssertClose(big.Epochs[e].GradNorm, accumulated.Epochs[e].GradNorm, 1e-9, 1e-6, $"epoch {e} gradient norm");
        }

        foreach (var (name, values) in bigWeights)
            Numerics.AssertClose(values, accumulatedWeights[name], 1e-8, 1e-6, name);
    }

    public static TheoryData<string> Schedules => new()
    {
        "constant", "step(2,gamma=0.5)", "exponential(0.8)", "cosine(min=0.001,warmup=3)", "onecycle(pct=0.3)", "plateau(patience=0,factor=0.5)",
    };

    [Theory]
    [MemberData(nameof(Schedules))]
    public void ResumingInTheMiddleOfAScheduleEqualsTheStraightRunByteForByte(string schedule)
    {
        var device = devices.Host;
        var train = Data(60, 1);
        var validation = Data(20, 2);
        var info = new ModelInfo("mse", train.FeatureNames, train.TargetNames);
        TrainerOptions Options() => new(Epochs: 8, BatchSize: 8, Shuffle: true, Seed: 5, Accumulate: 2, ClipGradNorm: 0.5, L2: 1e-3,
            Schedule: LrSchedule.Parse(schedule));

        TrainingHistory straight;
        Dictionary<string, float[]> straightWeights;
        using (var model = Sequential.Mlp(10, [16], 1).To(device, 6))
        using (var loss = new MSELoss())
        using (var optimizer = new SGD(model.Parameters(), new SGDOptions(Lr: 0.05, Momentum: 0.9)))
        {
            straight = new Trainer(model, loss, optimizer, Options()).Fit(train, validation);
            straightWeights = model.StateDict();
        }

        // The same run killed after epoch 4, its last checkpoint written after epoch 3.
        string checkpoint = Path.Combine(folder, "run.ckpt");
        using (var model = Sequential.Mlp(10, [16], 1).To(device, 6))
        using (var loss = new MSELoss())
        using (var optimizer = new SGD(model.Parameters(), new SGDOptions(Lr: 0.05, Momentum: 0.9)))
        {
            var trainer = new Trainer(model, loss, optimizer, Options());
            trainer.Add(new Checkpointing(checkpoint, 3, 8, model, optimizer, info));
            trainer.Add(new KillAfter(4));
            Assert.Throws<OperationCanceledException>(() => trainer.Fit(train, validation));
        }

        using var resumed = TrainingCheckpoint.Load(checkpoint, device);
        Assert.Equal(3, resumed.Epoch);
        Assert.Equal(schedule, resumed.State.Schedule);
        using var lossAgain = new MSELoss();
        var options = Options() with { Schedule = resumed.Schedule() };
        var rest = new Trainer(resumed.Model, lossAgain, resumed.Optimizer, options).Fit(train, validation, startEpoch: resumed.Epoch, earlyStopping: resumed.EarlyStopping);
        Assert.Equal(straight.Epochs.Skip(3).Select(e => (e.Loss, e.ValLoss, e.LearningRate, e.GradNorm)), rest.Epochs.Select(e => (e.Loss, e.ValLoss, e.LearningRate, e.GradNorm)));
        foreach (var (name, values) in straightWeights)
            Assert.Equal(values, resumed.Model.StateDict()[name]);
        if (schedule.StartsWith("plateau", StringComparison.Ordinal))
            Assert.True(straight.Epochs[^1].LearningRate < 0.05, "the plateau never lowered the rate: the test would not check its saved state");
    }

    // A part that stops the run as a kill would, after the given epoch's parts.
    private sealed class KillAfter(int epoch) : IEpochPart
    {
        public void AfterEpoch(EpochEnd end)
        {
            if (end.Result.Epoch == epoch)
                throw new OperationCanceledException("killed");
        }
    }
}
