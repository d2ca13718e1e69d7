using System.Diagnostics;
using System.Globalization;
using Gpu.Training;

namespace Gpu.Bench.Data;

/// <summary>
/// `load PATH [--repeat N]`: loads a data set (file, folder or pattern) N times (5 by default) with
/// the trainer's loader and prints each time, the median, MB/s and the process's peak memory.
/// </summary>
internal static class LoadBenchmark
{
    public static int Run(string data, int repeat)
    {
        long bytes = DataFiles.Resolve(data).Sum(f => new FileInfo(f).Length);
        var seconds = new List<double>();
        int rows = 0;
        long allocated = 0;
        for (int i = 0; i < repeat; i++)
        {
            long allocatedBefore = GC.GetTotalAllocatedBytes(precise: true);
            var clock = Stopwatch.StartNew();
            var loaded = DataLoader.Load(data);
            seconds.Add(clock.Elapsed.TotalSeconds);
            rows = loaded.Count;
            allocated = GC.GetTotalAllocatedBytes(precise: true) - allocatedBefore;
            GC.KeepAlive(loaded);
            loaded = null;
            GC.Collect();
        }

        seconds.Sort();
        double median = seconds[seconds.Count / 2];
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{data}: {rows} rows, {bytes / 1e6:F0} MB; times {string.Join(" ", seconds.Select(s => s.ToString("F3", CultureInfo.InvariantCulture)))} s; median {median:F3} s = {bytes / 1e6 / median:F0} MB/s; allocated {allocated / 1e6:F0} MB per load; peak working set {Process.GetCurrentProcess().PeakWorkingSet64 / 1e6:F0} MB"));
        return 0;
    }
}
