using System.Diagnostics;
using System.Globalization;
using Gpu.Training;
using Spectre.Console;

namespace Gpu.Cli;

/// <summary>What loading one data set took: its bytes (all files) and seconds.</summary>
internal sealed record LoadStats(long Bytes, double Seconds);

/// <summary>
/// Progress while data loads: a live bar with rows and MB/s on a terminal, and one closing line
/// (rows, size, time, MB/s) either way.
/// </summary>
internal static class LoadingProgress
{
    public static Dataset Load(CommandContext context, string data, Func<IProgress<LoadProgress>?, Dataset> load, out LoadStats stats)
    {
        var clock = Stopwatch.StartNew();
        long bytes = 0;
        Dataset loaded;
        if (context.Interactive)
        {
            loaded = AnsiConsole.Progress()
                .AutoClear(true)
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn())
                .Start(ctx =>
                {
                    var task = ctx.AddTask($"loading {Markup.Escape(data)}", maxValue: 1);
                    return load(new Reporter(report =>
                    {
                        task.MaxValue = Math.Max(1, report.TotalBytes);
                        task.Value = report.Bytes;
                        task.Description = Markup.Escape(string.Create(CultureInfo.InvariantCulture,
                            $"loading {data}: {report.Rows:N0}/{report.TotalRows:N0} rows, {report.Bytes / 1e6 / Math.Max(clock.Elapsed.TotalSeconds, 1e-3):F0} MB/s"));
                        Interlocked.Exchange(ref bytes, report.TotalBytes);
                    }));
                });
        }
        else
        {
            loaded = load(new Reporter(report => Interlocked.Exchange(ref bytes, report.TotalBytes)));
        }

        double seconds = clock.Elapsed.TotalSeconds;
        context.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"Loaded {data}: {loaded.Count} rows, {loaded.FeatureCount} features, {loaded.TargetCount} target{(loaded.TargetCount == 1 ? "" : "s")} ({bytes / 1e6:F1} MB in {seconds:F2} s, {bytes / 1e6 / Math.Max(seconds, 1e-6):F0} MB/s)"));
        stats = new LoadStats(bytes, seconds);
        return loaded;
    }

    // Reports arrive from the loader's worker threads; Progress<T> would post them to the thread pool out of order.
    private sealed class Reporter(Action<LoadProgress> report) : IProgress<LoadProgress>
    {
        public void Report(LoadProgress value) => report(value);
    }
}
