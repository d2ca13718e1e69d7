using System.Diagnostics;
using Gpu.Runtime;

namespace Gpu.Training;

/// <summary>
/// The common training loop: epochs of (mini-)batches, each step ZeroGrad, Forward, loss, Backward,
/// Step, then validation in evaluation mode. Data is copied to the device once per <see cref="Fit"/>;
/// a shuffled batch is gathered on the device. Step losses are written to device slots and read
/// back once per epoch, together with a check that the weights are still finite, so no step waits
/// for the host.
/// <para>
/// With a <see cref="ProcessGroup"/> of N ranks the loop is data-parallel with PyTorch DDP's
/// semantics: the batch size stays the global batch; every epoch all ranks draw the same order and
/// each takes its contiguous share of every global batch; after backward the flat gradient is
/// summed across ranks, each rank's part weighted by its share, so the result is exactly the
/// gradient of the global batch's mean loss (an uneven last batch included); every rank then takes
/// the same optimizer step, so the weights stay identical without being sent. Initial weights and
/// optimizer state are broadcast from rank 0 once. Losses, validation losses and accuracy are
/// reduced across ranks, so early stopping and divergence are decided identically everywhere.
/// </para>
/// </summary>
public sealed class Trainer
{
    private readonly Sequential model;
    private readonly Loss loss;
    private readonly Optimizer optimizer;
    private readonly ProcessGroup? group;

    /// <param name="model">The model, on its device.</param>
    /// <param name="loss">A loss reduced to a scalar.</param>
    /// <param name="optimizer">The optimizer over the model's parameters.</param>
    /// <param name="options">Epochs, batch size, shuffling, early stopping.</param>
    /// <param name="processGroup">The ranks of a data-parallel job (null: this process alone).</param>
    public Trainer(Sequential model, Loss loss, Optimizer optimizer, TrainerOptions? options = null, ProcessGroup? processGroup = null)
    {
        this.model = model ?? throw new ArgumentNullException(nameof(model));
        this.loss = loss ?? throw new ArgumentNullException(nameof(loss));
        this.optimizer = optimizer ?? throw new ArgumentNullException(nameof(optimizer));
        group = processGroup is { WorldSize: > 1 } ? processGroup : null;
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
        int ranks = group?.WorldSize ?? 1, rank = group?.Rank ?? 0;
        int largestShare = Share(batch, 0, ranks).Count;

        // The data stays in host memory when it would not fit in what the device may hold for it
        // (on the CPU, always, by default: its device memory is host memory).
        long dataBytes = DataFeed.Bytes(train) + (validation is null ? 0 : DataFeed.Bytes(validation));
        bool onDevice = dataBytes <= DeviceDataLimit(device);
        DataResidence = onDevice ? "device" : "host";
        using var feed = DataFeed.Create(device, train, model.InputShape, largestShare, gather, onDevice);
        using var stepLosses = device.Zeros(steps + 1); // the last slot: the weights' sum of squares
        using var penalties = penalised ? device.Zeros(steps) : null;
        (int Offset, int Count) valShare = validation is null ? (0, 0) : Share(validation.Count, rank, ranks);
        int valBatch = Math.Max(1, Math.Min(batch, valShare.Count));
        using var valFeed = validation is null ? null : DataFeed.Create(device, validation, model.InputShape, valBatch, false, onDevice);
        int valSteps = validation is null ? 0 : Math.Max(1, (valShare.Count + valBatch - 1) / valBatch);
        using var valSlots = validation is null ? null : device.Zeros(2 * valSteps);

        // Every per-step view is made here, once: a training step allocates nothing. Each step is
        // this rank's share (all of it for one process) of the global batch [s batch, ...).
        var plan = new (int Start, int Rows, int Offset, int Count)[steps];
        var batches = new List<(int Offset, int Count)>(steps); // the rows this rank reads, step by step
        var slots = new Tensor[steps];
        var penaltySlots = new Tensor[penalised ? steps : 0];
        for (int s = 0; s < steps; s++)
        {
            int start = s * batch, rows = Math.Min(batch, n - start);
            var (offset, count) = Share(rows, rank, ranks);
            plan[s] = (start, rows, offset, count);
            if (count > 0)
                batches.Add((start + offset, count));
            slots[s] = stepLosses.Slice(s);
            if (penalised)
                penaltySlots[s] = penalties!.Slice(s);
        }

        if (group is not null)
            BroadcastState(group);

        var history = new TrainingHistory();
        EarlyStopping = earlyStopping ?? EarlyStoppingState.Initial;
        history.BestEpoch = EarlyStopping.BestEpoch;
        var stepLossHost = new float[steps + 1];
        var penaltyHost = new float[penalised ? steps : 0];
        var weightCheck = stepLosses.Slice(steps);
        var permutation = gather ? new int[n] : [];
        double communicationBefore = group?.CommunicationSeconds ?? 0;
        for (int epoch = startEpoch; epoch < Options.Epochs; epoch++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var clock = Stopwatch.StartNew();
            model.Train();
            if (gather)
                Permutation(permutation, Options.Seed, epoch);
            feed.Start(gather ? permutation : null, batches);

            for (int s = 0; s < steps; s++)
            {
                var (_, rows, offset, count) = plan[s];
                optimizer.ZeroGrad();
                if (count > 0)
                {
                    var (xb, yb) = feed.Next();
                    model.SetRandomPosition(optimizer.StepCount, offset);
                    var output = model.Forward(xb);
                    loss.ForwardInto(output, yb, slots[s]);
                    model.Backward(loss.Backward());
                }

                if (penalised)
                    Ops.RegularizationPenalty(model.Parameters().Values, (float)optimizer.L1, (float)optimizer.L2, penaltySlots[s]);
                // The gradient of the global batch's loss: each rank's mean over its share, weighted by the share.
                group?.AllReduceSum(model.Parameters().Gradients, loss.Reduction == Reduction.Mean ? (float)count / rows : 1f);
                optimizer.Step();
            }

            // Non-finite weights make their sum of squares non-finite: checked with the losses, in one read.
            Ops.RegularizationPenalty(model.Parameters().Values, 0f, 1f, weightCheck);
            model.Eval();
            (double? valLoss, double? valAccuracy) = validation is null
                ? ((double?)null, (double?)null)
                : Evaluate(valFeed!, valShare.Offset, valShare.Count, valSlots!, valBatch, validation.Count);
            model.Train();
            stepLosses.CopyTo(stepLossHost);
            double trainLoss = Total(stepLossHost.AsSpan(0, steps), plan) / (loss.Reduction == Reduction.Sum ? 1 : n);
            if (penalised)
            {
                // The penalty depends on the weights alone, the same on every rank: not reduced.
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
            history.CommunicationSeconds = (group?.CommunicationSeconds ?? 0) - communicationBefore;
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
        using var feed = DataFeed.Create(device, data, model.InputShape, batch, false, DataFeed.Bytes(data) <= DeviceDataLimit(device));
        using var slots = device.Zeros(2 * ((data.Count + batch - 1) / batch));
        bool training = model.IsTraining;
        model.Eval();
        try
        {
            return Evaluate(feed, 0, data.Count, slots, batch, data.Count).Loss;
        }
        finally
        {
            model.Train(training);
        }
    }

    // The loss (and, for classifiers, the accuracy) over a set of `total` rows, of which rows
    // [first, first + n) are this rank's share: one slot per batch for each, summed locally, then across ranks.
    private (double Loss, double? Accuracy) Evaluate(DataFeed feed, int first, int n, Tensor slots, int batch, int total)
    {
        int batches = slots.Length / 2;
        bool classifier = loss.ReportsAccuracy(model.OutputFeaturesCount);
        var pass = new List<(int Offset, int Count)>(batches);
        for (int start = 0; start < n; start += batch)
            pass.Add((first + start, Math.Min(batch, n - start)));
        feed.Start(null, pass);
        int used = pass.Count;
        for (int b = 0; b < used; b++)
        {
            var (x, target) = feed.Next();
            var output = model.Forward(x);
            loss.ForwardInto(output, target, slots.Slice(b));
            if (classifier)
                loss.CountCorrect(output, target, slots.Slice(batches + b));
        }

        var values = slots.ToArray();
        Span<double> sums = stackalloc double[2];
        for (int s = 0; s < used; s++)
        {
            int rows = Math.Min(batch, n - s * batch);
            sums[0] += loss.Reduction == Reduction.Sum ? values[s] : (double)values[s] * rows;
            if (classifier)
                sums[1] += values[batches + s];
        }

        group?.AllReduceSum(sums);
        double lossValue = loss.Reduction == Reduction.Sum ? sums[0] : sums[0] / total;
        return (lossValue, classifier ? sums[1] / total : null);
    }

    // The sum over the epoch's steps of this rank's losses weighted by its rows (for 'mean'; the
    // losses themselves for 'sum'), then across ranks: the loss of the whole epoch's samples.
    private double Total(ReadOnlySpan<float> perStep, (int Start, int Rows, int Offset, int Count)[] plan)
    {
        Span<double> total = stackalloc double[1];
        for (int s = 0; s < perStep.Length; s++)
        {
            if (plan[s].Count > 0)
                total[0] += loss.Reduction == Reduction.Sum ? perStep[s] : (double)perStep[s] * plan[s].Count;
        }

        group?.AllReduceSum(total);
        return total[0];
    }

    // Rank 0's weights and optimizer state on every rank: one starting point for all.
    private void BroadcastState(ProcessGroup processGroup)
    {
        processGroup.Broadcast(model.Parameters().Values);
        foreach (var (_, tensor) in optimizer.State)
            processGroup.Broadcast(tensor);
    }

    /// <summary>Rank <paramref name="rank"/>'s contiguous share of <paramref name="rows"/> rows split over <paramref name="ranks"/> ranks: the first rows % ranks ranks take one more.</summary>
    internal static (int Offset, int Count) Share(int rows, int rank, int ranks)
    {
        int size = rows / ranks, extra = rows % ranks;
        return (rank * size + Math.Min(rank, extra), size + (rank < extra ? 1 : 0));
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
        loss.ValidateTargets(data.TargetRows, data.TargetCount, model.OutputFeaturesCount);
    }

    /// <summary>Where the last Fit kept its data: "device" (copied once) or "host" (batches copied as needed).</summary>
    public string? DataResidence { get; private set; }

    // The bytes of data the device may hold: the option, else all of a GPU's memory but a margin for
    // the model and activations, and nothing on the CPU (its device memory is host memory).
    private long DeviceDataLimit(Device device) =>
        Options.DeviceDataLimit ?? (device.Kind == DeviceKind.Cpu ? 0 : device.Info.MemoryBytes / 2);

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
