using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using Gpu.Kernels;

namespace Gpu.Runtime.Host;

/// <summary>
/// The host fast path of the layers beyond the MLP: activations, dropout and pooling, on the CPU
/// accelerator's memory (convolutions: <see cref="HostConvolution"/>). The maths is the kernels'
/// (Gpu.Kernels): activations and random bits call the very structs and functions the kernels call.
/// </summary>
internal static unsafe class HostLayers
{
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Activation<TActivation>(TActivation f, ReadOnlySpan<float> x, Span<float> y)
        where TActivation : unmanaged, IActivation
    {
        for (int i = 0; i < x.Length; i++)
            y[i] = f.Forward(x[i]);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void ActivationBackward<TActivation>(TActivation f, ReadOnlySpan<float> x, ReadOnlySpan<float> y, ReadOnlySpan<float> dy, Span<float> dx)
        where TActivation : unmanaged, IActivation
    {
        for (int i = 0; i < x.Length; i++)
            dx[i] = f.Backward(x[i], y[i], dy[i]);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Multiply(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> y)
    {
        for (int i = 0; i < a.Length; i++)
            y[i] = a[i] * b[i];
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void DropoutMask(Span<float> mask, ulong seed, long step, long offset, int threshold, float scale)
    {
        for (int i = 0; i < mask.Length; i++)
            mask[i] = RandomKernels.Bits24(seed, step, offset + i) >= (uint)threshold ? scale : 0f;
    }

    // Pools with at least this many outputs split their planes over the cores (a predict batch of
    // 4,096 digits pools 262,144 planes).
    private const long ParallelPoolOutputs = 1 << 16;

    public static void MaxPool(float* x, float* y, int* indices, PoolShape s)
    {
        int planes = s.Batch * s.Channels;
        long outputs = (long)planes * s.OutHeight * s.OutWidth;
        var job = new MaxPoolJob(x, y, indices, s);
        if (outputs >= ParallelPoolOutputs && HostThreads.Count > 1 && planes > 1)
            Parallel.For(0, Math.Min(planes, 4 * HostThreads.Count), HostThreads.Options, job.Chunk);
        else
            job.Planes(0, planes);
    }

    // Each output is its window's alone, so any split of the planes gives the same results.
    private readonly struct MaxPoolJob(float* x, float* y, int* indices, PoolShape s)
    {
        private readonly float* x = x, y = y;
        private readonly int* indices = indices;
        private readonly PoolShape s = s;

        public void Chunk(int chunk)
        {
            int planes = s.Batch * s.Channels, chunks = Math.Min(planes, 4 * HostThreads.Count);
            Planes((int)((long)chunk * planes / chunks), (int)((long)(chunk + 1) * planes / chunks));
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Planes(int firstPlane, int endPlane)
        {
            if (s.KernelSize == 2 && s.Stride == 2)
            {
                Planes2x2(firstPlane, endPlane);
                return;
            }

            for (int plane = firstPlane; plane < endPlane; plane++)
            {
                for (int oh = 0; oh < s.OutHeight; oh++)
                {
                    for (int ow = 0; ow < s.OutWidth; ow++)
                    {
                        int top = oh * s.Stride, left = ow * s.Stride;
                        int first = (plane * s.Height + top) * s.Width + left;
                        var best = Vector128.CreateScalarUnsafe(first);
                        var max = Vector128.CreateScalarUnsafe(x[first]);
                        for (int ki = 0; ki < s.KernelSize; ki++)
                        {
                            int row = (plane * s.Height + top + ki) * s.Width + left;
                            for (int kj = 0; kj < s.KernelSize; kj++)
                                Consider(x, row + kj, ref max, ref best);
                        }

                        int o = (plane * s.OutHeight + oh) * s.OutWidth + ow;
                        y[o] = max.ToScalar();
                        indices[o] = best.ToScalar();
                    }
                }
            }
        }

        // The common 2x2, stride-2 window, unrolled: the same comparisons in the same order as the general loop.
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private void Planes2x2(int firstPlane, int endPlane)
        {
            int width = s.Width;
            int o = firstPlane * s.OutHeight * s.OutWidth;
            for (int plane = firstPlane; plane < endPlane; plane++)
            {
                int planeStart = plane * s.Height * width;
                for (int oh = 0; oh < s.OutHeight; oh++)
                {
                    int top = planeStart + 2 * oh * width;
                    for (int ow = 0; ow < s.OutWidth; ow++, o++)
                    {
                        int a = top + 2 * ow;
                        var best = Vector128.CreateScalarUnsafe(a);
                        var max = Vector128.CreateScalarUnsafe(x[a]);
                        Consider(x, a + 1, ref max, ref best);
                        Consider(x, a + width, ref max, ref best);
                        Consider(x, a + width + 1, ref max, ref best);
                        y[o] = max.ToScalar();
                        indices[o] = best.ToScalar();
                    }
                }
            }
        }
    }

    // Without branches: on real activations whether the next value wins is a coin toss, and with an
    // if (or a ternary, which the JIT still compiled to jumps) a 2x2 pool of 10M floats took 51 ms,
    // 31 ns an output, more than the convolution before it. Here the value and its index ride in
    // lane 0 of a vector and a comparison mask selects them.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Consider(float* x, int at, ref Vector128<float> max, ref Vector128<int> best)
    {
        var v = Vector128.CreateScalarUnsafe(x[at]);
        var take = Vector128.GreaterThan(v, max) | ~Vector128.Equals(v, v); // v > max, or v is NaN (as PoolingKernels)
        max = Vector128.ConditionalSelect(take, v, max);
        best = Vector128.ConditionalSelect(take.AsInt32(), Vector128.CreateScalarUnsafe(at), best);
    }

    /// <summary>Routes each output gradient to its window's maximum, outputs in increasing order.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void MaxPoolBackward(float* dy, int* indices, float* dx, PoolShape s, int inputLength, int outputLength)
    {
        new Span<float>(dx, inputLength).Clear();
        for (int o = 0; o < outputLength; o++)
            dx[indices[o]] += dy[o];
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void AvgPool(float* x, float* y, PoolShape s)
    {
        float inverse = 1f / (s.KernelSize * s.KernelSize);
        int planes = s.Batch * s.Channels;
        for (int plane = 0; plane < planes; plane++)
        {
            for (int oh = 0; oh < s.OutHeight; oh++)
            {
                for (int ow = 0; ow < s.OutWidth; ow++)
                {
                    float sum = 0f;
                    for (int ki = 0; ki < s.KernelSize; ki++)
                    {
                        float* row = x + (plane * s.Height + oh * s.Stride + ki) * s.Width + ow * s.Stride;
                        for (int kj = 0; kj < s.KernelSize; kj++)
                            sum += row[kj];
                    }

                    y[(plane * s.OutHeight + oh) * s.OutWidth + ow] = sum * inverse;
                }
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void AvgPoolBackward(float* dy, float* dx, PoolShape s, int inputLength)
    {
        float inverse = 1f / (s.KernelSize * s.KernelSize);
        new Span<float>(dx, inputLength).Clear();
        int planes = s.Batch * s.Channels;
        for (int plane = 0; plane < planes; plane++)
        {
            for (int oh = 0; oh < s.OutHeight; oh++)
            {
                for (int ow = 0; ow < s.OutWidth; ow++)
                {
                    float g = dy[(plane * s.OutHeight + oh) * s.OutWidth + ow] * inverse;
                    for (int ki = 0; ki < s.KernelSize; ki++)
                    {
                        float* row = dx + (plane * s.Height + oh * s.Stride + ki) * s.Width + ow * s.Stride;
                        for (int kj = 0; kj < s.KernelSize; kj++)
                            row[kj] += g;
                    }
                }
            }
        }
    }
}
