using System.Runtime.CompilerServices;
using Gpu.Kernels;

namespace Gpu.Runtime.Host;

/// <summary>
/// The host fast path of the layers beyond the MLP: activations, dropout, convolution patches and
/// pooling, on the CPU accelerator's memory. The maths is the kernels' (Gpu.Kernels): activations and
/// random bits call the very structs and functions the kernels call. Large ops split over cores
/// by image, and every output is computed by one thread in a fixed order, so results do not depend
/// on the number of cores.
/// </summary>
internal static unsafe class HostLayers
{
    // Below this many elements an op runs on the calling thread: a Parallel.For costs a few µs.
    private const int ParallelElements = 1 << 15;

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

    /// <summary>The patch matrix (Batch * P, K) of <see cref="ConvolutionKernels.Patches"/>, row by row.</summary>
    public static void Patches(float* x, float* patches, ConvShape s)
    {
        int rows = s.Batch * s.Positions;
        var job = new ConvJob(x, patches, s);
        if ((long)rows * s.PatchLength >= ParallelElements && s.Batch > 1)
            Parallel.For(0, s.Batch, job.PatchesOfImage);
        else
            for (int b = 0; b < s.Batch; b++)
                job.PatchesOfImage(b);
    }

    /// <summary>
    /// dx from the patch gradient: each image's entries are added back in row order (one thread per
    /// image, so the order is fixed). A scatter here is cache-friendly; the kernel gathers instead.
    /// </summary>
    public static void PatchesBackward(float* dpatches, float* dx, ConvShape s)
    {
        var job = new ConvJob(dx, dpatches, s);
        if ((long)s.Batch * s.Positions * s.PatchLength >= ParallelElements && s.Batch > 1)
            Parallel.For(0, s.Batch, job.ScatterImage);
        else
            for (int b = 0; b < s.Batch; b++)
                job.ScatterImage(b);
    }

    /// <summary><c>y[b, j, i] = x[b, i, j]</c> for each of <paramref name="batch"/> (rows, columns) matrices.</summary>
    public static void BatchedTranspose(float* x, float* y, int batch, int rows, int columns)
    {
        var job = new TransposeJob(x, y, rows, columns);
        if ((long)batch * rows * columns >= ParallelElements && batch > 1)
            Parallel.For(0, batch, job.Matrix);
        else
            for (int b = 0; b < batch; b++)
                job.Matrix(b);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void MaxPool(float* x, float* y, int* indices, PoolShape s)
    {
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

    // Per-image work of the convolution ops; a struct of pointers so Parallel.For can take a method.
    private readonly struct ConvJob(float* image, float* patches, ConvShape s)
    {
        private readonly float* image = image, patches = patches;
        private readonly ConvShape s = s;

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void PatchesOfImage(int b)
        {
            int k = s.KernelSize, patch = s.PatchLength;
            float* row = patches + (long)b * s.Positions * patch;
            for (int oh = 0; oh < s.OutHeight; oh++)
            {
                for (int ow = 0; ow < s.OutWidth; ow++, row += patch)
                {
                    float* target = row;
                    int left = ow * s.Stride - s.Padding;
                    for (int c = 0; c < s.Channels; c++)
                    {
                        float* plane = image + ((long)b * s.Channels + c) * s.Height * s.Width;
                        for (int ki = 0; ki < k; ki++, target += k)
                        {
                            int ih = oh * s.Stride - s.Padding + ki;
                            if (ih < 0 || ih >= s.Height)
                            {
                                new Span<float>(target, k).Clear();
                                continue;
                            }

                            float* source = plane + ih * s.Width;
                            if (left >= 0 && left + k <= s.Width)
                            {
                                for (int kj = 0; kj < k; kj++)
                                    target[kj] = source[left + kj];
                            }
                            else
                            {
                                for (int kj = 0; kj < k; kj++)
                                {
                                    int iw = left + kj;
                                    target[kj] = iw >= 0 && iw < s.Width ? source[iw] : 0f;
                                }
                            }
                        }
                    }
                }
            }
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void ScatterImage(int b)
        {
            int k = s.KernelSize, patch = s.PatchLength;
            float* dx = image + (long)b * s.Channels * s.Height * s.Width;
            new Span<float>(dx, s.Channels * s.Height * s.Width).Clear();
            float* row = patches + (long)b * s.Positions * patch;
            for (int oh = 0; oh < s.OutHeight; oh++)
            {
                for (int ow = 0; ow < s.OutWidth; ow++, row += patch)
                {
                    float* source = row;
                    int left = ow * s.Stride - s.Padding;
                    for (int c = 0; c < s.Channels; c++)
                    {
                        float* plane = dx + (long)c * s.Height * s.Width;
                        for (int ki = 0; ki < k; ki++, source += k)
                        {
                            int ih = oh * s.Stride - s.Padding + ki;
                            if (ih < 0 || ih >= s.Height)
                                continue;
                            float* target = plane + ih * s.Width;
                            for (int kj = 0; kj < k; kj++)
                            {
                                int iw = left + kj;
                                if (iw >= 0 && iw < s.Width)
                                    target[iw] += source[kj];
                            }
                        }
                    }
                }
            }
        }
    }

    private readonly struct TransposeJob(float* x, float* y, int rows, int columns)
    {
        private const int Block = 32;
        private readonly float* x = x, y = y;
        private readonly int rows = rows, columns = columns;

        // 32 x 32 blocks keep both the rows read and the columns written in cache.
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Matrix(int b)
        {
            float* source = x + (long)b * rows * columns;
            float* target = y + (long)b * rows * columns;
            for (int i0 = 0; i0 < rows; i0 += Block)
            {
                int i1 = Math.Min(rows, i0 + Block);
                for (int j0 = 0; j0 < columns; j0 += Block)
                {
                    int j1 = Math.Min(columns, j0 + Block);
                    for (int i = i0; i < i1; i++)
                    {
                        for (int j = j0; j < j1; j++)
                            target[(long)j * rows + i] = source[(long)i * columns + j];
                    }
                }
            }
        }
    }
}
