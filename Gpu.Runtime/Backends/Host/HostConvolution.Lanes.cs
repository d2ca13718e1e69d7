using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Gpu.Kernels;

namespace Gpu.Runtime.Backends.Host;

/// <summary>
/// The forward convolution with output positions on the vector lanes, for short patches (a
/// first layer: 1 or 3 input channels): 16 positions of an image are gathered from its padded
/// input for each patch value, one 512-bit vector per value, and each output channel is one
/// accumulator (the narrow GEMM kernel's loop, <see cref="HostMatMul.AccumulateNarrow"/>). Its
/// 16 sums are 16 consecutive outputs of one NCHW plane, so they are stored as they are: the
/// product with channels on the lanes came out (positions, channels) and was transposed, which
/// with 9 or 27 multiply-adds per output cost more than the arithmetic. Each output is the same
/// sum over the patch in order, plus the bias, as the product gives: the bits are the same. A
/// following ReLU is applied before the store.
/// </summary>
internal static unsafe partial class HostConvolution
{
    // Patches up to this long take this path: a 3 x 3 kernel over 1 or 3 channels (9 or 27), a
    // 5 x 5 over one (25). That is within one of the product's 128-deep slices of K, so the sum
    // plus the bias has its bits. Measured forward in one process on two cores: 1 -> 16 at 8 x 8
    // 0.54x the product's time, 3 -> 32 at 32 x 32 0.80x; with longer patches slower (16 -> 32 at
    // 4 x 4, K = 144: 1.63x; 32 -> 64 at 16 x 16, K = 288: 1.43x), where the product's blocks
    // reuse each load of the patch for more outputs than the 16 lanes do.
    private const int LanesMaxPatch = 32;
    // Positions on the lanes and channels a pass keeps in accumulators: the narrow kernel's rows and columns.
    private const int LanePositions = HostMatMul.NarrowRows;
    private const int LaneChannels = HostMatMul.NarrowColumns;

    /// <summary>Whether the forward convolution runs with positions on the lanes (AVX-512, a short patch).</summary>
    internal static bool ForwardOnLanes(ConvShape s) =>
        ForwardOnLanesEnabled && Vector512.IsHardwareAccelerated && Avx2.IsSupported && s.PatchLength <= LanesMaxPatch;

    // Tests turn it off to compare the two paths bit for bit.
    internal static bool ForwardOnLanesEnabled = true;

    [ThreadStatic]
    private static HostScratch? laneWeights;

    /// <summary>
    /// y of a group's images from their padded inputs (<paramref name="padded"/>, one padded image
    /// after another, <paramref name="paddedLength"/> floats each).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void ForwardGroupOnLanes(float* padded, long paddedLength, int images, int* positionOffsets, int* patchOffsets, float* w, float* bias, float* y, ConvShape s, int outChannels, bool relu)
    {
        int k = s.PatchLength, positions = s.Positions;
        int pitch = HostMatMul.NarrowPitch(outChannels);
        // W^T (K, pitch), zero past the last channel: B[k, o] = w[o, k].
        float* weights = HostScratch.Get(ref laneWeights, (long)k * pitch);
        HostMatMul.PackNarrowB(w, 1, k, k, outChannels, pitch, weights);

        float* storage = stackalloc float[LanesMaxPatch * LanePositions + LaneChannels * LanePositions + 16];
        float* columns = (float*)(((nint)storage + 63) & ~(nint)63);
        float* sums = columns + LanesMaxPatch * LanePositions;
        int* tail = stackalloc int[LanePositions];
        bool rowRuns = s.Stride == 1 && s.OutWidth % 8 == 0;
        for (int image = 0; image < images; image++)
        {
            float* input = padded + image * paddedLength;
            float* output = y + (long)image * outChannels * positions;
            for (int p0 = 0; p0 < positions; p0 += LanePositions)
            {
                int count = Math.Min(LanePositions, positions - p0);
                // The lanes past the image's last position read its first position again.
                int* lanes = positionOffsets + p0;
                if (count < LanePositions)
                {
                    for (int i = 0; i < LanePositions; i++)
                        tail[i] = i < count ? positionOffsets[p0 + i] : positionOffsets[0];
                    lanes = tail;
                }

                GatherColumns(input, lanes, patchOffsets, k, rowRuns && count == LanePositions, columns);
                for (int o0 = 0; o0 < outChannels; o0 += LaneChannels)
                {
                    HostMatMul.AccumulateNarrow(columns, weights + o0, pitch, k, sums);
                    int channels = Math.Min(LaneChannels, outChannels - o0);
                    for (int o = 0; o < channels; o++)
                    {
                        var value = Vector512.Load(sums + o * LanePositions);
                        if (bias != null)
                            value += Vector512.Create(bias[o0 + o]);
                        // A following ReLU with HostOps.Relu's rule (v <= 0 is false for NaN, which stays).
                        if (relu)
                            value = Vector512.ConditionalSelect(Vector512.LessThanOrEqual(value, Vector512<float>.Zero), Vector512<float>.Zero, value);
                        float* target = output + (long)(o0 + o) * positions + p0;
                        if (count == LanePositions)
                        {
                            value.Store(target);
                            continue;
                        }

                        for (int i = 0; i < count; i++)
                            target[i] = value.GetElement(i);
                    }
                }
            }
        }
    }

    // columns[kk * 16 + i] = input[lanes[i] + patchOffsets[kk]]: with stride 1 and rows of a
    // multiple of 8 positions each half of a whole block is 8 consecutive floats of a padded row
    // (gathering them took 1.4x as long at 1 -> 16); otherwise two 8-lane gathers.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void GatherColumns(float* input, int* lanes, int* patchOffsets, int depth, bool rowRuns, float* columns)
    {
        if (rowRuns)
        {
            float* low = input + lanes[0], high = input + lanes[8];
            for (int kk = 0; kk < depth; kk++)
                Vector512.Create(Vector256.Load(low + patchOffsets[kk]), Vector256.Load(high + patchOffsets[kk])).Store(columns + kk * LanePositions);
            return;
        }

        var lowLanes = Vector256.Load(lanes);
        var highLanes = Vector256.Load(lanes + 8);
        for (int kk = 0; kk < depth; kk++)
        {
            float* source = input + patchOffsets[kk];
            Vector512.Create(Avx2.GatherVector256(source, lowLanes, 4), Avx2.GatherVector256(source, highLanes, 4)).Store(columns + kk * LanePositions);
        }
    }
}
