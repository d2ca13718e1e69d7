using System.Diagnostics;
using Gpu.Runtime;

namespace Gpu.Training;

/// <summary>
/// The common training loop: epochs of (mini-)batches, each step ZeroGrad, Forward, loss, Backward,
/// Step, then validation in evaluation mode. Data is copied to the device once per <see cref="Fit"/>;
/// a shuffled batch is gathered on the device. Step losses are written to device slots and read
/// back once per epoch, together with a check that the weights are still finite, so no step waits
/// for the host.
/// </summary>
public sealed class Trainer
{
    private readonly Sequential model;
    private readonly Loss loss;
    private readonly Optimizer optimizer;

    public Trainer(Sequential model, Loss loss, Optimizer optimizer, TrainerOptions? options = null)
    {
        this.model = model ?? throw new ArgumentNullException(nameof(model));
        this.loss = loss ?? throw new ArgumentNullException(nameof(loss));
        this.optimizer = optimizer ?? throw new ArgumentNullException(nameof(optimizer));
        Options = options ?? new TrainerOptions();
        Options.Validate();
        if (loss.Reduction == Reduction.None)
            throw new ArgumentException("The trainer needs a loss reduced to a scalar ('mean' or 'sum').", nameof(loss));
    }

    public TrainerOptions Options { get; }

    /// <summary>Raised after every epoch whose weights are finite (progress output, logging, checkpoints).</summary>
    public event Action<EpochResult>? EpochCompleted;

    /// <summary>The early-stopping record after the last completed epoch (saved in checkpoints).</summary>
    public EarlyStoppingState EarlyStopping { get; private set; } = EarlyStoppingState.Initial;

    /// <summary>
    /// Trains from epoch <paramref name="startEpoch"/> (0, or the epoch a checkpoint stopped at) to
    /// <see cref="TrainerOptions.Epochs"/>, continuing the early-stopping record
    /// <paramref name="earlyStopping"/> of a checkpoint. Throws <see cref="TrainingDivergedException"/>
    /// when the loss or the weights stop being finite; <see cref="EpochCompleted"/> is then not raised
    /// for that epoch, so a checkpoint is only ever written from finite weights.
    /// </summary>
    public TrainingHistory Fit(
        Dataset train, Dataset? validation = null, int startEpoch = 0, CancellationToken cancellationToken = default, EarlyStoppingState? earlyStopping = null)
    {
        ArgumentNullException.ThrowIfNull(train);
        CheckData(train, "training");
        if (validation is not null)
            CheckData(validation, "validation");
        if (startEpoch < 0)
            throw new ArgumentOutOfRangeException(nameof(startEpoch), startEpoch, $"The first epoch must be 0 or more (a checkpoint's completed epochs), got {startEpoch}.");

        var device = model.Parameters().Device;
        int n = train.Count;
        int batch = Options.BatchSize == 0 || Options.BatchSize >= n ? n : Options.BatchSize;
        int steps = (n + batch - 1) / batch;
        bool gather = Options.Shuffle && batch < n;
        bool penalised = optimizer.L1 > 0 || optimizer.L2 > 0;

        using var x = OnDevice(device, train.Features, n, model.InputShape);
        using var y = device.FromArray(train.Targets, n, train.TargetCount);
        using var xBatch = gather ? device.Zeros(Shape(batch, model.InputShape), null) : null;
        using var yBatch = gather ? device.Zeros(batch, train.TargetCount) : null;
        using var order = gather ? device.Indices(new int[n]) : null;
        using var stepLosses = device.Zeros(steps + 1); // the last slot: the weights' sum of squares
        using var penalties = penalised ? device.Zeros(steps) : null;
        using var xVal = validation is null ? null : OnDevice(device, validation.Features, validation.Count, model.InputShape);
        using var yVal = validation is null ? null : device.FromArray(validation.Targets, validation.Count, validation.TargetCount);
        int valSteps = validation is null ? 0 : (validation.Count + batch - 1) / batch;
        using var valSlots = validation is null ? null : device.Zeros(2 * valSteps);

        // Every per-step view is made here, once: a training step allocates nothing.
        var batches = new (Tensor X, Tensor Y)[steps];
        var slots = new Tensor[steps];
        var penaltySlots = new Tensor[penalised ? steps : 0];
        for (int s = 0; s < steps; s++)
        {
            int start = s * batch, rows = Math.Min(batch, n - start);
            batches[s] = gather
                ? (rows == batch ? xBatch! : xBatch!.Rows(0, rows), rows == batch ? yBatch! : yBatch!.Rows(0, rows))
                : (x.Rows(start, rows), y.Rows(start, rows));
            slots[s] = stepLosses.Slice(s);
            if (penalised)
                penaltySlots[s] = penalties!.Slice(s);
        }

        var history = new TrainingHistory();
        EarlyStopping = earlyStopping ?? EarlyStoppingState.Initial;
        history.BestEpoch = EarlyStopping.BestEpoch;
        var stepLossHost = new float[steps + 1];
        var penaltyHost = new float[penalised ? steps : 0];
        var weightCheck = stepLosses.Slice(steps);
        var permutation = gather ? new int[n] : [];
        for (int epoch = startEpoch; epoch < Options.Epochs; epoch++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var clock = Stopwatch.StartNew();
            model.Train();
            if (gather)
            {
                Permutation(permutation, Options.Seed, epoch);
                order!.CopyFrom(permutation);
            }

            for (int s = 0; s < steps; s++)
            {
                var (xb, yb) = batches[s];
                if (gather)
                {
                    Ops.GatherRows(x, order!, s * batch, xb);
                    Ops.GatherRows(y, order!, s * batch, yb);
                }

                optimizer.ZeroGrad();
                model.SetRandomPosition(optimizer.StepCount, 0);
                var output = model.Forward(xb);
                loss.ForwardInto(output, yb, slots[s]);
                if (penalised)
                    Ops.RegularizationPenalty(model.Parameters().Values, (float)optimizer.L1, (float)optimizer.L2, penaltySlots[s]);
                model.Backward(loss.Backward());
                optimizer.Step();
            }

            // Non-finite weights make their sum of squares non-finite: checked with the losses, in one read.
            Ops.RegularizationPenalty(model.Parameters().Values, 0f, 1f, weightCheck);
            model.Eval();
            (double? valLoss, double? valAccuracy) = validation is null ? ((double?)null, (double?)null) : Evaluate(xVal!, yVal!, valSlots!, batch);
            model.Train();
            stepLosses.CopyTo(stepLossHost);
            double trainLoss = WeightedMean(stepLossHost.AsSpan(0, steps), n, batch);
            if (penalised)
            {
                penalties!.CopyTo(penaltyHost);
                trainLoss += WeightedMean(penaltyHost, n, batch);
            }
            clock.Stop();

            if (!double.IsFinite(trainLoss))
                throw new TrainingDivergedException(epoch, trainLoss, optimizer.LearningRate);
            if (!float.IsFinite(stepLossHost[steps]))
                throw new TrainingDivergedException(epoch, double.NaN, optimizer.LearningRate, "weights");
            if (valLoss is { } v && !double.IsFinite(v))
                throw new TrainingDivergedException(epoch, v, optimizer.LearningRate, "validation loss");

            double monitored = valLoss ?? trainLoss;
            bool improved = monitored < EarlyStopping.Best - Options.MinDelta;
            EarlyStopping = improved ? new EarlyStoppingState(monitored, 0, epoch) : EarlyStopping with { SinceBest = EarlyStopping.SinceBest + 1 };
            history.BestEpoch = EarlyStopping.BestEpoch;

            var result = new EpochResult(epoch, trainLoss, valLoss, clock.Elapsed.TotalSeconds, steps, n, valAccuracy);
            history.Epochs.Add(result);
            EpochCompleted?.Invoke(result);

            if (!improved && Options.Patience is { } patience && EarlyStopping.SinceBest >= patience)
            {
                history.StoppedEarly = epoch < Options.Epochs - 1;
                break;
            }
        }

        return history;
    }

    /// <summary>The loss of the model on a dataset (in evaluation mode, batched like training, no parameter change).</summary>
    public double Evaluate(Dataset data)
    {
        CheckData(data, "evaluation");
        var device = model.Parameters().Device;
        int batch = Options.BatchSize == 0 || Options.BatchSize >= data.Count ? data.Count : Options.BatchSize;
        using var x = OnDevice(device, data.Features, data.Count, model.InputShape);
        using var y = device.FromArray(data.Targets, data.Count, data.TargetCount);
        using var slots = device.Zeros(2 * ((data.Count + batch - 1) / batch));
        bool training = model.IsTraining;
        model.Eval();
        try
        {
            return Evaluate(x, y, slots, batch).Loss;
        }
        finally
        {
            model.Train(training);
        }
    }

    // The loss (and, for classifiers, the accuracy) over a set: one slot per batch for each.
    private (double Loss, double? Accuracy) Evaluate(Tensor x, Tensor y, Tensor slots, int batch)
    {
        int n = x.Shape[0];
        int batches = slots.Length / 2;
        bool classifier = loss.ReportsAccuracy(model.OutputFeaturesCount);
        for (int s = 0, start = 0; start < n; s++, start += batch)
        {
            int rows = Math.Min(batch, n - start);
            var output = model.Forward(x.Rows(start, rows));
            var target = y.Rows(start, rows);
            loss.ForwardInto(output, target, slots.Slice(s));
            if (classifier)
                loss.CountCorrect(output, target, slots.Slice(batches + s));
        }

        var values = slots.ToArray();
        double? accuracy = classifier ? values.AsSpan(batches).ToArray().Sum(v => (double)v) / n : null;
        return (WeightedMean(values.AsSpan(0, batches), n, batch), accuracy);
    }

    // The mean over samples of per-batch losses: batches are weighted by their row counts, so the
    // result is the loss of the whole set (for 'mean') whatever the batch size.
    private double WeightedMean(ReadOnlySpan<float> perBatch, int n, int batch)
    {
        double total = 0;
        if (loss.Reduction == Reduction.Sum)
        {
            foreach (float v in perBatch)
                total += v;
            return total;
        }

        for (int s = 0; s < perBatch.Length; s++)
            total += (double)perBatch[s] * Math.Min(batch, n - s * batch);
        return total / n;
    }

    private void CheckData(Dataset data, string role)
    {
        if (data.Count == 0)
            throw new ArgumentException($"The {role} set is empty.");
        if (data.FeatureCount != model.InputFeatures)
            throw new ArgumentException($"The {role} set has {data.FeatureCount} features but the model takes {model.InputFeatures} (input {Module.Describe(model.InputShape)}).");
        loss.ValidateTargets(data.Targets, data.TargetCount, model.OutputFeaturesCount);
    }

    // Rows of features as a (rows, sample shape...) tensor: a CSV row holds an image in C, H, W order.
    private static Tensor OnDevice(Device device, float[] features, int rows, TensorShape sample)
    {
        var tensor = device.Zeros(Shape(rows, sample), null);
        tensor.CopyFrom(features);
        return tensor;
    }

    private static TensorShape Shape(int rows, TensorShape sample) => new([rows, .. sample.ToArray()]);

    /// <summary>The row order of an epoch: a function of (seed, epoch) only, so a resumed run shuffles as an uninterrupted one.</summary>
    internal static int[] Permutation(int n, int seed, int epoch)
    {
        var order = new int[n];
        Permutation(order, seed, epoch);
        return order;
    }

    private static void Permutation(int[] order, int seed, int epoch)
    {
        for (int i = 0; i < order.Length; i++)
            order[i] = i;
        new Random(unchecked((seed * 1_000_003) ^ (epoch * 7919 + 17))).Shuffle(order);
    }
}
