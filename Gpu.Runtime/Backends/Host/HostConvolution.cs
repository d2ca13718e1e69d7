using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Gpu.Kernels;

namespace Gpu.Runtime.Backends.Host;

/// <summary>
/// Conv2d on the host, a group of images at a time, on the GEMM's micro-kernels with the patch
/// matrix read in place from the zero-padded input instead of being built (the implicit im2col of
/// GPU convolution libraries). With K = C k k patch values and P = OH OW output positions:
/// <code>
///   forward:  Y^T (G P, out) = patches (G P, K) W^T (K, out) + bias;  y_b = Y^T's rows for image b, transposed
///   dW:       dW^T (K, out) += patches^T (K, G P) dY^T (G P, out);  db += row sums of dY
///   dx:       stride 1: the forward convolution of dy, padded by k - 1 - pad, with W flipped and
///             its channels swapped; other strides: dcol = W^T dY, then each patch added back (col2im)
/// </code>
/// patches[(b, oh, ow), (c, ki, kj)] = padded_b[c, oh s + ki, ow s + kj] is read at
/// <c>padded[positionOffsets[(b, oh, ow)] + patchOffsets[(c, ki, kj)]]</c>
/// (<see cref="HostMatMul.RunIndirect"/>): in the forward product a position is a row of A and its
/// patch runs along k, in dW's product the other way round. A group's padded input (166 KiB for
/// four 32 x 16 x 16 images) stays in L2; the patch matrix it replaces was 1.2 MiB, written,
/// packed and read again, and its unfold and fold took a third of a 32 -> 64 convolution's time.
/// Output channels lie along the vector lanes, so the results come out (positions, channels) and
/// are transposed into NCHW, 8 x 8 at a time.
/// G is chosen from the image size and the batch alone (<see cref="GroupImages"/>: about 1,024
/// output positions per product, and at least four groups where the batch has the images), so
/// large images make one product each and small ones share it: the per-call cost of a product
/// would otherwise dominate 8x8 digits. Groups run in parallel, each product on one
/// thread; weight and bias gradients are summed per group and the groups are added in order, so
/// results do not depend on the number of cores. On a GPU the kernel backend instead builds one
/// patch matrix for the whole batch and makes one large product (docs/kernels.md).
/// </summary>
internal static unsafe partial class HostConvolution
{
    // Output positions a group's products aim for (the rows of the forward product, the depth of
    // dW's): enough that 8x8 digits share a product, few enough that a group's padded input and
    // products stay in L2. 512 and 2,048 measured the same as 1,024 at 32 -> 64.
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

    // dx by the direct convolution from this many input channels: they are its product's columns,
    // and fewer than 16 leave most of a panel's lanes empty. With 32 channels it was 1.12x faster
    // than dcol and col2im (32 -> 64 at 16 x 16, batch 64, one core), with 16 1.2x (16 -> 32 at 4 x 4);
    // with 3 channels 2.2x slower, with 1 2.4x.
    private const int DirectInputGradientChannels = 16;

    // Per thread, for the group it runs.
    [ThreadStatic]
    private static HostScratch? padded;

    [ThreadStatic]
    private static HostScratch? products;

    [ThreadStatic]
    private static HostScratch? gradProducts;

    // Per call, on the calling thread, read by all the groups.
    [ThreadStatic]
    private static int[]? patchOffsets;

    [ThreadStatic]
    private static int[]? positionOffsets;

    [ThreadStatic]
    private static int[]? gradPatchOffsets;

    [ThreadStatic]
    private static int[]? gradPositionOffsets;

    [ThreadStatic]
    private static HostScratch? flippedWeights;

    [ThreadStatic]
    private static HostScratch? weightsTransposed;

    /// <summary>y (B, out, OH, OW) = conv(x (B, C, H, W), w (out, C, k, k)) + bias, then ReLU when <paramref name="relu"/>.</summary>
    public static void Forward(float* x, float* w, float* bias, float* y, ConvShape s, int outChannels, bool relu = false)
    {
        var input = PaddedInput.Of(s);
        fixed (int* patches = Offsets(ref patchOffsets, input.PatchLength), positions = Offsets(ref positionOffsets, GroupImages(s) * s.Positions))
        {
            input.FillPatchOffsets(patches);
            input.FillPositionOffsets(positions, GroupImages(s));
            var job = new Job(x, w, bias, y, null, null, null, null, null, s, outChannels, patches, positions, null, null, relu);
            int groups = Chunks(s);
            if (Parallelise(s, outChannels) && groups > 1)
                HostThreads.For(groups, job.ForwardGroup);
            else
                for (int group = 0; group < groups; group++)
                    job.ForwardGroup(group);
        }
    }

    /// <summary>
    /// Accumulates dW into <paramref name="dw"/> and db into <paramref name="db"/> (when not null),
    /// and overwrites dx (when not null). <paramref name="partials"/> holds <see cref="Chunks"/> x <see cref="PartialLength"/> floats.
    /// </summary>
    public static void Backward(float* x, float* w, float* dy, float* dw, float* db, float* dx, ConvShape s, int outChannels, float* partials)
    {
        int chunks = Chunks(s);
        if (chunks == 0)
            return;
        int stride = PartialLength(s, outChannels);
        var input = PaddedInput.Of(s);
        var gradient = PaddedInput.OfGradient(s, outChannels);
        bool direct = dx is not null && gradient is not null && s.Channels >= DirectInputGradientChannels;
        int images = GroupImages(s);
        float* flipped = direct ? HostScratch.Get(ref flippedWeights, gradient!.Value.PatchLength * s.Channels) : null;
        fixed (int* patches = Offsets(ref patchOffsets, input.PatchLength), positions = Offsets(ref positionOffsets, images * s.Positions))
        fixed (int* gradPatches = direct ? Offsets(ref gradPatchOffsets, gradient!.Value.PatchLength) : null,
            gradPositions = direct ? Offsets(ref gradPositionOffsets, images * s.Height * s.Width) : null)
        {
            input.FillPatchOffsets(patches);
            input.FillPositionOffsets(positions, images);
            if (direct)
            {
                gradient!.Value.FillPatchOffsets(gradPatches);
                gradient.Value.FillPositionOffsets(gradPositions, images);
                FlipWeights(w, flipped, s, outChannels);
            }

            var job = new Job(x, w, null, dy, dw, db, dx, partials, flipped, s, outChannels, patches, positions, gradPatches, gradPositions, relu: false);
            if (Parallelise(s, outChannels) && chunks > 1)
                HostThreads.For(chunks, job.BackwardChunk);
            else
                for (int chunk = 0; chunk < chunks; chunk++)
                    job.BackwardChunk(chunk);

            // The chunks' sums, added in chunk order into the first, then transposed (dW^T to dW)
            // and added to the gradients, as PyTorch adds a batch's gradient to .grad.
            int weights = outChannels * s.PatchLength;
            var total = new Span<float>(partials, stride);
            for (int chunk = 1; chunk < chunks; chunk++)
                Add(new ReadOnlySpan<float>(partials + (long)chunk * stride, stride), total);
            float* transposed = HostScratch.Get(ref weightsTransposed, weights);
            HostTranspose.Matrix(partials, s.PatchLength, outChannels, outChannels, transposed, s.PatchLength);
            Add(new ReadOnlySpan<float>(transposed, weights), new Span<float>(dw, weights));

            if (db is not null)
                Add(total.Slice(weights, outChannels), new Span<float>(db, outChannels));
        }
    }

    /// <summary>Groups of images in a batch.</summary>
    public static int Chunks(ConvShape s)
    {
        int size = GroupImages(s);
        return (s.Batch + size - 1) / size;
    }

    /// <summary>Floats of one chunk's partial sums: dW^T (K, out) then db (out), rounded up to 16 so each chunk's starts on a cache line.</summary>
    public static int PartialLength(ConvShape s, int outChannels) => (outChannels * s.PatchLength + outChannels + 15) & ~15;

    // Below about a million multiply-adds the hand-off to other cores costs more than it saves.
    private static bool Parallelise(ConvShape s, int outChannels) =>
        HostThreads.Count > 1 && s.Batch > 1 && (long)s.Batch * outChannels * s.PatchLength * s.Positions >= 1 << 20;

    private static int[] Offsets(ref int[]? buffer, int length)
    {
        if (buffer is null || buffer.Length < length)
            buffer = new int[length];
        return buffer;
    }

    // dx's convolution weights: flipped[(o, ki, kj), c] = w[o, c, k - 1 - ki, k - 1 - kj], the B (out k k, C) of its product.
    private static void FlipWeights(float* w, float* flipped, ConvShape s, int outChannels)
    {
        // Written in order (a row of C floats at a time); reading w with a stride of k k floats.
        int k = s.KernelSize, kk = k * k;
        for (int o = 0; o < outChannels; o++)
        {
            for (int i = 0; i < kk; i++)
            {
                float* source = w + (long)o * s.Channels * kk + (kk - 1 - i);
                float* target = flipped + ((long)o * kk + i) * s.Channels;
                for (int c = 0; c < s.Channels; c++)
                    target[c] = source[c * kk];
            }
        }
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
    /// The input of a convolution zero-padded on all four sides, one image after another, and the
    /// offsets at which its patches lie: patch value (c, ki, kj) of output position (b, oh, ow) is at
    /// <c>positionOffset(b, oh, ow) + patchOffset(c, ki, kj)</c>.
    /// </summary>
    private readonly record struct PaddedInput(int Channels, int Height, int Width, int Padding, int KernelSize, int Stride, int OutHeight, int OutWidth)
    {
        public static PaddedInput Of(ConvShape s) =>
            new(s.Channels, s.Height, s.Width, s.Padding, s.KernelSize, s.Stride, s.OutHeight, s.OutWidth);

        /// <summary>
        /// dx's convolution, where stride 1 makes it one: dy padded by k - 1 - pad, out channels in,
        /// the input's size out. None for other strides, or padding past k - 1.
        /// </summary>
        public static PaddedInput? OfGradient(ConvShape s, int outChannels) =>
            s.Stride != 1 || s.Padding > s.KernelSize - 1 ? null
                : new PaddedInput(outChannels, s.OutHeight, s.OutWidth, s.KernelSize - 1 - s.Padding, s.KernelSize, 1, s.Height, s.Width);

        private int PaddedWidth => Width + 2 * Padding;

        private int PlaneLength => (Height + 2 * Padding) * PaddedWidth;

        public int ImageLength => Channels * PlaneLength;

        public int PatchLength => Channels * KernelSize * KernelSize;

        public void FillPatchOffsets(int* table)
        {
            for (int c = 0; c < Channels; c++)
            {
                for (int ki = 0; ki < KernelSize; ki++)
                {
                    for (int kj = 0; kj < KernelSize; kj++)
                        *table++ = c * PlaneLength + ki * PaddedWidth + kj;
                }
            }
        }

        public void FillPositionOffsets(int* table, int images)
        {
            for (int b = 0; b < images; b++)
            {
                for (int oh = 0; oh < OutHeight; oh++)
                {
                    for (int ow = 0; ow < OutWidth; ow++)
                        *table++ = checked(b * ImageLength + oh * Stride * PaddedWidth + ow * Stride);
                }
            }
        }

        /// <summary>One image (Channels, Height, Width) into its padded place.</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Pad(float* image, float* target)
        {
            int p = Padding, width = PaddedWidth;
            for (int c = 0; c < Channels; c++, image += Height * Width)
            {
                float* plane = target + (long)c * PlaneLength;
                new Span<float>(plane, p * width).Clear();
                new Span<float>(plane + (long)(p + Height) * width, p * width).Clear();
                for (int h = 0; h < Height; h++)
                {
                    float* row = plane + (long)(p + h) * width;
                    for (int i = 0; i < p; i++)
                    {
                        row[i] = 0f;
                        row[p + Width + i] = 0f;
                    }

                    Copy(image + h * Width, row + p, Width);
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
    // a plain loop).
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

    private readonly struct Job(
        float* x, float* w, float* bias, float* y, float* dw, float* db, float* dx, float* partials, float* flipped, ConvShape s, int outChannels,
        int* patchOffsets, int* positionOffsets, int* gradPatchOffsets, int* gradPositionOffsets, bool relu)
    {
        private readonly float* x = x, w = w, bias = bias, y = y, dw = dw, db = db, dx = dx, partials = partials, flipped = flipped;
        private readonly int* patchOffsets = patchOffsets, positionOffsets = positionOffsets;
        private readonly int* gradPatchOffsets = gradPatchOffsets, gradPositionOffsets = gradPositionOffsets;
        private readonly ConvShape s = s;
        private readonly int outChannels = outChannels;
        private readonly bool relu = relu;

        private long ImageLength => (long)s.Channels * s.Height * s.Width;

        private long OutputLength => (long)outChannels * s.Positions;

        private int GroupSize => GroupImages(s);

        public void ForwardGroup(int group)
        {
            int k = s.PatchLength, p = s.Positions;
            int first = group * GroupSize, images = Math.Min(GroupSize, s.Batch - first), positions = images * p;
            var input = PaddedInput.Of(s);
            float* xp = HostScratch.Get(ref padded, (long)images * input.ImageLength);
            for (int g = 0; g < images; g++)
                input.Pad(x + (first + g) * ImageLength, xp + (long)g * input.ImageLength);

            if (ForwardOnLanes(s))
            {
                ForwardGroupOnLanes(xp, input.ImageLength, images, positionOffsets, patchOffsets, w, bias, y + first * OutputLength, s, outChannels, relu);
                return;
            }

            float* yGroup = HostScratch.Get(ref products, (long)positions * outChannels);

            // Y^T (G P, out) = patches (G P, K) W^T: W stored (out, K) is B transposed, the NT form.
            HostMatMul.RunIndirect(xp, positionOffsets, patchOffsets, w, yGroup, bias, MatMulShape.Create(positions, outChannels, k, false, true, bias is not null, false));
            for (int g = 0; g < images; g++)
            {
                float* image = y + (first + g) * OutputLength;
                HostTranspose.Matrix(yGroup + (long)g * p * outChannels, p, outChannels, outChannels, image, p);
                // A following ReLU, on the image's output while it is still in cache.
                if (relu)
                {
                    var output = new Span<float>(image, (int)OutputLength);
                    HostOps.Relu(output, output);
                }
            }
        }

        public void BackwardChunk(int chunk)
        {
            int k = s.PatchLength, p = s.Positions, weights = outChannels * k;
            int first = chunk * GroupSize, images = Math.Min(GroupSize, s.Batch - first), positions = images * p;
            float* partial = partials + (long)chunk * PartialLength(s, outChannels);
            var input = PaddedInput.Of(s);
            float* xp = HostScratch.Get(ref padded, (long)images * input.ImageLength);
            // dY (out, G P): the group's images side by side (y holds dy here). A group of one
            // image is that already, and is read in place: copying it cost 12% of a 3 -> 32
            // convolution's forward and backward at 32 x 32 (one core).
            float* dyGroup = images == 1 ? y + first * OutputLength : HostScratch.Get(ref products, (long)outChannels * positions);
            for (int g = 0; g < images; g++)
            {
                input.Pad(x + (first + g) * ImageLength, xp + (long)g * input.ImageLength);
                float* gradOutput = y + (first + g) * OutputLength;
                for (int o = 0; images > 1 && o < outChannels; o++)
                    CopyRow(gradOutput + (long)o * p, 0f, dyGroup + (long)o * positions + g * p, p);
            }

            // dW^T (K, out) = patches^T (K, G P) dY^T: the patches read in place as A (a row per
            // patch value, along the positions), dY stored (out, G P) as B transposed (NT). Each
            // sum runs over the group's positions in order. Transposed into dW once, after the
            // groups are added.
            HostMatMul.RunIndirect(xp, patchOffsets, positionOffsets, dyGroup, partial, null, MatMulShape.Create(k, outChannels, positions, false, true, false, false));

            for (int o = 0; o < outChannels; o++)
                partial[weights + o] = db is null ? 0f : Sum(dyGroup + (long)o * positions, positions);

            if (dx is not null && flipped is not null)
                DirectInputGradient(first, images);
            else if (dx is not null)
                FoldedInputGradient(first, images, dyGroup);
        }

        // Stride 1: dx (G H W, C) = patches of dy padded by k - 1 - pad (G H W, out k k) x flipped W (out k k, C).
        private void DirectInputGradient(int first, int images)
        {
            var gradient = PaddedInput.OfGradient(s, outChannels)!.Value;
            int hw = s.Height * s.Width, positions = images * hw;
            // (This reuses the padded input's scratch: the input is no longer read.)
            float* dyp = HostScratch.Get(ref padded, (long)images * gradient.ImageLength);
            float* dxGroup = HostScratch.Get(ref gradProducts, (long)positions * s.Channels);
            for (int g = 0; g < images; g++)
                gradient.Pad(y + (first + g) * OutputLength, dyp + (long)g * gradient.ImageLength);
            HostMatMul.RunIndirect(dyp, gradPositionOffsets, gradPatchOffsets, flipped, dxGroup, null, MatMulShape.Create(positions, s.Channels, gradient.PatchLength, false, false, false, false));
            for (int g = 0; g < images; g++)
                HostTranspose.Matrix(dxGroup + (long)g * hw * s.Channels, hw, s.Channels, s.Channels, dx + (first + g) * ImageLength, hw);
        }

        // Other strides: dcol (K, G P) = W^T (K, out) dY (out, G P), W stored (out, K) as A transposed
        // (the TN form), then each image's columns added back where they were read from.
        private void FoldedInputGradient(int first, int images, float* dyGroup)
        {
            int k = s.PatchLength, positions = images * s.Positions;
            float* dc = HostScratch.Get(ref gradProducts, (long)k * positions);
            HostMatMul.Run(w, dyGroup, dc, null, MatMulShape.Create(k, positions, outChannels, true, false, false, false), mayParallelise: false);
            for (int g = 0; g < images; g++)
            {
                float* image = dx + (first + g) * ImageLength;
                new Span<float>(image, (int)ImageLength).Clear();
                Col2Im(dc + g * s.Positions, image, positions, s);
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
