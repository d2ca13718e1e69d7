namespace Gpu.Runtime.Backends.Host;

/// <summary>
/// How many cores the host path's parallel loops use: all of them by default, fewer when several
/// processes share a machine (data-parallel ranks on one box: cores / local ranks, set through
/// <see cref="Device.CreateCpu(CpuProfile, string?, int?)"/>). Process-wide, like the worker threads it
/// runs on; every parallel loop of the host path goes through <see cref="For"/>.
/// </summary>
internal static class HostThreads
{
    private static int count = Environment.ProcessorCount;

    /// <summary>Cores the host path may use.</summary>
    public static int Count => count;

    public static void Set(int cores) => count = Math.Clamp(cores, 1, Environment.ProcessorCount);

    /// <summary>Runs <paramref name="body"/> for every index in [0, <paramref name="indices"/>) on up to <see cref="Count"/> cores (<see cref="HostWorkers"/>).</summary>
    public static void For(int indices, Action<int> body) => HostWorkers.For(indices, count, body);
}
