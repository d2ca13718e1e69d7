using Gpu.Training;

namespace Gpu.Cli;

/// <summary>
/// The epoch part that prints the first, every <c>logEvery</c>-th and the last epoch's losses, and
/// moves the progress bar. With a schedule the line ends with the epoch's last learning rate;
/// without one it is the reference example's line. For token data it adds the validation loss in
/// bits per token. A run that early stopping ends prints its last epoch through <see cref="Finish"/>.
/// </summary>
internal sealed class EpochLog(TrainingProgress progress, int logEvery, int epochs, bool showRate, bool perToken) : IEpochPart
{
    private EpochResult? unprinted;

    public void AfterEpoch(EpochEnd end)
    {
        var e = end.Result;
        if (e.Epoch % logEvery == 0 || e.Epoch == epochs - 1)
        {
            Print(e);
            unprinted = null;
        }
        else
        {
            unprinted = e;
        }

        progress.Update(e);
    }

    /// <summary>Prints the last epoch when it was not printed (early stopping ended the run between lines).</summary>
    public void Finish()
    {
        if (unprinted is not null)
            Print(unprinted);
        unprinted = null;
    }

    private void Print(EpochResult e)
    {
        string line = TrainJob.EpochLine(e, perToken);
        progress.WriteLine(showRate ? $"{line}, LR: {TrainJob.Short(e.LearningRate)}" : line);
    }
}
