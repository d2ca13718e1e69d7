using Gpu.Training;

namespace Gpu.Cli;

/// <summary>The epoch part that prints every <c>logEvery</c>-th epoch's losses and moves the progress bar.</summary>
internal sealed class EpochLog(TrainingProgress progress, int logEvery) : IEpochPart
{
    public void AfterEpoch(EpochEnd end)
    {
        if (end.Result.Epoch % logEvery == 0)
            progress.WriteLine(TrainJob.EpochLine(end.Result));
        progress.Update(end.Result);
    }
}
