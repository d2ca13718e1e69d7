namespace Gpu.Training;

/// <summary>How <see cref="Trainer.Fit"/> runs.</summary>
/// <param name="Epochs">Passes over the training set (at least 1).</param>
/// <param name="BatchSize">Rows per step; 0 (or at least the set size) means full batch.</param>
/// <param name="Shuffle">Reshuffle the rows every epoch (only matters with mini-batches).</param>
/// <param name="Seed">Seeds the shuffling; with the model's seed it makes a run reproducible.</param>
/// <param name="Patience">Stop after this many epochs without improvement of the monitored loss (validation if given, else training); null: never.</param>
/// <param name="MinDelta">Smallest decrease that counts as an improvement.</param>
/// <param name="DeviceDataLimit">
/// The most bytes of data (training plus validation) the trainer copies to the device; more stays in
/// host memory and each batch is copied over as the step needs it, with the same numbers. Null: half
/// a GPU's memory, and 0 on the CPU (whose device memory is host memory, so a copy would only double it).
/// </param>
/// <param name="Accumulate">Batches per optimizer step (gradient accumulation): K batches of B rows step as one batch of K B rows; an epoch's last step may take fewer.</param>
/// <param name="ClipGradNorm">torch.nn.utils.clip_grad_norm_'s max_norm, applied to the complete gradient before each step; null: off.</param>
/// <param name="ClipGradValue">torch.nn.utils.clip_grad_value_'s clip_value, applied after any norm clipping; null: off.</param>
/// <param name="L1">L1 penalty <c>l1 * sum |w|</c> added to the loss (its gradient to every step's gradient).</param>
/// <param name="L2">L2 penalty <c>l2 * sum w^2</c> added to the loss.</param>
/// <param name="Schedule">The learning-rate schedule, evaluated before every optimizer step; null: the optimizer's rate is left alone.</param>
public sealed record TrainerOptions(
    int Epochs = 100, int BatchSize = 0, bool Shuffle = true, int Seed = 0, int? Patience = null, double MinDelta = 0, long? DeviceDataLimit = null,
    int Accumulate = 1, double? ClipGradNorm = null, double? ClipGradValue = null, double L1 = 0, double L2 = 0, LrSchedule? Schedule = null)
{
    public void Validate()
    {
        if (Epochs < 1)
            throw new ArgumentOutOfRangeException(nameof(Epochs), Epochs, "Epochs must be at least 1.");
        if (BatchSize < 0)
            throw new ArgumentOutOfRangeException(nameof(BatchSize), BatchSize, "The batch size must be 0 (full batch) or positive.");
        if (Patience is < 1)
            throw new ArgumentOutOfRangeException(nameof(Patience), Patience, "Patience must be at least 1 epoch.");
        if (!(MinDelta >= 0) || double.IsInfinity(MinDelta))
            throw new ArgumentOutOfRangeException(nameof(MinDelta), MinDelta, "MinDelta must be a finite number >= 0.");
        if (DeviceDataLimit is < 0)
            throw new ArgumentOutOfRangeException(nameof(DeviceDataLimit), DeviceDataLimit, "DeviceDataLimit must be 0 or more bytes.");
        if (Accumulate < 1)
            throw new ArgumentOutOfRangeException(nameof(Accumulate), Accumulate, "Accumulate must be at least 1 batch per optimizer step.");
        if (ClipGradNorm is { } norm && !(double.IsFinite(norm) && norm > 0))
            throw new ArgumentOutOfRangeException(nameof(ClipGradNorm), norm, "ClipGradNorm must be a finite number > 0.");
        if (ClipGradValue is { } value && !(double.IsFinite(value) && value > 0))
            throw new ArgumentOutOfRangeException(nameof(ClipGradValue), value, "ClipGradValue must be a finite number > 0.");
        if (!(double.IsFinite(L1) && L1 >= 0))
            throw new ArgumentOutOfRangeException(nameof(L1), L1, "L1 must be a finite number >= 0.");
        if (!(double.IsFinite(L2) && L2 >= 0))
            throw new ArgumentOutOfRangeException(nameof(L2), L2, "L2 must be a finite number >= 0.");
    }
}

/// <summary>What one epoch produced.</summary>
/// <param name="Epoch">0-based epoch index.</param>
/// <param name="Loss">Training loss: the sample-weighted mean of the step losses (the loss of the forward pass of each step, plus the L1/L2 penalty when enabled).</param>
/// <param name="ValLoss">Validation loss after the epoch's steps, or null without validation data.</param>
/// <param name="Seconds">Wall-clock time of the epoch, validation included.</param>
/// <param name="Steps">Optimizer steps taken in the epoch.</param>
/// <param name="Samples">Training rows processed in the epoch.</param>
/// <param name="ValAccuracy">Fraction of validation rows classified correctly (ce and bce losses), or null.</param>
/// <param name="LearningRate">The learning rate of the epoch's last optimizer step.</param>
/// <param name="GradNorm">The total 2-norm of the complete gradient at the epoch's last step, before clipping.</param>
public sealed record EpochResult(
    int Epoch, double Loss, double? ValLoss, double Seconds, int Steps, int Samples, double? ValAccuracy = null, double LearningRate = 0, double GradNorm = 0);

/// <summary>
/// What a training checkpoint holds besides weights and optimizer state, so that a resumed run
/// continues exactly as the straight one would: the epochs done, the early-stopping record, the
/// schedule's state, and the options that shape the steps to come.
/// </summary>
/// <param name="EpochsCompleted">Epochs completed.</param>
/// <param name="EarlyStopping">The early-stopping record.</param>
/// <param name="Accumulate">Batches per optimizer step: it fixes the steps per epoch, which schedules count.
/// Accumulation never spans epochs, so an epoch's end is always a step's end: there is no partial step to save.</param>
/// <param name="ClipGradNorm">Gradient clipping by total norm, or null.</param>
/// <param name="ClipGradValue">Gradient clipping by value, or null.</param>
/// <param name="L1">L1 penalty.</param>
/// <param name="L2">L2 penalty.</param>
/// <param name="Schedule">The schedule in the call grammar, or null for none.</param>
/// <param name="ScheduleState">What the schedule learnt from the losses (JSON), or null.</param>
public sealed record TrainingState(
    int EpochsCompleted, EarlyStoppingState EarlyStopping, int Accumulate = 1, double? ClipGradNorm = null, double? ClipGradValue = null,
    double L1 = 0, double L2 = 0, string? Schedule = null, string? ScheduleState = null);

/// <summary>
/// Early stopping's record: the best monitored loss so far, the epochs since it, and its epoch.
/// Saved in checkpoints, so a resumed run stops exactly where an uninterrupted one would.
/// </summary>
/// <param name="Best">Lowest monitored loss (validation if given, else training); +infinity before the first epoch.</param>
/// <param name="SinceBest">Epochs completed since the best one.</param>
/// <param name="BestEpoch">The epoch of <paramref name="Best"/>, or null before the first epoch.</param>
public sealed record EarlyStoppingState(double Best, int SinceBest, int? BestEpoch)
{
    /// <summary>The record before any epoch.</summary>
    public static EarlyStoppingState Initial { get; } = new(double.PositiveInfinity, 0, null);
}

/// <summary>Everything <see cref="Trainer.Fit"/> observed.</summary>
public sealed class TrainingHistory
{
    public List<EpochResult> Epochs { get; } = [];

    /// <summary>True when early stopping ended the run before the last epoch.</summary>
    public bool StoppedEarly { get; internal set; }

    /// <summary>Epoch with the lowest monitored loss, or null before the first epoch.</summary>
    public int? BestEpoch { get; internal set; }

    public double TrainSeconds => Epochs.Sum(e => e.Seconds);

    /// <summary>Wall time spent in collectives across ranks (all-reduces, broadcasts) during the run; 0 for one process.</summary>
    public double CommunicationSeconds { get; internal set; }

    public long Steps => Epochs.Sum(e => (long)e.Steps);

    public long Samples => Epochs.Sum(e => (long)e.Samples);

    public EpochResult? Last => Epochs.Count == 0 ? null : Epochs[^1];
}

/// <summary>The loss or the weights became NaN or infinite; the parameters after this epoch are not usable.</summary>
public sealed class TrainingDivergedException(int epoch, double loss, double learningRate, string what = "loss")
    : Exception(what == "weights"
        ? $"Training diverged at epoch {epoch}: the weights are no longer finite after its steps. Try a lower learning rate (it is {learningRate}) or standardise the features."
        : $"Training diverged at epoch {epoch}: the {what} is {loss}. Try a lower learning rate (it is {learningRate}) or standardise the features.")
{
    public int Epoch { get; } = epoch;

    public double Loss { get; } = loss;
}
