using Gpu.Runtime;
using Gpu.Training;

namespace Gpu.Tests;

[Collection(DeviceCollection.Name)]
public sealed class TrainerTests(DeviceFixture devices) : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("gpu-trainer-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    private static Dataset Data(int rows, int seed) => Dataset.Synthetic(rows, 10, 1, seed);

    private (TrainingHistory History, Dictionary<string, float[]> Weights) Train(int seed, int epochs, int batch, bool shuffle, Action<Trainer>? configure = null)
    {
        using var model = Sequential.Mlp(10, [20], 1).To(devices.Fast, seed);
        using var loss = new MSELoss();
        using var optimizer = new Adam(model.Parameters(), new AdamOptions(Lr: 1e-2));
        var trainer = new Trainer(model, loss, optimizer, new TrainerOptions(epochs, batch, shuffle, seed));
        configure?.Invoke(trainer);
        var history = trainer.Fit(Data(100, 1), Data(20, 2));
        return (history, model.StateDict());
    }

    [Fact]
    public void TheSameSeedGivesBitIdenticalRuns()
    {
        var a = Train(seed: 7, epochs: 5, batch: 16, shuffle: true);
        var b = Train(seed: 7, epochs: 5, batch: 16, shuffle: true);
        Assert.Equal(a.History.Epochs.Select(e => e.Loss), b.History.Epochs.Select(e => e.Loss));
        foreach (var (name, values) in a.Weights)
            Assert.Equal(values, b.Weights[name]);
        var c = Train(seed: 8, epochs: 5, batch: 16, shuffle: true);
        Assert.NotEqual(a.History.Epochs[^1].Loss, c.History.Epochs[^1].Loss);
    }

    [Fact]
    public void ShufflingChangesTheBatchesButNotTheFullBatchResult()
    {
        var shuffled = Train(seed: 3, epochs: 3, batch: 16, shuffle: true);
        var ordered = Train(seed: 3, epochs: 3, batch: 16, shuffle: false);
        Assert.NotEqual(shuffled.History.Epochs[^1].Loss, ordered.History.Epochs[^1].Loss);
        var full1 = Train(seed: 3, epochs: 3, batch: 0, shuffle: true);
        var full2 = Train(seed: 3, epochs: 3, batch: 0, shuffle: false);
        Assert.Equal(full1.History.Epochs[^1].Loss, full2.History.Epochs[^1].Loss);
    }

    [Fact]
    public void ResumingFromACheckpointGivesTheUninterruptedResult()
    {
        var device = devices.Fast;
        var train = Data(100, 1);
        var validation = Data(20, 2);
        var info = new ModelInfo("mse", train.FeatureNames, train.TargetNames);
        var options = new TrainerOptions(Epochs: 8, BatchSize: 32, Shuffle: true, Seed: 4);

        Dictionary<string, float[]> straight;
        using (var model = Sequential.Mlp(10, [20], 1).To(device, 4))
        using (var loss = new MSELoss())
        using (var optimizer = new AdamW(model.Parameters(), new AdamWOptions(Lr: 1e-2, Amsgrad: true)))
        {
            new Trainer(model, loss, optimizer, options).Fit(train, validation);
            straight = model.StateDict();
        }

        string checkpoint = Path.Combine(folder, "run.ckpt.safetensors");
        using (var model = Sequential.Mlp(10, [20], 1).To(device, 4))
        using (var loss = new MSELoss())
        using (var optimizer = new AdamW(model.Parameters(), new AdamWOptions(Lr: 1e-2, Amsgrad: true)))
        {
            var trainer = new Trainer(model, loss, optimizer, options with { Epochs = 3 });
            trainer.Fit(train, validation);
            TrainingCheckpoint.Save(checkpoint, model, optimizer, trainer.State(3), info);
        }

        using var resumed = TrainingCheckpoint.Load(checkpoint, device);
        Assert.Equal(3, resumed.Epoch);
        Assert.Equal(3 * 4, resumed.Optimizer.StepCount);
        using var lossAgain = new MSELoss();
        var history = new Trainer(resumed.Model, lossAgain, resumed.Optimizer, options).Fit(train, validation, startEpoch: resumed.Epoch);
        Assert.Equal(5, history.Epochs.Count);
        Assert.Equal(3, history.Epochs[0].Epoch);
        foreach (var (name, values) in straight)
            Assert.Equal(values, resumed.Model.StateDict()[name]);
    }

    [Fact]
    public void EarlyStoppingHonoursPatience()
    {
        using var model = Sequential.Mlp(10, [20], 1).To(devices.Fast, 0);
        using var loss = new MSELoss();
        // A zero learning rate: the validation loss never improves after the first epoch.
        using var optimizer = new SGD(model.Parameters(), new SGDOptions(Lr: 0));
        var trainer = new Trainer(model, loss, optimizer, new TrainerOptions(Epochs: 50, Patience: 2));
        var seen = new List<int>();
        trainer.EpochCompleted += e => seen.Add(e.Epoch);
        var history = trainer.Fit(Data(100, 1), Data(20, 5));
        Assert.True(history.StoppedEarly);
        Assert.Equal(0, history.BestEpoch);
        Assert.Equal([0, 1, 2], seen);
        Assert.Equal(3, history.Epochs.Count);

        // Without patience the same run goes the distance.
        using var optimizer2 = new SGD(model.Parameters(), new SGDOptions(Lr: 0));
        var full = new Trainer(model, loss, optimizer2, new TrainerOptions(Epochs: 6)).Fit(Data(100, 1), Data(20, 5));
        Assert.False(full.StoppedEarly);
        Assert.Equal(6, full.Epochs.Count);
    }

    [Fact]
    public void ADivergingRunStopsWithTheEpochAndAHint()
    {
        using var model = Sequential.Mlp(10, [20], 1).To(devices.Fast, 0);
        using var loss = new MSELoss();
        using var optimizer = new SGD(model.Parameters(), new SGDOptions(Lr: 1e6));
        var trainer = new Trainer(model, loss, optimizer, new TrainerOptions(Epochs: 100));
        var error = Assert.Throws<TrainingDivergedException>(() => trainer.Fit(Data(100, 1)));
        Assert.Contains("lower learning rate", error.Message);
        Assert.InRange(error.Epoch, 0, 99);
    }

    [Fact]
    public void HistoryRecordsLossesTimesAndCounts()
    {
        var (history, _) = Train(seed: 0, epochs: 4, batch: 30, shuffle: true);
        Assert.Equal(4, history.Epochs.Count);
        Assert.All(history.Epochs, e =>
        {
            Assert.Equal(4, e.Steps); // 100 rows in batches of 30
            Assert.Equal(100, e.Samples);
            Assert.True(e.Seconds > 0);
            Assert.NotNull(e.ValLoss);
        });
        Assert.Equal(16, history.Steps);
        Assert.True(history.Epochs[^1].Loss < history.Epochs[0].Loss);
    }

    [Fact]
    public void RegularizationAddsThePenaltyToTheReportedLoss()
    {
        var device = devices.Fast;
        var data = Data(50, 1);
        double Report(double l2)
        {
            using var model = Sequential.Mlp(10, [20], 1).To(device, 0);
            using var loss = new MSELoss();
            using var optimizer = new SGD(model.Parameters(), new SGDOptions(Lr: 0));
            var weights = model.StateDict().Values.SelectMany(v => v).Sum(v => (double)v * v);
            double reported = new Trainer(model, loss, optimizer, new TrainerOptions(Epochs: 1, L2: l2)).Fit(data).Epochs[0].Loss;
            return reported - l2 * weights;
        }

        Numerics.AssertClose(Report(0), Report(0.1), 1e-6, 1e-5, "loss without the penalty");
    }

    [Fact]
    public void PredictMatchesForwardInAnyBatchSize()
    {
        using var model = Sequential.Mlp(10, [20, 5], 2).To(devices.Fast, 9);
        var x = Numerics.Random(37 * 10, 3);
        var all = model.Predict(x, batchSize: 1000);
        var small = model.Predict(x, batchSize: 8);
        Assert.Equal(37 * 2, all.Length);
        Assert.Equal(all, small);
        Assert.Throws<ShapeMismatchException>(() => model.Predict(x.AsSpan(0, 15)));
    }

    [Fact]
    public void BadDataAndOptionsAreRejected()
    {
        using var model = Sequential.Mlp(10, [20], 1).To(devices.Fast, 0);
        using var loss = new MSELoss();
        using var optimizer = new Adam(model.Parameters());
        var trainer = new Trainer(model, loss, optimizer);
        var wrongWidth = Dataset.Synthetic(10, 9, 1, 0);
        var error = Assert.Throws<ArgumentException>(() => trainer.Fit(wrongWidth));
        Assert.Contains("9 features but the model takes 10", error.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => new Trainer(model, loss, optimizer, new TrainerOptions(Epochs: 0)));
        Assert.Throws<ArgumentOutOfRangeException>(() => new Trainer(model, loss, optimizer, new TrainerOptions(BatchSize: -1)));
        Assert.Throws<ArgumentException>(() => new Trainer(model, new MSELoss(Reduction.None), optimizer));
        Assert.Throws<ArgumentOutOfRangeException>(() => new Adam(model.Parameters(), new AdamOptions(Lr: -1)));
        Assert.Throws<ArgumentOutOfRangeException>(() => new SGD(model.Parameters(), new SGDOptions(Momentum: double.NaN)));
    }

    [Fact]
    public void CrossEntropyTargetsMustBeClassIndices()
    {
        using var model = Sequential.Mlp(4, [8], 3).To(devices.Fast, 0);
        using var loss = new CrossEntropyLoss();
        using var optimizer = new Adam(model.Parameters());
        var trainer = new Trainer(model, loss, optimizer, new TrainerOptions(Epochs: 1));
        var bad = new Dataset(new float[8], [0f, 3f], 2, ["a", "b", "c", "d"], ["label"]);
        var error = Assert.Throws<ArgumentException>(() => trainer.Fit(bad));
        Assert.Contains("target 1 is 3", error.Message);
    }

    [Fact]
    public void LinearInitialisationFollowsPyTorchsBounds()
    {
        using var model = new Sequential(new Linear(400, 50)).To(devices.Fast, 1);
        var weights = model.StateDict()["0.weight"];
        double bound = 1 / Math.Sqrt(400);
        Assert.All(weights, w => Assert.InRange(w, -bound, bound));
        // U(-b, b) has variance b^2 / 3.
        double variance = weights.Average(w => (double)w * w);
        Numerics.AssertClose(bound * bound / 3, variance, 0, 0.05, "variance");
        Assert.Equal(["0.weight", "0.bias"], model.Parameters().Select(p => p.Name));
    }
}
