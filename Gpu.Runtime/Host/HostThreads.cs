namespace Gpu.Runtime.Host;

/// <summary>
/// How many cores the host path's parallel loops use: all of them by default, fewer when several
/// processes share a machine (data-parallel ranks on one box: cores / local ranks, set through
/// <see cref="Device.CreateCpu(CpuProfile, string?, int?)"/>). Process-wide, like the thread pool it
/// schedules on; every parallel loop of the host path takes <see cref="Options"/>.
/// </summary>
internal static class HostThreads
{
    private static ParallelOptions options = new() { MaxDegreeOfParallelism = Environment.ProcessorCount };

    /// <summary>Cores the host path may use.</summary>
    public static int Count => options.MaxDegreeOfParallelism;

    public static ParallelOptions Options => options;

    public static void Set(int count) =>
        options = new ParallelOptions { MaxDegreeOfParallelism = Math.Clamp(count, 1, Environment.ProcessorCount) };
}
