namespace Gpu.Training;

/// <summary>
/// Writes a training checkpoint every <c>every</c> epochs, after the last epoch, and after the epoch
/// early stopping ends the run on: an epoch part (<see cref="Trainer.Add"/>), so it sees the state
/// after the schedule and early stopping have taken the epoch in. Parts run only for epochs whose
/// weights are finite, so a checkpoint never holds diverged weights.
/// </summary>
public sealed class Checkpointing(string path, int every, int epochs, Sequential model, Optimizer optimizer, ModelInfo info) : IEpochPart
{
    /// <summary>The epochs completed at the last checkpoint written, or null before the first.</summary>
    public int? LastWritten { get; private set; }

    public void AfterEpoch(EpochEnd end)
    {
        int done = end.EpochsCompleted;
        if (done % every != 0 && done != epochs && !end.StopRequested)
            return;
        TrainingCheckpoint.Save(path, model, optimizer, end.Trainer.State(done), info);
        LastWritten = done;
    }
}
