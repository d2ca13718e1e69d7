using ILGPU;

namespace Gpu.Kernels;

/// <summary>
/// Counter-based random numbers for dropout: the value for (seed, step, index) is a pure function
/// of the three (SplitMix64's finaliser over a Weyl-sequence key), so any device, any number of
/// threads and any split of a batch across processes draws exactly the same mask, and a resumed run
/// draws what the uninterrupted one would have. The maths is written out in
/// Gpu.Tests/Fixtures/make_layer_fixtures.py too, which applies the same masks in PyTorch.
/// </summary>
public static class RandomKernels
{
    /// <summary>24 uniformly distributed random bits for (seed, step, index).</summary>
    public static uint Bits24(ulong seed, long step, long index)
    {
        ulong z = seed + (ulong)step * 0x9E3779B97F4A7C15UL + (ulong)index * 0xD1B54A32D192ED03UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        z ^= z >> 31;
        return (uint)(z >> 40);
    }

    /// <summary>
    /// Inverted dropout's multiplier for element <c>offset + i</c>: <c>scale = 1 / (1 - p)</c> when
    /// it is kept (its 24 random bits are at least <c>threshold = round(p 2^24)</c>), else 0.
    /// </summary>
    [Kernel]
    public static void DropoutMask(
        Index1D index, ArrayView<float> mask, ulong seed, long step, long offset, int threshold, float scale, int n, int stride)
    {
        for (int i = index; i < n; i += stride)
            mask[i] = Bits24(seed, step, offset + i) >= (uint)threshold ? scale : 0f;
    }
}
