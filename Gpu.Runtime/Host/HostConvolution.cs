using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Gpu.Kernels;

namespace Gpu.Runtime.Host;

/// <summary>
/// Conv2d on the host, a group of images at a time (the im2col method in its column form, as Caffe
/// runs it on CPUs): for a group of G images, the (K, G P) column matrix of their patches
/// (K = C k k, P = OH OW) is built in a buffer that stays in cache, and
/// <code>
///   forward:   Y (out, G P)  = W (out, K) col (K, G P);   y_b[o, :] = Y[o, b P ..] + bias[o]
///   backward:  dY from dy_b;  dW += (col dY^T)^T;  db += row sums of dY;  dcol = W^T dY;  dx_b = col2im(dcol)
/// </code>
/// G is chosen from the image size and the batch alone (<see cref="GroupImages"/>: about 1,024
/// output positions per product, and at least four groups where the batch has the images), so
/// large images make one product each and small ones share it: the per-call cost of a product
/// would otherwise dominate 8x8 digits. Groups run in parallel, each product on one
/// thread; weight and bias gradients are summed per group and the groups are added in order, so
/// results do not depend on the number of cores. On a GPU the kernel backend instead builds one
/// patch matrix for the whole batch and makes one large product (docs/kernels.md).
/// </summary>
internal static unsafe class HostConvolution
{
    // Output positions a group's product aims for: wide enough for the GEMM's panels.
    private const int GroupPositions = 1024;

    // Groups a batch is cut into at least, where it has the images: a batch of 32 8x8 digits in one
    // group of 32 ran its second convolution on one core (0.78 ms forward and backward; in four
    // groups 0.44 ms on two cores). Never the core count: the groups decide the order in which dW
    // is summed, and the bits must not depend on the machine.
    private const int MinimumGroups = 4;

    /// <summary>Images per group: about 1,024 output positions, at most 64 images, at most a quarter of the batch.</summary>
    public static int GroupImages(ConvShape s)
    {
        int cap = Math.Clamp((s.Batch + MinimumGroups - 1) / MinimumGroups, 1, 64);
        return Math.Clamp(GroupPositions / Math.Max(s.Positions, 1), 1, cap);
    }

    [ThreadStatic]
    private static float[]? columns;

    [ThreadStatic]
    private static float[]? gradColumns;

    [ThreadStatic]
    private static float[]? products;

    [ThreadStatic]
    private static float[]? weightsTransposed;

    /// <summary>y (B, out, OH, OW) = conv(x (B, C, H, W), w (out, C, k, k)) + bias.</summary>
    public static void Forward(float* x, float* w, float* bias, float* y, ConvShape s, int outChannels)
    {
        var job = new Job(x, w, bias, y, null, null, null, null, s, outChannels);
        int groups = Chunks(s);
        if (Parallelise(s, outChannels) && groups > 1)
            Parallel.For(0, groups, HostThreads.Options, job.ForwardGroup);
        else
            for (int group = 0; group < groups; group++)
                job.ForwardGroup(group);
    }

    /// <summary>
    /// Accumulates dW into <paramref name="dw"/> and db into <paramref name="db"/> (when not null),
    /// and overwrites dx (when not null). <paramref name="partials"/> holds (groups, out K + out) floats.
    /// </summary>
    public static void Backward(float* x, float* w, float* dy, float* dw, float* db, float* dx, ConvShape s, int outChannels, float[] partials)
    {
        int chunks = Chunks(s);
        int stride = PartialLength(s, outChannels);
        fixed (float* partial = partials)
        {
            var job = new Job(x, w, null, dy, dw, db, dx, partial, s, outChannels);
            if (Parallelise(s, outChannels) && chunks > 1)
                Parallel.For(0, chunks, HostThreads.Options, job.BackwardChunk);
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

    /// <summary>Groups of images in a batch.</summary>
    public static int Chunks(ConvShape s)
    {
        int size = GroupImages(s);
        return (s.Batch + size - 1) / size;
    }

    /// <summary>Floats of one chunk's partial sums: dW (out, K) then db (out).</summary>
    public static int PartialLength(ConvShape s, int outChannels) => outChannels * s.PatchLength + outChannels;

    // Below about a million multiply-adds the hand-off to other cores costs more than it saves.
    private static bool Parallelise(ConvShape s, int outChannels) =>
        HostThreads.Count > 1 && s.Batch > 1 && (long)s.Batch * outChannels * s.PatchLength * s.Positions >= 1 << 20;

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
    /// One image's part of the column matrix: row (c, ki, kj), <paramref name="rowStride"/> floats
    /// apart, holds for every output position the input value under kernel element (ki, kj) of
    /// channel c (0 in the padding).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Im2Col(float* image, float* col, long rowStride, ConvShape s)
    {
        // Plain pointer loops: for small images (8x8 digits) the rows are a few floats long, and
        // a span per row cost more than the copying.
        int k = s.KernelSize, outW = s.OutWidth, outH = s.OutHeight, stride = s.Stride;
        for (int c = 0; c < s.Channels; c++)
        {
            float* plane = image + (long)c * s.Height * s.Width;
            for (int ki = 0; ki < k; ki++)
            {
                for (int kj = 0; kj < k; kj++, col += rowStride)
                {
                    // Output columns whose input column lies inside the image: ow in [first, last).
                    var (first, last) = ValidRange(kj, s.Padding, stride, s.Width, outW);
                    float* target = col;
                    for (int oh = 0; oh < outH; oh++, target += outW)
                    {
                        int ih = oh * stride - s.Padding + ki;
                        if (ih < 0 || ih >= s.Height)
                        {
                            for (int ow = 0; ow < outW; ow++)
                                target[ow] = 0f;
                            continue;
                        }

                        float* source = plane + ih * s.Width - s.Padding + kj;
                        for (int ow = 0; ow < first; ow++)
                            target[ow] = 0f;
                        if (stride == 1)
                        {
                            Copy(source + first, target + first, last - first);
                        }
                        else
                        {
                            for (int ow = first; ow < last; ow++)
                                target[ow] = source[ow * stride];
                        }

                        for (int ow = last; ow < outW; ow++)
                            target[ow] = 0f;
                    }
                }
            }
        }
    }

    /// <summary>Adds each column-matrix entry back to the input element it was read from (dx must start at 0).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Col2Im(float* col, float* image, long rowStride, ConvShape s)
    {
        int k = s.KernelSize, outW = s.OutWidth, stride = s.Stride;
        for (int c = 0; c < s.Channels; c++)
        {
            float* plane = image + (long)c * s.Height * s.Width;
            for (int ki = 0; ki < k; ki++)
            {
                for (int kj = 0; kj < k; kj++, col += rowStride)
                {
                    var (first, last) = ValidRange(kj, s.Padding, stride, s.Width, outW);
                    for (int oh = 0; oh < s.OutHeight; oh++)
                    {
                        int ih = oh * stride - s.Padding + ki;
                        if (ih < 0 || ih >= s.Height)
                            continue;
                        float* source = col + oh * outW;
                        float* target = plane + ih * s.Width - s.Padding + kj;
                        if (stride == 1)
                        {
                            AddTo(source + first, target + first, last - first);
                            continue;
                        }

                        for (int ow = first; ow < last; ow++)
                            target[ow * stride] += source[ow];
                    }
                }
            }
        }
    }

    // target[i] = source[i] for i < count: vectors, then single floats (rows of small images are a
    // few floats long, where a span per row would cost more than the copy; the JIT does not vectorise
    // a plain loop, and a scalar copy made the unfold a sixth of a convolution's time).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Copy(float* source, float* target, int count)
    {
        int i = 0;
        for (; i + Vector<float>.Count <= count; i += Vector<float>.Count)
            Vector.Store(Vector.Load(source + i), target + i);
        for (; i < count; i++)
            target[i] = source[i];
    }

    // target[i] += source[i] for i < count, likewise.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void AddTo(float* source, float* target, int count)
    {
        int i = 0;
        for (; i + Vector<float>.Count <= count; i += Vector<float>.Count)
            Vector.Store(Vector.Load(target + i) + Vector.Load(source + i), target + i);
        for (; i < count; i++)
            target[i] += source[i];
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

        private int GroupSize => GroupImages(s);

        public void ForwardGroup(int group)
        {
            int k = s.PatchLength, p = s.Positions;
            int first = group * GroupSize, images = Math.Min(GroupSize, s.Batch - first), columnsWide = images * p;
            var col = Scratch(ref columns, k * columnsWide);
            var product = Scratch(ref products, outChannels * columnsWide);
            fixed (float* c = col, yGroup = product)
            {
                for (int g = 0; g < images; g++)
                    Im2Col(x + (first + g) * ImageLength, c + g * p, columnsWide, s);

                // (out, K) x (K, G P), then each image's rows into NCHW with the bias added.
                HostMatMul.Run(w, c, yGroup, null, MatMulShape.Create(outChannels, columnsWide, k, false, false, false, false), mayParallelise: false);
                for (int g = 0; g < images; g++)
                {
                    float* target = y + (first + g) * OutputLength;
                    for (int o = 0; o < outChannels; o++)
                        CopyRow(yGroup + (long)o * columnsWide + g * p, bias is null ? 0f : bias[o], target + (long)o * p, p);
                }
            }
        }

        public void BackwardChunk(int chunk)
        {
            int k = s.PatchLength, p = s.Positions, weights = outChannels * k;
            int first = chunk * GroupSize, images = Math.Min(GroupSize, s.Batch - first), columnsWide = images * p;
            float* partial = partials + (long)chunk * (weights + outChannels);
            var col = Scratch(ref columns, k * columnsWide);
            var dcol = dx is null ? null : Scratch(ref gradColumns, k * columnsWide);
            var gradProduct = Scratch(ref products, outChannels * columnsWide);
            fixed (float* c = col, dc = dcol, dyGroup = gradProduct)
            {
                for (int g = 0; g < images; g++)
                {
                    Im2Col(x + (first + g) * ImageLength, c + g * p, columnsWide, s);
                    float* gradOutput = y + (first + g) * OutputLength; // y holds dy here
                    for (int o = 0; o < outChannels; o++)
                        CopyRow(gradOutput + (long)o * p, 0f, dyGroup + (long)o * columnsWide + g * p, p);
                }

                // dW^T (K, out) = col (K, G P) dY^T: col is A in place (its rows run along the sum) and
                // only dY, the smaller operand, is packed (B stored (N, K), the NT form); then transposed
                // into dW (out, K). The other way round, dW = dY col^T, packs all of col: 1.3x slower.
                // Each sum runs over the positions in the same order either way, so the bits agree.
                var transposed = Scratch(ref weightsTransposed, weights);
                fixed (float* dwT = transposed)
                {
                    HostMatMul.Run(c, dyGroup, dwT, null, MatMulShape.Create(k, outChannels, columnsWide, false, true, false, false), mayParallelise: false);
                    for (int o = 0; o < outChannels; o++)
                    {
                        for (int i = 0; i < k; i++)
                            partial[(long)o * k + i] = dwT[(long)i * outChannels + o];
                    }
                }
                for (int o = 0; o < outChannels; o++)
                    partial[weights + o] = db is null ? 0f : Sum(dyGroup + (long)o * columnsWide, columnsWide);

                if (dx is not null)
                {
                    // dcol (K, G P) = W^T (K, out) dY (out, G P): W stored (out, K) is A transposed, the TN form.
                    HostMatMul.Run(w, dyGroup, dc, null, MatMulShape.Create(k, columnsWide, outChannels, true, false, false, false), mayParallelise: false);
                    for (int g = 0; g < images; g++)
                    {
                        float* image = dx + (first + g) * ImageLength;
                        new Span<float>(image, (int)ImageLength).Clear();
                        Col2Im(dc + g * p, image, columnsWide, s);
                    }
                }
            }
        }

        // target = source + value over count floats, through pointers (rows can be 64 floats long).
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private static void CopyRow(float* source, float value, float* target, int count)
        {
            int i = 0, width = Vector<float>.Count;
            var v = new Vector<float>(value);
            for (; i + width <= count; i += width)
                Vector.Store(Vector.Load(source + i) + v, target + i);
            for (; i < count; i++)
                target[i] = source[i] + value;
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private static float Sum(float* values, int count)
        {
            var acc = Vector<float>.Zero;
            int i = 0, width = Vector<float>.Count;
            for (; i + width <= count; i += width)
                acc += Vector.Load(values + i);
            float sum = Vector.Sum(acc);
            for (; i < count; i++)
                sum += values[i];
            return sum;
        }
    }
}
