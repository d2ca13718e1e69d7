using System.Diagnostics;
using Gpu.Runtime;

namespace Gpu.Training;

/// <summary>
/// The common training loop: epochs of (mini-)batches, each step ZeroGrad, Forward, loss, Backward,
/// Step, then validation. Data is copied to the device once per <see cref="Fit"/>; a shuffled batch
/// is gathered on the device. Step losses are written to device slots and read back once per epoch,
/// so no step waits for the host.
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

    /// <summary>Raised after every epoch (progress output, logging, checkpoints).</summary>
    public event Action<EpochResult>? EpochCompleted;

    /// <summary>
    /// Trains from epoch <paramref name="startEpoch"/> (0, or the epoch a checkpoint stopped at) to
    /// <see cref="TrainerOptions.Epochs"/>. Throws <see cref="TrainingDivergedException"/> when the loss
    /// stops being finite.
    /// </summary>
    public TrainingHistory Fit(Dataset train, Dataset? validation = null, int startEpoch = 0, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(train);
        CheckData(train, "training");
        if (validation is not null)
            CheckData(validation, "validation");
        ArgumentOutOfRangeException.ThrowIfNegative(startEpoch);

        var device = model.Parameters().Device;
        int n = train.Count;
        int batch = Options.BatchSize == 0 || Options.BatchSize >= n ? n : Options.BatchSize;
        int steps = (n + batch - 1) / batch;
        bool gather = Options.Shuffle && batch < n;
        bool penalised = optimizer.L1 > 0 || optimizer.L2 > 0;

        using var x = device.FromArray(train.Features, n, train.FeatureCount);
        using var y = device.FromArray(train.Targets, n, train.TargetCount);
        using var xBatch = gather ? device.Zeros(batch, train.FeatureCount) : null;
        using var yBatch = gather ? device.Zeros(batch, train.TargetCount) : null;
        using var order = gather ? device.Indices(new int[n]) : null;
        using var stepLosses = device.Zeros(steps);
        using var penalties = penalised ? device.Zeros(steps) : null;
        using var xVal = validation is null ? null : device.FromArray(validation.Features, validation.Count, validation.FeatureCount);
        using var yVal = validation is null ? null : device.FromArray(validation.Targets, validation.Count, validation.TargetCount);
        int valSteps = validation is null ? 0 : (validation.Count + batch - 1) / batch;
        using var valLosses = validation is null ? null : device.Zeros(valSteps);

        var history = new TrainingHistory();
        double best = double.PositiveInfinity;
        int sinceBest = 0;
        var stepLossHost = new float[steps];
        for (int epoch = startEpoch; epoch < Options.Epochs; epoch++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var clock = Stopwatch.StartNew();
            if (gather)
                order!.CopyFrom(Permutation(n, Options.Seed, epoch));

            for (int s = 0; s < steps; s++)
            {
                int start = s * batch;
                int rows = Math.Min(batch, n - start);
                Tensor xb, yb;
                if (gather)
                {
                    // Full batches use the buffers themselves (no view object per step).
                    xb = rows == batch ? xBatch! : xBatch!.Rows(0, rows);
                    yb = rows == batch ? yBatch! : yBatch!.Rows(0, rows);
                    Ops.GatherRows(x, order!, start, xb);
                    Ops.GatherRows(y, order!, start, yb);
                }
                else
                {
                    xb = x.Rows(start, rows);
                    yb = y.Rows(start, rows);
                }

                optimizer.ZeroGrad();
                var output = model.Forward(xb);
                loss.ForwardInto(output, yb, stepLosses.Slice(s));
                if (penalised)
                    Ops.RegularizationPenalty(model.Parameters().Values, (float)optimizer.L1, (float)optimizer.L2, penalties!.Slice(s));
                model.Backward(loss.Backward());
                optimizer.Step();
            }

            double? valLoss = validation is null ? null : Evaluate(xVal!, yVal!, valLosses!, batch);
            stepLosses.CopyTo(stepLossHost);
            double trainLoss = WeightedMean(stepLossHost, n, batch);
            if (penalised)
                trainLoss += WeightedMean(penalties!.ToArray(), n, batch);
            clock.Stop();

            if (!double.IsFinite(trainLoss) || valLoss is { } v && !double.IsFinite(v))
                throw new TrainingDivergedException(epoch, double.IsFinite(trainLoss) ? valLoss!.Value : trainLoss, optimizer.LearningRate);

            var result = new EpochResult(epoch, trainLoss, valLoss, clock.Elapsed.TotalSeconds, steps, n);
            history.Epochs.Add(result);
            EpochCompleted?.Invoke(result);

            double monitored = valLoss ?? trainLoss;
            if (monitored < best - Options.MinDelta)
            {
                best = monitored;
                history.BestEpoch = epoch;
                sinceBest = 0;
            }
            else if (Options.Patience is { } patience && ++sinceBest >= patience)
            {
                history.StoppedEarly = epoch < Options.Epochs - 1;
                break;
            }
        }

        return history;
    }

    /// <summary>The loss of the model on a dataset (batched like training, no parameter change).</summary>
    public double Evaluate(Dataset data)
    {
        CheckData(data, "evaluation");
        var device = model.Parameters().Device;
        int batch = Options.BatchSize == 0 || Options.BatchSize >= data.Count ? data.Count : Options.BatchSize;
        using var x = device.FromArray(data.Features, data.Count, data.FeatureCount);
        using var y = device.FromArray(data.Targets, data.Count, data.TargetCount);
        using var slots = device.Zeros((data.Count + batch - 1) / batch);
        return Evaluate(x, y, slots, batch);
    }

    private double Evaluate(Tensor x, Tensor y, Tensor slots, int batch)
    {
        int n = x.Shape[0];
        for (int s = 0, start = 0; start < n; s++, start += batch)
        {
            int rows = Math.Min(batch, n - start);
            loss.ForwardInto(model.Forward(x.Rows(start, rows)), y.Rows(start, rows), slots.Slice(s));
        }

        return WeightedMean(slots.ToArray(), n, batch);
    }

    // The mean over samples of per-batch losses: batches are weighted by their row counts, so the
    // result is the loss of the whole set (for 'mean') whatever the batch size.
    private double WeightedMean(float[] perBatch, int n, int batch)
    {
        if (loss.Reduction == Reduction.Sum)
            return perBatch.Sum(v => (double)v);
        double total = 0;
        for (int s = 0; s < perBatch.Length; s++)
            total += (double)perBatch[s] * Math.Min(batch, n - s * batch);
        return total / n;
    }

    private void CheckData(Dataset data, string role)
    {
        if (data.Count == 0)
            throw new ArgumentException($"The {role} set is empty.");
        if (data.FeatureCount != model.InputFeatures)
            throw new ArgumentException($"The {role} set has {data.FeatureCount} features but the model takes {model.InputFeatures}.");
        loss.ValidateTargets(data.Targets, data.TargetCount, model.OutputFeaturesCount);
    }

    /// <summary>The row order of an epoch: a function of (seed, epoch) only, so a resumed run shuffles as an uninterrupted one.</summary>
    internal static int[] Permutation(int n, int seed, int epoch)
    {
        var order = Enumerable.Range(0, n).ToArray();
        new Random(unchecked((seed * 1_000_003) ^ (epoch * 7919 + 17))).Shuffle(order);
        return order;
    }
}
