using System.Diagnostics;
using ILGPU.Runtime;

namespace Gpu.Runtime.Profiling;

/// <summary>
/// Times every op a device runs while it is on (<see cref="Device.StartProfiling"/>), as
/// <c>torch.profiler</c>'s <c>key_averages()</c> does: calls, total and mean time per op name, and
/// the FLOPs and bytes the op moves, for achieved GFLOP/s and GB/s. Host ops run on the calling
/// thread and are timed with the clock; kernel launches are queued, so they are bracketed with the
/// stream's profiling markers (device events) and measured when the results are read. Ops that run
/// inside another timed op or a <see cref="Scope"/> (the data feed's gather, say) count towards the
/// outer one only, so the totals add up to the time the ops took, each microsecond once.
/// </summary>
public sealed class OpProfiler
{
    // Device markers are resolved (which waits for the stream) once this many are queued, so a long run holds few events.
    private const int MaxPending = 4096;

    private readonly AcceleratorStream? stream;
    private readonly Dictionary<string, Totals> totals = [];
    private readonly List<(string Name, ProfilingMarker Start, ProfilingMarker End)> pending = [];
    private int depth;

    internal OpProfiler(AcceleratorStream? stream) => this.stream = stream;

    /// <summary>Opens a timed region around work that is not one op (the data feed, the all-reduce); a no-op for a null profiler.</summary>
    public static ProfileScope Scope(OpProfiler? profiler, string name) => profiler is null ? default : new ProfileScope(profiler, name, profiler.Start());

    /// <summary>Every op and region measured so far, most time first (waits for queued kernels).</summary>
    public IReadOnlyList<OpStats> Results()
    {
        Resolve();
        return [.. totals.Select(t => new OpStats(t.Key, t.Value.Calls, t.Value.Seconds, t.Value.Flops, t.Value.Bytes)).OrderByDescending(s => s.TotalSeconds)];
    }

    internal Mark Start()
    {
        if (depth++ > 0)
            return default;
        return stream is null ? new Mark(Stopwatch.GetTimestamp(), null) : new Mark(0, stream.AddProfilingMarker());
    }

    internal void Stop(in Mark start, string name, double flops, double bytes)
    {
        if (--depth > 0)
            return;
        if (start.Marker is { } marker)
        {
            pending.Add((name, marker, stream!.AddProfilingMarker()));
            if (pending.Count >= MaxPending)
                Resolve();
            Add(name, 0, flops, bytes);
        }
        else
        {
            Add(name, Stopwatch.GetElapsedTime(start.Timestamp).TotalSeconds, flops, bytes);
        }
    }

    private void Add(string name, double seconds, double flops, double bytes)
    {
        ref var t = ref System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrAddDefault(totals, name, out _);
        t.Calls++;
        t.Seconds += seconds;
        t.Flops += flops;
        t.Bytes += bytes;
    }

    private void Resolve()
    {
        foreach (var (name, start, end) in pending)
        {
            ref var t = ref System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrNullRef(totals, name);
            t.Seconds += end.MeasureFrom(start).TotalSeconds;
            start.Dispose();
            end.Dispose();
        }

        pending.Clear();
    }

    internal readonly record struct Mark(long Timestamp, ProfilingMarker? Marker);

    private struct Totals
    {
        public long Calls;
        public double Seconds;
        public double Flops;
        public double Bytes;
    }
}

/// <summary>One row of a profile: an op (or region), its calls, total seconds, and the FLOPs and bytes of all its calls (0 where not counted).</summary>
public sealed record OpStats(string Name, long Calls, double TotalSeconds, double Flops, double Bytes)
{
    public double MeanSeconds => Calls == 0 ? 0 : TotalSeconds / Calls;

    /// <summary>Achieved GFLOP/s, or null for ops whose FLOPs are not counted.</summary>
    public double? Gflops => Flops > 0 && TotalSeconds > 0 ? Flops / TotalSeconds / 1e9 : null;

    /// <summary>Achieved GB/s of the tensors read and written, or null where not counted.</summary>
    public double? GigabytesPerSecond => Bytes > 0 && TotalSeconds > 0 ? Bytes / TotalSeconds / 1e9 : null;
}

/// <summary>A timed region (<see cref="OpProfiler.Scope"/>): ends on dispose; the default value times nothing.</summary>
public readonly struct ProfileScope : IDisposable
{
    private readonly OpProfiler? profiler;
    private readonly string name;
    private readonly OpProfiler.Mark start;

    internal ProfileScope(OpProfiler profiler, string name, OpProfiler.Mark start)
    {
        this.profiler = profiler;
        this.name = name;
        this.start = start;
    }

    public void Dispose() => profiler?.Stop(start, name, 0, 0);
}
