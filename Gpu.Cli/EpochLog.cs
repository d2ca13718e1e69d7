using Gpu.Training;

namespace Gpu.Cli;

/// <summary>
/// The epoch part that prints every <c>logEvery</c>-th epoch's losses and moves the progress bar.
/// With a schedule the line ends with the epoch's last learning rate; without one it is the
/// reference example's line exactly.
/// </summary>
internal sealed class EpochLog(TrainingProgress progress, int logEvery, bool showRate) : IEpochPart
{
    public void AfterEpoch(EpochEnd end)
    {
        if (end.Result.Epoch % logEvery == 0)
            progress.WriteLine(showRate ? $"{TrainJob.EpochLine(end.Result)}, LR: {TrainJob.Number(end.Result.LearningRate)}" : TrainJob.EpochLine(end.Result));
        progress.Update(end.Result);
    }
}
