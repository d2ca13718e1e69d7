using Gpu.Training;

namespace Gpu.Cli;

/// <summary>
/// The epoch part that prints every <c>logEvery</c>-th epoch's losses and moves the progress bar.
/// With a schedule the line ends with the epoch's last learning rate; without one it is the
/// reference example's line exactly. For token data it adds the validation loss in bits per token.
/// </summary>
internal sealed class EpochLog(TrainingProgress progress, int logEvery, bool showRate, bool perToken) : IEpochPart
{
    public void AfterEpoch(EpochEnd end)
    {
        if (end.Result.Epoch % logEvery == 0)
        {
            string line = TrainJob.EpochLine(end.Result, perToken);
            progress.WriteLine(showRate ? $"{line}, LR: {TrainJob.Number(end.Result.LearningRate)}" : line);
        }

        progress.Update(end.Result);
    }
}
