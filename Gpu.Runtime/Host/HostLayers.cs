using System.Runtime.CompilerServices;
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

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void MaxPool(float* x, float* y, int* indices, PoolShape s)
    {
        if (s.KernelSize == 2 && s.Stride == 2)
        {
            MaxPool2x2(x, y, indices, s);
            return;
        }

        int planes = s.Batch * s.Channels;
        for (int plane = 0; plane < planes; plane++)
        {
            for (int oh = 0; oh < s.OutHeight; oh++)
            {
                for (int ow = 0; ow < s.OutWidth; ow++)
                {
                    int top = oh * s.Stride, left = ow * s.Stride;
                    int best = (plane * s.Height + top) * s.Width + left;
                    float max = x[best];
                    for (int ki = 0; ki < s.KernelSize; ki++)
                    {
                        int row = (plane * s.Height + top + ki) * s.Width + left;
                        for (int kj = 0; kj < s.KernelSize; kj++)
                        {
                            float v = x[row + kj];
                            if (v > max || (float.IsNaN(v) && !float.IsNaN(max)))
                            {
                                max = v;
                                best = row + kj;
                            }
                        }
                    }

                    int o = (plane * s.OutHeight + oh) * s.OutWidth + ow;
                    y[o] = max;
                    indices[o] = best;
                }
            }
        }
    }

    // The common 2x2, stride-2 window, unrolled: the same comparisons in the same order as the general loop.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void MaxPool2x2(float* x, float* y, int* indices, PoolShape s)
    {
        int planes = s.Batch * s.Channels, width = s.Width;
        int o = 0;
        for (int plane = 0; plane < planes; plane++)
        {
            int planeStart = plane * s.Height * width;
            for (int oh = 0; oh < s.OutHeight; oh++)
            {
                int top = planeStart + 2 * oh * width;
                for (int ow = 0; ow < s.OutWidth; ow++, o++)
                {
                    int a = top + 2 * ow;
                    int best = a;
                    float max = x[a];
                    Consider(x, a + 1, ref max, ref best);
                    Consider(x, a + width, ref max, ref best);
                    Consider(x, a + width + 1, ref max, ref best);
                    y[o] = max;
                    indices[o] = best;
                }
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Consider(float* x, int at, ref float max, ref int best)
    {
        float v = x[at];
        if (v > max || (float.IsNaN(v) && !float.IsNaN(max)))
        {
            max = v;
            best = at;
        }
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
