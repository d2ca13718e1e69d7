using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Gpu.Kernels;

namespace Gpu.Runtime.Host;

/// <summary>
/// Conv2d on the host, one image at a time (the im2col method in its column form, as Caffe runs it
/// on CPUs): for image b, the (K, P) column matrix of its patches (K = C k k, P = OH OW) is built in
/// a buffer that stays in cache, and
/// <code>
///   forward:   y_b (out, P)  = W (out, K) col_b (K, P) + bias        (NCHW directly: no transpose)
///   backward:  dW += dy_b col_b^T    db += row sums of dy_b    dcol = W^T dy_b    dx_b = col2im(dcol)
/// </code>
/// Images run in parallel, each product on one thread. Weight and bias gradients are summed per
/// chunk of <see cref="ChunkImages"/> images and the chunks are added in order, so results do not
/// depend on the number of cores. On a GPU the kernel backend instead builds one patch matrix for
/// the whole batch and makes one large product (docs/kernels.md).
/// </summary>
internal static unsafe class HostConvolution
{
    /// <summary>Images whose weight gradients are summed together before the chunks are added in order.</summary>
    public const int ChunkImages = 8;

    [ThreadStatic]
    private static float[]? columns;

    [ThreadStatic]
    private static float[]? gradColumns;

    /// <summary>y (B, out, OH, OW) = conv(x (B, C, H, W), w (out, C, k, k)) + bias.</summary>
    public static void Forward(float* x, float* w, float* bias, float* y, ConvShape s, int outChannels)
    {
        var job = new Job(x, w, bias, y, null, null, null, null, s, outChannels);
        if (Parallelise(s, outChannels))
            Parallel.For(0, s.Batch, job.ForwardImage);
        else
            for (int b = 0; b < s.Batch; b++)
                job.ForwardImage(b);
    }

    /// <summary>
    /// Accumulates dW into <paramref name="dw"/> and db into <paramref name="db"/> (when not null),
    /// and overwrites dx (when not null). <paramref name="partials"/> holds (chunks, out K + out) floats.
    /// </summary>
    public static void Backward(float* x, float* w, float* dy, float* dw, float* db, float* dx, ConvShape s, int outChannels, float[] partials)
    {
        int chunks = Chunks(s.Batch);
        int stride = PartialLength(s, outChannels);
        fixed (float* partial = partials)
        {
            var job = new Job(x, w, null, dy, dw, db, dx, partial, s, outChannels);
            if (Parallelise(s, outChannels) && chunks > 1)
                Parallel.For(0, chunks, job.BackwardChunk);
            else
                for (int chunk = 0; chunk < chunks; chunk++)
                    job.BackwardChunk(chunk);

            // The chunks' sums, added in chunk order.
            int weights = outChannels * s.PatchLength;
            for (int chunk = 0; chunk < chunks; chunk++)
            {
                float* p = partial + (long)chunk * stride;
                Add(new ReadOnlySpan<float>(p, weights), new Span<float>(dw, weights));
                if (db is not null)
                    Add(new ReadOnlySpan<float>(p + weights, outChannels), new Span<float>(db, outChannels));
            }
        }
    }

    public static int Chunks(int batch) => (batch + ChunkImages - 1) / ChunkImages;

    /// <summary>Floats of one chunk's partial sums: dW (out, K) then db (out).</summary>
    public static int PartialLength(ConvShape s, int outChannels) => outChannels * s.PatchLength + outChannels;

    // Below about a million multiply-adds the hand-off to other cores costs more than it saves.
    private static bool Parallelise(ConvShape s, int outChannels) =>
        s.Batch > 1 && (long)s.Batch * outChannels * s.PatchLength * s.Positions >= 1 << 20;

    private static float[] Scratch(ref float[]? buffer, int length)
    {
        if (buffer is null || buffer.Length < length)
            buffer = GC.AllocateUninitializedArray<float>(length);
        return buffer;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Add(ReadOnlySpan<float> source, Span<float> target)
    {
        int i = 0, width = Vector<float>.Count;
        ref float s0 = ref MemoryMarshal.GetReference(source);
        ref float t0 = ref MemoryMarshal.GetReference(target);
        for (; i + width <= source.Length; i += width)
            (Vector.LoadUnsafe(ref t0, (nuint)i) + Vector.LoadUnsafe(ref s0, (nuint)i)).StoreUnsafe(ref t0, (nuint)i);
        for (; i < source.Length; i++)
            target[i] += source[i];
    }

    /// <summary>
    /// The column matrix of one image: row (c, ki, kj) holds, for every output position, the input
    /// value under kernel element (ki, kj) of channel c (0 in the padding).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Im2Col(float* image, float* col, ConvShape s)
    {
        int k = s.KernelSize, outW = s.OutWidth;
        for (int c = 0; c < s.Channels; c++)
        {
            float* plane = image + (long)c * s.Height * s.Width;
            for (int ki = 0; ki < k; ki++)
            {
                for (int kj = 0; kj < k; kj++, col += s.Positions)
                {
                    // Output columns whose input column lies inside the image: ow in [first, last).
                    var (first, last) = ValidRange(kj, s.Padding, s.Stride, s.Width, outW);
                    for (int oh = 0; oh < s.OutHeight; oh++)
                    {
                        float* target = col + oh * outW;
                        int ih = oh * s.Stride - s.Padding + ki;
                        if (ih < 0 || ih >= s.Height || first >= last)
                        {
                            new Span<float>(target, outW).Clear();
                            continue;
                        }

                        float* source = plane + ih * s.Width - s.Padding + kj;
                        new Span<float>(target, first).Clear();
                        if (s.Stride == 1)
                        {
                            new ReadOnlySpan<float>(source + first, last - first).CopyTo(new Span<float>(target + first, last - first));
                        }
                        else
                        {
                            for (int ow = first; ow < last; ow++)
                                target[ow] = source[ow * s.Stride];
                        }

                        new Span<float>(target + last, outW - last).Clear();
                    }
                }
            }
        }
    }

    /// <summary>Adds each column-matrix entry back to the input element it was read from (dx must start at 0).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Col2Im(float* col, float* image, ConvShape s)
    {
        int k = s.KernelSize, outW = s.OutWidth;
        for (int c = 0; c < s.Channels; c++)
        {
            float* plane = image + (long)c * s.Height * s.Width;
            for (int ki = 0; ki < k; ki++)
            {
                for (int kj = 0; kj < k; kj++, col += s.Positions)
                {
                    var (first, last) = ValidRange(kj, s.Padding, s.Stride, s.Width, outW);
                    if (first >= last)
                        continue;
                    for (int oh = 0; oh < s.OutHeight; oh++)
                    {
                        int ih = oh * s.Stride - s.Padding + ki;
                        if (ih < 0 || ih >= s.Height)
                            continue;
                        float* source = col + oh * outW;
                        float* target = plane + ih * s.Width - s.Padding + kj;
                        if (s.Stride == 1)
                        {
                            Add(new ReadOnlySpan<float>(source + first, last - first), new Span<float>(target + first, last - first));
                        }
                        else
                        {
                            for (int ow = first; ow < last; ow++)
                                target[ow * s.Stride] += source[ow];
                        }
                    }
                }
            }
        }
    }

    // The output columns ow with 0 <= ow * stride - padding + kj < width.
    private static (int First, int Last) ValidRange(int kj, int padding, int stride, int width, int outWidth)
    {
        int offset = kj - padding;
        int first = offset >= 0 ? 0 : (-offset + stride - 1) / stride;
        int last = width - offset <= 0 ? 0 : Math.Min(outWidth, (width - offset + stride - 1) / stride);
        return (Math.Min(first, outWidth), Math.Max(Math.Min(first, outWidth), last));
    }

    private readonly struct Job(float* x, float* w, float* bias, float* y, float* dw, float* db, float* dx, float* partials, ConvShape s, int outChannels)
    {
        private readonly float* x = x, w = w, bias = bias, y = y, dw = dw, db = db, dx = dx, partials = partials;
        private readonly ConvShape s = s;
        private readonly int outChannels = outChannels;

        private long ImageLength => (long)s.Channels * s.Height * s.Width;

        private long OutputLength => (long)outChannels * s.Positions;

        public void ForwardImage(int b)
        {
            int k = s.PatchLength, p = s.Positions;
            var col = Scratch(ref columns, k * p);
            fixed (float* c = col)
            {
                Im2Col(x + b * ImageLength, c, s);
                float* target = y + b * OutputLength;
                if (bias is not null)
                {
                    for (int o = 0; o < outChannels; o++)
                        new Span<float>(target + (long)o * p, p).Fill(bias[o]);
                }

                // (out, K) x (K, P), added to the bias rows.
                HostMatMul.Run(w, c, target, null, MatMulShape.Create(outChannels, p, k, false, false, false, bias is not null), mayParallelise: false);
            }
        }

        public void BackwardChunk(int chunk)
        {
            int k = s.PatchLength, p = s.Positions, weights = outChannels * k;
            float* partial = partials + (long)chunk * (weights + outChannels);
            new Span<float>(partial, weights + outChannels).Clear();
            var col = Scratch(ref columns, k * p);
            var dcol = dx is null ? null : Scratch(ref gradColumns, k * p);
            fixed (float* c = col, dc = dcol)
            {
                int end = Math.Min(s.Batch, (chunk + 1) * ChunkImages);
                for (int b = chunk * ChunkImages; b < end; b++)
                {
                    float* gradOutput = y + b * OutputLength; // y holds dy here
                    Im2Col(x + b * ImageLength, c, s);
                    // dW (out, K) += dy_b (out, P) col^T: col (K, P) is B stored (N, K), the NT form.
                    HostMatMul.Run(gradOutput, c, partial, null, MatMulShape.Create(outChannels, k, p, false, true, false, true), mayParallelise: false);
                    if (db is not null)
                    {
                        for (int o = 0; o < outChannels; o++)
                            partial[weights + o] += Sum(gradOutput + (long)o * p, p);
                    }

                    if (dx is not null)
                    {
                        // dcol (K, P) = W^T (K, out) dy_b (out, P): W stored (out, K) is A transposed, the TN form.
                        HostMatMul.Run(w, gradOutput, dc, null, MatMulShape.Create(k, p, outChannels, true, false, false, false), mayParallelise: false);
                        float* image = dx + b * ImageLength;
                        new Span<float>(image, (int)ImageLength).Clear();
                        Col2Im(dc, image, s);
                    }
                }
            }
        }

        private static float Sum(float* values, int count)
        {
            var span = new ReadOnlySpan<float>(values, count);
            var acc = Vector<float>.Zero;
            int i = 0, width = Vector<float>.Count;
            for (; i + width <= count; i += width)
                acc += new Vector<float>(span.Slice(i, width));
            float sum = Vector.Sum(acc);
            for (; i < count; i++)
                sum += span[i];
            return sum;
        }
    }
}
