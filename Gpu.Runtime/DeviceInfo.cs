using System.Globalization;

namespace Gpu.Runtime;

/// <summary>What a device is, as reported to users (the `devices` command, training summaries, reports).</summary>
/// <param name="Kind">Accelerator kind.</param>
/// <param name="Name">Name reported by the driver.</param>
/// <param name="MemoryBytes">Device memory in bytes.</param>
/// <param name="WarpSize">Threads per warp.</param>
/// <param name="Multiprocessors">Streaming multiprocessors (CPU: emulated multiprocessors, one per core).</param>
/// <param name="MaxGroupSize">Largest group ILGPU can launch on it.</param>
/// <param name="Problem">Why it cannot be used, or null when it can.</param>
public sealed record DeviceInfo(
    DeviceKind Kind, string Name, long MemoryBytes, int WarpSize, int Multiprocessors, int MaxGroupSize, string? Problem = null)
{
    /// <summary>True when an accelerator can be created on it.</summary>
    public bool IsUsable => Problem is null;

    /// <summary>Lower-case kind as accepted by <see cref="Device.Create(string?)"/>: cpu, cuda, opencl.</summary>
    public string KindName => Kind.ToString().ToLowerInvariant();

    public override string ToString()
    {
        string text = string.Create(
            CultureInfo.InvariantCulture,
            $"{KindName}: {Name}, {MemoryBytes / (1024.0 * 1024 * 1024):F1} GiB, warp {WarpSize}, {Multiprocessors} multiprocessors");
        return Problem is null ? text : $"{text} (unusable: {Problem})";
    }
}
