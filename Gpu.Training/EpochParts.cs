namespace Gpu.Training;

/// <summary>
/// One duty done after every epoch whose weights are finite (logging, checkpointing, ...). The trainer
/// calls its own parts first, in a fixed order (the schedule watching the loss, then early stopping),
/// then those added with <see cref="Trainer.Add"/> in the order added, then <see cref="Trainer.EpochCompleted"/>.
/// </summary>
public interface IEpochPart
{
    void AfterEpoch(EpochEnd end);
}

/// <summary>What the parts of one epoch see: its result, the trainer's state after it, and a way to stop the run.</summary>
public sealed class EpochEnd(Trainer trainer, EpochResult result)
{
    public Trainer Trainer { get; } = trainer;

    public EpochResult Result { get; } = result;

    /// <summary>Epochs completed, this one included (what a checkpoint records).</summary>
    public int EpochsCompleted => Result.Epoch + 1;

    /// <summary>True once a part asked the run to end after this epoch.</summary>
    public bool StopRequested { get; private set; }

    /// <summary>Ends the run after this epoch's parts (early stopping does).</summary>
    public void RequestStop() => StopRequested = true;
}

/// <summary>
/// Early stopping as a part: keeps the best monitored loss (validation if given, else training), the
/// epochs since it and its epoch, and asks the run to stop after <c>patience</c> epochs without an
/// improvement larger than <c>minDelta</c>.
/// </summary>
internal sealed class EarlyStopping(int? patience, double minDelta) : IEpochPart
{
    public EarlyStoppingState State { get; set; } = EarlyStoppingState.Initial;

    public void AfterEpoch(EpochEnd end)
    {
        double monitored = end.Result.ValLoss ?? end.Result.Loss;
        bool improved = monitored < State.Best - minDelta;
        State = improved ? new EarlyStoppingState(monitored, 0, end.Result.Epoch) : State with { SinceBest = State.SinceBest + 1 };
        if (!improved && patience is { } p && State.SinceBest >= p)
            end.RequestStop();
    }
}

/// <summary>A schedule that watches the loss (ReduceLROnPlateau) sees every epoch's monitored loss.</summary>
internal sealed class ScheduleStepping(LrSchedule schedule) : IEpochPart
{
    public void AfterEpoch(EpochEnd end)
    {
        if (schedule.WatchesLoss)
            schedule.AfterEpoch(end.Result.ValLoss ?? end.Result.Loss);
    }
}
