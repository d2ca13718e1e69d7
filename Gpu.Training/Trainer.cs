using System.Diagnostics;
using Gpu.Runtime;
using Gpu.Runtime.Profiling;

namespace Gpu.Training;

/// <summary>
/// The common training loop: epochs of (mini-)batches; each optimizer step is ZeroGrad, then Forward,
/// loss and Backward for each of its batches (one, or <see cref="TrainerOptions.Accumulate"/>), then
/// the gradient pipeline (sum across ranks, L1/L2 penalty gradients, clipping), the schedule's
/// learning rate, and Step; after the steps, validation in evaluation mode and the epoch's parts
/// (<see cref="IEpochPart"/>: the schedule watching the loss, early stopping, then the caller's, such
/// as logging and checkpoints). Data is copied to the device once per <see cref="Fit"/>; a shuffled
/// batch is gathered on the device. Step losses are written to device slots and read back once per
/// epoch, together with a check that the weights are still finite, so no step waits for the host.
/// <para>
/// With a <see cref="ProcessGroup"/> of N ranks the loop is data-parallel with PyTorch DDP's
/// semantics (<see cref="GradientSync"/>): the batch size stays the global batch; every epoch all ranks
/// draw the same order and each takes its contiguous share of every global batch; each rank's loss
/// gradient is weighted by its share of the step's rows, and the flat gradient is summed across ranks
/// once per optimizer step, so the result is exactly the gradient of the step's mean loss (an uneven
/// last batch and accumulation included); every rank then takes the same optimizer step, so the
/// weights stay identical without being sent. Initial weights and optimizer state are broadcast from
/// rank 0 once. Losses, validation losses and accuracy are reduced across ranks, so early stopping,
/// schedules and divergence are decided identically everywhere.
/// </para>
/// </summary>
public sealed class Trainer
{
    private readonly Sequential model;
    private readonly Loss loss;
    private readonly Optimizer optimizer;
    private readonly GradientSync sync;
    private readonly EarlyStopping earlyStopping;
    private readonly List<IEpochPart> parts = [];

    // The device's profiler during Fit when profiling is on: the data feed and the all-reduce are timed as regions.
    private OpProfiler? profiler;

    /// <param name="model">The model, on its device.</param>
    /// <param name="loss">A loss reduced to a scalar.</param>
    /// <param name="optimizer">The optimizer over the model's parameters.</param>
    /// <param name="options">Epochs, batch size, shuffling, early stopping, accumulation, clipping, penalties, schedule.</param>
    /// <param name="processGroup">The ranks of a data-parallel job (null: this process alone).</param>
    public Trainer(Sequential model, Loss loss, Optimizer optimizer, TrainerOptions? options = null, ProcessGroup? processGroup = null)
    {
        this.model = model ?? throw new ArgumentNullException(nameof(model));
        this.loss = loss ?? throw new ArgumentNullException(nameof(loss));
        this.optimizer = optimizer ?? throw new ArgumentNullException(nameof(optimizer));
        sync = GradientSync.For(processGroup);
        Options = options ?? new TrainerOptions();
        Options.Validate();
        if (loss.Reduction == Reduction.None)
            throw new ArgumentException("The trainer needs a loss reduced to a scalar ('mean' or 'sum').", nameof(loss));
        earlyStopping = new EarlyStopping(Options.Patience, Options.MinDelta);
    }

    public TrainerOptions Options { get; }

    /// <summary>Optimizer steps taken so far, resumed runs' earlier ones included (TensorBoard's step).</summary>
    public long StepsTaken => optimizer.StepCount;

    /// <summary>Raised after every epoch whose weights are finite, after every part (progress output, logging).</summary>
    public event Action<EpochResult>? EpochCompleted;

    /// <summary>The early-stopping record after the last completed epoch (saved in checkpoints).</summary>
    public EarlyStoppingState EarlyStopping => earlyStopping.State;

    /// <summary>The schedule steering the learning rate, or null for none (the optimizer's rate is left alone).</summary>
    public LrSchedule? Schedule => Options.Schedule;

    /// <summary>Where the last Fit kept its data: "device" (copied once) or "host" (batches copied as needed).</summary>
    public string? DataResidence { get; private set; }

    /// <summary>Adds a part called after every finite epoch, after the trainer's own and those added before.</summary>
    public void Add(IEpochPart part) => parts.Add(part ?? throw new ArgumentNullException(nameof(part)));

    /// <summary>What a checkpoint after <paramref name="epochsCompleted"/> epochs must hold to resume exactly.</summary>
    public TrainingState State(int epochsCompleted) =>
        new(epochsCompleted, EarlyStopping, Options.Accumulate, Options.ClipGradNorm, Options.ClipGradValue, Options.L1, Options.L2,
            Schedule?.Format(), Schedule?.SaveState());

    /// <summary>
    /// Checks the schedule's arguments against a run over <paramref name="rows"/> training rows (e.g.
    /// a warmup shorter than the run's optimizer steps): the <see cref="ArgumentException"/> that
    /// <see cref="Fit"/> would throw, before any data reaches the device.
    /// </summary>
    public void CheckSchedule(int rows)
    {
        if (Schedule is null || rows < 1)
            return;
        var plan = new StepPlan(rows, Options.BatchSize, Options.Accumulate, 0, 1);
        Schedule.Validate(new ScheduleRun(optimizer.BaseLearningRate, (long)Options.Epochs * plan.Steps, plan.Steps));
    }

    /// <summary>
    /// Trains from epoch <paramref name="startEpoch"/> (0, or the epoch a checkpoint stopped at) to
    /// <see cref="TrainerOptions.Epochs"/>, continuing the early-stopping record
    /// <paramref name="earlyStopping"/> of a checkpoint (a schedule's state is loaded into the schedule
    /// itself). Throws <see cref="TrainingDivergedException"/> when the loss or the weights stop being
    /// finite; no part runs for that epoch, so a checkpoint is only ever written from finite weights.
    /// </summary>
    public TrainingHistory Fit(
        TrainingSet train, TrainingSet? validation = null, int startEpoch = 0, CancellationToken cancellationToken = default, EarlyStoppingState? earlyStopping = null)
    {
        ArgumentNullException.ThrowIfNull(train);
        CheckData(train, "training");
        if (validation is not null)
            CheckData(validation, "validation");
        if (startEpoch < 0)
            throw new ArgumentOutOfRangeException(nameof(startEpoch), startEpoch, $"The first epoch must be 0 or more (a checkpoint's completed epochs), got {startEpoch}.");

        var device = model.Parameters().Device;
        profiler = device.Profiler;
        var plan = new StepPlan(train.Count, Options.BatchSize, Options.Accumulate, sync.Rank, sync.WorldSize);
        var run = new ScheduleRun(optimizer.BaseLearningRate, (long)Options.Epochs * plan.Steps, plan.Steps);
        Schedule?.Validate(run);
        bool gather = Options.Shuffle && plan.BatchRows < train.Count;
        bool penalised = Options.L1 > 0 || Options.L2 > 0;
        var parameters = model.Parameters();

        // The data stays in host memory when it would not fit in what the device may hold for it
        // (on the CPU, always, by default: its device memory is host memory).
        long dataBytes = train.DeviceBytes + (validation?.DeviceBytes ?? 0);
        bool onDevice = dataBytes <= DeviceDataLimit(device) && train.CanLiveOnDevice && validation?.CanLiveOnDevice != false;
        DataResidence = onDevice ? "device" : "host";
        using var feed = DataFeed.Create(device, train, model.InputShape, plan.LargestShare, gather, onDevice);
        using var batchLosses = device.Zeros(plan.Batches + 2); // then the weights' sum of squares, then the gradient's
        using var penalties = penalised ? device.Zeros(plan.Steps) : null;
        (int Offset, int Count) valShare = validation is null ? (0, 0) : StepPlan.Share(validation.Count, sync.Rank, sync.WorldSize);
        int valBatch = Math.Max(1, Math.Min(plan.BatchRows, valShare.Count));
        using var valFeed = validation is null ? null : DataFeed.Create(device, validation, model.InputShape, valBatch, false, onDevice);
        int valSteps = validation is null ? 0 : Math.Max(1, (valShare.Count + valBatch - 1) / valBatch);
        using var valSlots = validation is null ? null : device.Zeros(2 * valSteps);

        // Every per-step view is made here, once: a training step allocates nothing.
        var slots = new Tensor[plan.Batches];
        for (int b = 0; b < plan.Batches; b++)
            slots[b] = batchLosses.Slice(b);
        var penaltySlots = new Tensor[penalised ? plan.Steps : 0];
        for (int s = 0; s < penaltySlots.Length; s++)
            penaltySlots[s] = penalties!.Slice(s);
        var weightCheck = batchLosses.Slice(plan.Batches);
        var gradientNorm = batchLosses.Slice(plan.Batches + 1);

        sync.Broadcast(parameters.Values);
        foreach (var (_, tensor) in optimizer.State)
            sync.Broadcast(tensor);

        var history = new TrainingHistory();
        this.earlyStopping.State = earlyStopping ?? EarlyStoppingState.Initial;
        history.BestEpoch = EarlyStopping.BestEpoch;
        var hostLosses = new float[plan.Batches + 2];
        var penaltyHost = new float[penaltySlots.Length];
        var permutation = gather ? new int[train.Count] : [];
        double communicationBefore = sync.CommunicationSeconds;
        for (int epoch = startEpoch; epoch < Options.Epochs; epoch++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var clock = Stopwatch.StartNew();
            model.Train();
            if (gather)
                Permutation(permutation, Options.Seed, epoch);
            feed.Start(gather ? permutation : null, plan.Reads);

            for (int s = 0; s < plan.Steps; s++)
            {
                optimizer.ZeroGrad();
                for (int b = plan.FirstBatch(s); b < plan.FirstBatch(s + 1); b++)
                {
                    var batch = plan.Batch(b);
                    if (batch.Count == 0)
                        continue;
                    Tensor xb, yb;
                    using (OpProfiler.Scope(profiler, "data feed"))
                        (xb, yb) = feed.Next();
                    model.SetRandomPosition(optimizer.StepCount, batch.RowInStep);
                    var output = model.Forward(xb);
                    loss.ForwardInto(output, yb, slots[b]);
                    model.Backward(loss.Backward(loss.Reduction == Reduction.Mean ? batch.Weight : 1f));
                }

                FinishGradient(parameters, penalised ? penaltySlots[s] : null, gradientNorm, s == plan.Steps - 1);
                Schedule?.BeforeStep(optimizer, run, optimizer.StepCount, epoch);
                optimizer.Step();
            }

            double learningRate = optimizer.LearningRate;

            // Non-finite weights make their sum of squares non-finite: checked with the losses, in one read.
            Ops.RegularizationPenalty(parameters.Values, 0f, 1f, weightCheck);
            model.Eval();
            (double? valLoss, double? valAccuracy) = validation is null
                ? ((double?)null, (double?)null)
                : Evaluate(valFeed!, valShare.Offset, valShare.Count, valSlots!, valBatch, validation.Count);
            model.Train();
            batchLosses.CopyTo(hostLosses);
            double trainLoss = Total(hostLosses.AsSpan(0, plan.Batches), plan) / (loss.Reduction == Reduction.Sum ? 1 : train.Count);
            if (penalised)
            {
                // The penalty depends on the weights alone, the same on every rank: not reduced.
                penalties!.CopyTo(penaltyHost);
                trainLoss += PenaltyMean(penaltyHost, plan);
            }

            clock.Stop();

            if (!double.IsFinite(trainLoss))
                throw new TrainingDivergedException(epoch, trainLoss, learningRate);
            if (!float.IsFinite(hostLosses[plan.Batches]))
                throw new TrainingDivergedException(epoch, double.NaN, learningRate, "weights");
            if (valLoss is { } v && !double.IsFinite(v))
                throw new TrainingDivergedException(epoch, v, learningRate, "validation loss");

            var result = new EpochResult(epoch, trainLoss, valLoss, clock.Elapsed.TotalSeconds, plan.Steps, train.Count, valAccuracy,
                learningRate, Math.Sqrt(hostLosses[plan.Batches + 1]));
            history.CommunicationSeconds = sync.CommunicationSeconds - communicationBefore;
            history.Epochs.Add(result);
            var end = new EpochEnd(this, result);
            if (Schedule is not null)
                new ScheduleStepping(Schedule).AfterEpoch(end);
            this.earlyStopping.AfterEpoch(end);
            history.BestEpoch = EarlyStopping.BestEpoch;
            foreach (var part in parts)
                part.AfterEpoch(end);
            EpochCompleted?.Invoke(result);

            if (end.StopRequested)
            {
                history.StoppedEarly = epoch < Options.Epochs - 1;
                break;
            }
        }

        return history;
    }

    /// <summary>The loss of the model on a dataset (in evaluation mode, batched like training, no parameter change).</summary>
    public double Evaluate(TrainingSet data)
    {
        CheckData(data, "evaluation");
        var device = model.Parameters().Device;
        profiler = device.Profiler;
        int batch = Options.BatchSize == 0 || Options.BatchSize >= data.Count ? data.Count : Options.BatchSize;
        using var feed = DataFeed.Create(device, data, model.InputShape, batch, false, data.CanLiveOnDevice && data.DeviceBytes <= DeviceDataLimit(device));
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

    /// <summary>The row order of an epoch: a function of (seed, epoch) only, so a resumed run shuffles as an uninterrupted one.</summary>
    internal static int[] Permutation(int n, int seed, int epoch)
    {
        var order = new int[n];
        Permutation(order, seed, epoch);
        return order;
    }

    /// <summary>Rank <paramref name="rank"/>'s contiguous share of <paramref name="rows"/> rows split over <paramref name="ranks"/> ranks.</summary>
    internal static (int Offset, int Count) Share(int rows, int rank, int ranks) => StepPlan.Share(rows, rank, ranks);

    // The gradient the optimizer steps on, in PyTorch's order: summed across ranks, the L1/L2
    // penalty's gradient added (the penalty itself recorded for the loss), then clipped. The total
    // norm is kept on the device for the report: every step when clipping by norm (it is needed),
    // else only at the epoch's last step.
    private void FinishGradient(ParameterCollection parameters, Tensor? penaltySlot, Tensor gradientNorm, bool lastOfEpoch)
    {
        using (OpProfiler.Scope(sync.WorldSize > 1 ? profiler : null, "all-reduce"))
            sync.SumGradients(parameters.Gradients);
        if (penaltySlot is not null)
        {
            Ops.RegularizationPenalty(parameters.Values, (float)Options.L1, (float)Options.L2, penaltySlot);
            Ops.AddRegularizationGradient(parameters.Values, parameters.Gradients, (float)Options.L1, (float)Options.L2);
        }

        if (Options.ClipGradNorm is { } maxNorm)
            Ops.ClipGradientNorm(parameters.Gradients, (float)maxNorm, gradientNorm);
        else if (lastOfEpoch)
            Ops.RegularizationPenalty(parameters.Gradients, 0f, 1f, gradientNorm);
        if (Options.ClipGradValue is { } limit)
            Ops.ClipGradientValue(parameters.Gradients, (float)limit);
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
            Tensor x, target;
            using (OpProfiler.Scope(profiler, "data feed"))
                (x, target) = feed.Next();
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

        sync.Sum(sums);
        double lossValue = loss.Reduction == Reduction.Sum ? sums[0] : sums[0] / total;
        return (lossValue, classifier ? sums[1] / ((double)total * loss.PredictionsPerSample(model.OutputShape)) : null);
    }

    // The sum over the epoch's batches of this rank's losses weighted by its rows (for 'mean'; the
    // losses themselves for 'sum'), then across ranks: the loss of the whole epoch's samples.
    private double Total(ReadOnlySpan<float> perBatch, StepPlan plan)
    {
        Span<double> total = stackalloc double[1];
        for (int b = 0; b < perBatch.Length; b++)
        {
            int count = plan.Batch(b).Count;
            if (count > 0)
                total[0] += loss.Reduction == Reduction.Sum ? perBatch[b] : (double)perBatch[b] * count;
        }

        sync.Sum(total);
        return total[0];
    }

    // The penalty of each optimizer step weighted by the step's rows (for 'mean'; summed for 'sum'):
    // the loss PyTorch reports when each step's loss has the penalty added once.
    private double PenaltyMean(ReadOnlySpan<float> perStep, StepPlan plan)
    {
        double total = 0;
        for (int s = 0; s < perStep.Length; s++)
            total += loss.Reduction == Reduction.Sum ? perStep[s] : (double)perStep[s] * plan.StepRows(s);
        return loss.Reduction == Reduction.Sum ? total : total / plan.Rows;
    }

    private void CheckData(TrainingSet data, string role)
    {
        if (data.Count == 0)
            throw new ArgumentException($"The {role} set is empty.");
        if (data.FeatureCount != model.InputFeatures)
            throw new ArgumentException($"The {role} set has {data.FeatureCount} features but the model takes {model.InputFeatures} (input {Module.Describe(model.InputShape)}).");
        data.CheckTargets(loss, model.OutputShape);
    }

    // The bytes of data the device may hold: the option, else all of a GPU's memory but a margin for
    // the model and activations, and nothing on the CPU (its device memory is host memory).
    private long DeviceDataLimit(Device device) =>
        Options.DeviceDataLimit ?? (device.Kind == DeviceKind.Cpu ? 0 : device.Info.MemoryBytes / 2);

    private static void Permutation(int[] order, int seed, int epoch)
    {
        for (int i = 0; i < order.Length; i++)
            order[i] = i;
        new Random(unchecked((seed * 1_000_003) ^ (epoch * 7919 + 17))).Shuffle(order);
    }
}
