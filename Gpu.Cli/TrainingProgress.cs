using System.Globalization;
using Gpu.Training;
using Spectre.Console;

namespace Gpu.Cli;

/// <summary>
/// Progress for long runs: a live bar (epoch, loss, learning rate, throughput, time left) when stdout
/// is a terminal, plain lines otherwise. With token data (<paramref name="tokensPerSample"/>, the
/// context) the rate is in tokens per second.
/// </summary>
internal sealed class TrainingProgress(CommandContext context, int epochs, int startEpoch, int? tokensPerSample = null)
{
    private ProgressTask? task;
    private double samples;
    private double seconds;

    public T Run<T>(Func<T> work)
    {
        if (!context.Interactive)
            return work();
        return AnsiConsole.Progress()
            .AutoClear(true)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
            .Start(ctx =>
            {
                task = ctx.AddTask("training", maxValue: epochs - startEpoch);
                return work();
            });
    }

    public void WriteLine(string line)
    {
        if (context.Interactive)
            AnsiConsole.WriteLine(line);
        else
            context.Out.WriteLine(line);
    }

    public void Update(EpochResult e)
    {
        if (task is null)
            return;
        samples += e.Samples;
        seconds += e.Seconds;
        task.Increment(1);
        double rate = samples / Math.Max(seconds, 1e-9);
        string throughput = tokensPerSample is { } t ? $"{rate * t:F0} tokens/s" : $"{rate:F0} samples/s";
        task.Description = Markup.Escape(string.Create(CultureInfo.InvariantCulture,
            $"epoch {e.Epoch + 1}/{epochs} loss {e.Loss:G5} lr {e.LearningRate:G4} {throughput}"));
    }
}
