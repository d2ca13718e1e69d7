using System.Globalization;
using System.Text;
using Gpu.Runtime;
using Gpu.Runtime.Profiling;

namespace Gpu.Cli;

/// <summary>`train --profile`'s table, in the manner of torch.profiler's <c>key_averages().table()</c>: one row per op, most time first.</summary>
internal static class ProfileTable
{
    /// <summary>The profile for the report: every row with its share of <paramref name="trainSeconds"/>.</summary>
    public static ReportProfile Report(Device device, IReadOnlyList<OpStats> ops, double trainSeconds) =>
        new(device.BackendDescription, device.HostThreads, device.IsHost ? "clock" : "device events", trainSeconds, ops.Sum(o => o.TotalSeconds),
            [.. ops.Select(o => new ReportOp(o.Name, o.Calls, o.TotalSeconds, o.MeanSeconds, trainSeconds > 0 ? o.TotalSeconds / trainSeconds : 0, o.Gflops, o.GigabytesPerSecond))]);

    /// <summary>The table as lines of text, headed by what the ops add up to.</summary>
    public static string Format(ReportProfile profile, int? rows = 40)
    {
        var text = new StringBuilder();
        var c = CultureInfo.InvariantCulture;
        text.AppendLine(string.Create(c,
            $"Profile ({profile.Backend}{(profile.HostThreads is { } t ? $" on {t} threads" : "")}, timed by {profile.Timing}): ops {1e3 * profile.OpSeconds:F1} ms of {1e3 * profile.TrainSeconds:F1} ms training ({100 * profile.OpSeconds / Math.Max(profile.TrainSeconds, 1e-12):F1}%)"));
        int width = Math.Max(20, profile.Ops.Take(rows ?? int.MaxValue).Select(o => o.Name.Length).DefaultIfEmpty(0).Max());
        text.AppendLine($"{"Op".PadRight(width)}  {"Calls",8}  {"Total ms",10}  {"Mean us",10}  {"% train",7}  {"GFLOP/s",8}  {"GB/s",7}");
        foreach (var op in profile.Ops.Take(rows ?? int.MaxValue))
        {
            text.AppendLine(string.Create(c,
                $"{op.Name.PadRight(width)}  {op.Calls,8}  {1e3 * op.TotalSeconds,10:F3}  {1e6 * op.MeanSeconds,10:F1}  {100 * op.Share,6:F1}%  {Optional(op.Gflops),8}  {Optional(op.GigabytesPerSecond),7}"));
        }

        if (rows is { } r && profile.Ops.Count > r)
            text.AppendLine($"... and {profile.Ops.Count - r} more ops (all of them in --report's profile)");
        return text.ToString().TrimEnd();
    }

    private static string Optional(double? value) => value is { } v ? v.ToString(v >= 100 ? "F0" : "F1", CultureInfo.InvariantCulture) : "-";
}
