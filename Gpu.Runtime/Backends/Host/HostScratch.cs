using System.Runtime.InteropServices;

namespace Gpu.Runtime.Backends.Host;

/// <summary>
/// Scratch memory for the host kernels (packed GEMM operands, a convolution's padded input and
/// products): native, so the GC never moves it and it needs no pinning, and starting on a 64-byte
/// boundary, a cache line and one AVX-512 vector. Managed arrays start 16 bytes past one, so every
/// 64-byte load or store from them touched two lines: aligning the GEMM's packed B alone made
/// 256³ products 2-5% faster. Kept by its owner (a thread's static field, a backend) and grown as
/// needed; freed when grown, disposed or collected.
/// </summary>
internal sealed unsafe class HostScratch : IDisposable
{
    private const int Alignment = 64;

    private HostScratch(long floats)
    {
        Floats = Math.Max(floats, 1);
        Start = (float*)NativeMemory.AlignedAlloc(checked((nuint)(Floats * sizeof(float))), Alignment);
    }

    ~HostScratch() => Free();

    /// <summary>The first float, on a 64-byte boundary.</summary>
    public float* Start { get; private set; }

    public long Floats { get; }

    /// <summary>
    /// At least <paramref name="floats"/> floats: the kept scratch, replaced by one twice its size
    /// (at least) when too small; past <paramref name="maxKept"/> a temporary one instead, which
    /// <see cref="Return"/> frees. Growing frees the old memory: pointers into it end there.
    /// </summary>
    public static HostScratch Rent(ref HostScratch? kept, long floats, long maxKept = long.MaxValue)
    {
        if (floats > maxKept)
            return new HostScratch(floats);
        if (kept is null || kept.Floats < floats)
        {
            long size = Math.Min(maxKept, Math.Max(floats, 2 * (kept?.Floats ?? 0)));
            kept?.Dispose();
            kept = new HostScratch(size);
        }

        return kept;
    }

    /// <summary>The start of at least <paramref name="floats"/> kept floats (<see cref="Rent"/>).</summary>
    public static float* Get(ref HostScratch? kept, long floats) => Rent(ref kept, floats).Start;

    /// <summary>Frees <paramref name="scratch"/> unless it is the kept one.</summary>
    public static void Return(HostScratch? kept, HostScratch scratch)
    {
        if (!ReferenceEquals(kept, scratch))
            scratch.Dispose();
    }

    public void Dispose()
    {
        Free();
        GC.SuppressFinalize(this);
    }

    private void Free()
    {
        NativeMemory.AlignedFree(Start);
        Start = null;
    }
}
