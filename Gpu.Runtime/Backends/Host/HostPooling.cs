using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Gpu.Kernels;

namespace Gpu.Runtime.Backends.Host;

/// <summary>
/// Max and average pooling on the host, forward and backward. Each plane (one image's channel) is
/// pooled alone and, in the backward passes, its input gradient summed in the order of its outputs,
/// so large batches split their planes over the cores with the same results as on one.
/// </summary>
internal static unsafe class HostPooling
{
    // Pools over at least this many input elements split their planes over the cores (a predict
    // batch of 4,096 digits pools 262,144 planes of 64).
    private const long ParallelInputs = 1 << 18;

    public static void MaxPool(float* x, float* y, int* indices, PoolShape s) => ForPlanes(s, new MaxPoolOp(x, y, indices, s));

    /// <summary>Routes each output gradient to its window's maximum, outputs in increasing order.</summary>
    public static void MaxPoolBackward(float* dy, int* indices, float* dx, PoolShape s) => ForPlanes(s, new MaxPoolBackwardOp(dy, indices, dx, s));

    public static void AvgPool(float* x, float* y, PoolShape s) => ForPlanes(s, new AvgPoolOp(x, y, s));

    public static void AvgPoolBackward(float* dy, float* dx, PoolShape s) => ForPlanes(s, new AvgPoolBackwardOp(dy, dx, s));

    // Each plane alone, the planes of a large batch one piece per core.
    private static void ForPlanes<TOp>(PoolShape s, TOp op)
        where TOp : struct, IRangeOp
    {
        int planes = s.Batch * s.Channels;
        HostRanges.For(planes, (long)planes * s.Height * s.Width >= ParallelInputs, 1, op);
    }

    private readonly struct MaxPoolOp(float* x, float* y, int* indices, PoolShape s) : IRangeOp
    {
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Run(int firstPlane, int planes)
        {
            int endPlane = firstPlane + planes;
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

        // The common 2x2, stride-2 window, unrolled: the same comparisons in the same order as the
        // general loop. Rows of 8 or more windows go eight at a time through vectors; rows of four
        // (8x8 maps) two rows at a time where the rows run on from plane to plane (even heights).
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private void Planes2x2(int firstPlane, int endPlane)
        {
            int width = s.Width;
            if (Avx2.IsSupported && s.OutWidth == 4 && s.Height == 2 * s.OutHeight)
            {
                // Output row r reads input rows 2r and 2r + 1 of the planes laid end to end.
                int row = firstPlane * s.OutHeight, endRow = endPlane * s.OutHeight;
                for (; row + 2 <= endRow; row += 2)
                    Max8(x, 2 * row * width, (2 * row + 2) * width, width, y + 4 * row, indices + 4 * row);
                for (int ow = 0; row < endRow && ow < 4; ow++)
                    One(2 * row * width + 2 * ow, 4 * row + ow);
                return;
            }

            if (Avx2.IsSupported && s.Width == 4 && s.Height == 2 * s.OutHeight)
            {
                // Rows of two windows (4x4 maps): four output rows at a time, from eight input
                // rows laid end to end (Rows4x2).
                int row = firstPlane * s.OutHeight, endRow = endPlane * s.OutHeight;
                for (; row + 4 <= endRow; row += 4)
                {
                    var (top, bottom) = Rows4x2(x + 8 * row);
                    int a = 8 * row;
                    var left = Vector256.Create(a, a + 2, a + 16, a + 18, a + 8, a + 10, a + 24, a + 26);
                    Max8(top.Low, top.High, bottom.Low, bottom.High, left, left + Vector256.Create(4), y + 2 * row, indices + 2 * row);
                }

                for (; row < endRow; row++)
                {
                    One(8 * row, 2 * row);
                    One(8 * row + 2, 2 * row + 1);
                }

                return;
            }

            int o = firstPlane * s.OutHeight * s.OutWidth;
            for (int plane = firstPlane; plane < endPlane; plane++)
            {
                int planeStart = plane * s.Height * width;
                for (int oh = 0; oh < s.OutHeight; oh++)
                {
                    int top = planeStart + 2 * oh * width;
                    int ow = 0;
                    if (Avx2.IsSupported)
                    {
                        for (; ow + 8 <= s.OutWidth; ow += 8, o += 8)
                            Max8(x, top + 2 * ow, top + 2 * ow + 8, width, y + o, indices + o);
                    }

                    for (; ow < s.OutWidth; ow++, o++)
                        One(top + 2 * ow, o);
                }
            }
        }

        // The window whose top-left element is x[a], into output o.
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private void One(int a, int o)
        {
            int width = s.Width;
            var best = Vector128.CreateScalarUnsafe(a);
            var max = Vector128.CreateScalarUnsafe(x[a]);
            Consider(x, a + 1, ref max, ref best);
            Consider(x, a + width, ref max, ref best);
            Consider(x, a + width + 1, ref max, ref best);
            y[o] = max.ToScalar();
            indices[o] = best.ToScalar();
        }
    }

    // Eight 2x2 windows, four with their top-left elements at x[a], x[a + 2], ... and four at
    // x[b], x[b + 2], ... (b = a + 8 for eight side by side): each row's even and odd columns are
    // split apart (in the shuffles' lane order, put right at the end), the left and right columns
    // compared within each row, then the top winner with the bottom one. Window order is top-left,
    // top-right, bottom-left, bottom-right, and each comparison keeps the earlier element unless
    // the later one is greater or NaN, so this gives Consider's results, bit for bit.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Max8(float* x, int a, int b, int width, float* y, int* indices)
    {
        var left = Vector256.Create(a, a + 2, b, b + 2, a + 4, a + 6, b + 4, b + 6);
        Max8(Avx.LoadVector256(x + a), Avx.LoadVector256(x + b), Avx.LoadVector256(x + a + width), Avx.LoadVector256(x + b + width), left, left + Vector256.Create(width), y, indices);
    }

    // The same with the windows' top rows in topLow and topHigh and their bottom rows in
    // bottomLow and bottomHigh (as Columns splits them), and the flat indices of their top-left
    // and bottom-left elements in Columns' lane order.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Max8(Vector256<float> topLow, Vector256<float> topHigh, Vector256<float> bottomLow, Vector256<float> bottomHigh, Vector256<int> left, Vector256<int> bottom, float* y, int* indices)
    {
        var (topLeft, topRight) = Columns(topLow, topHigh);
        var (bottomLeft, bottomRight) = Columns(bottomLow, bottomHigh);
        var (topMax, topIndex) = Later(topLeft, left, topRight, left + Vector256<int>.One);
        var (bottomMax, bottomIndex) = Later(bottomLeft, bottom, bottomRight, bottom + Vector256<int>.One);
        var (max, index) = Later(topMax, topIndex, bottomMax, bottomIndex);
        Avx2.Permute4x64(max.AsDouble(), 0xD8).AsSingle().Store(y);
        Avx2.Permute4x64(index.AsInt64(), 0xD8).AsInt32().Store(indices);
    }

    // The even and odd columns of 8 floats at low and 8 at high, in the lane order low 0, 2,
    // high 0, 2, low 4, 6, high 4, 6 (and + 1).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (Vector256<float> Even, Vector256<float> Odd) Columns(float* low, float* high) =>
        Columns(Avx.LoadVector256(low), Avx.LoadVector256(high));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (Vector256<float> Even, Vector256<float> Odd) Columns(Vector256<float> low, Vector256<float> high) =>
        (Avx.Shuffle(low, high, 0x88), Avx.Shuffle(low, high, 0xDD));

    // Eight rows of four floats from `rows` (the input of four output rows of two 2x2 windows):
    // the top rows (0, 2 | 4, 6) and the bottom rows (1, 3 | 5, 7) of the windows, each as two
    // vectors whose even and odd columns Columns splits into the windows' left and right columns,
    // in the lane order of output rows 0, 2, 1, 3.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ((Vector256<float> Low, Vector256<float> High) Top, (Vector256<float> Low, Vector256<float> High) Bottom) Rows4x2(float* rows)
    {
        var r01 = Avx.LoadVector256(rows);
        var r23 = Avx.LoadVector256(rows + 8);
        var r45 = Avx.LoadVector256(rows + 16);
        var r67 = Avx.LoadVector256(rows + 24);
        return ((Avx.Permute2x128(r01, r23, 0x20), Avx.Permute2x128(r45, r67, 0x20)),
                (Avx.Permute2x128(r01, r23, 0x31), Avx.Permute2x128(r45, r67, 0x31)));
    }

    // The later element where it is greater or NaN, else the earlier one (as Consider).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (Vector256<float> Value, Vector256<int> Index) Later(Vector256<float> first, Vector256<int> firstIndex, Vector256<float> second, Vector256<int> secondIndex)
    {
        var take = Vector256.GreaterThan(second, first) | ~Vector256.Equals(second, second);
        return (Vector256.ConditionalSelect(take, second, first), Vector256.ConditionalSelect(take.AsInt32(), secondIndex, firstIndex));
    }

    private readonly struct MaxPoolBackwardOp(float* dy, int* indices, float* dx, PoolShape s) : IRangeOp
    {
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Run(int firstPlane, int planes)
        {
            int endPlane = firstPlane + planes;
            long inputs = (long)s.Height * s.Width, outputs = (long)s.OutHeight * s.OutWidth;
            new Span<float>(dx + firstPlane * inputs, (int)((endPlane - firstPlane) * inputs)).Clear();
            for (long o = firstPlane * outputs; o < endPlane * outputs; o++)
                dx[indices[o]] += dy[o];
        }
    }

    private readonly struct AvgPoolOp(float* x, float* y, PoolShape s) : IRangeOp
    {
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Run(int firstPlane, int planes)
        {
            int endPlane = firstPlane + planes;
            float inverse = 1f / (s.KernelSize * s.KernelSize);
            bool vectors = s.KernelSize == 2 && s.Stride == 2 && Avx2.IsSupported;
            if (vectors && s.OutWidth == 4 && s.Height == 2 * s.OutHeight)
            {
                // Two rows of four windows a vector, as max pooling's Planes2x2. With an odd row
                // left over, the loop below redoes the last plane (the same sums, the same bits).
                int row = firstPlane * s.OutHeight, endRow = endPlane * s.OutHeight;
                for (; row + 2 <= endRow; row += 2)
                    Mean8(x + 2L * row * s.Width, x + (2L * row + 2) * s.Width, s.Width, y + 4L * row);
                if (row == endRow)
                    return;
                firstPlane = endPlane - 1;
            }
            else if (vectors && s.Width == 4 && s.Height == 2 * s.OutHeight)
            {
                // Rows of two windows (4x4 maps), four rows at a time (Rows4x2); the planes of the
                // rows left over go through the loop below.
                int row = firstPlane * s.OutHeight, endRow = endPlane * s.OutHeight;
                for (; row + 4 <= endRow; row += 4)
                {
                    var (top, bottom) = Rows4x2(x + 8L * row);
                    Mean8(top.Low, top.High, bottom.Low, bottom.High, y + 2L * row);
                }

                if (row == endRow)
                    return;
                firstPlane = row / s.OutHeight;
            }

            for (int plane = firstPlane; plane < endPlane; plane++)
            {
                for (int oh = 0; oh < s.OutHeight; oh++)
                {
                    int ow = 0;
                    if (vectors)
                    {
                        long first = ((long)plane * s.Height + 2 * oh) * s.Width;
                        float* target = y + ((long)plane * s.OutHeight + oh) * s.OutWidth;
                        for (; ow + 8 <= s.OutWidth; ow += 8)
                            Mean8(x + first + 2 * ow, x + first + 2 * ow + 8, s.Width, target + ow);
                    }

                    for (; ow < s.OutWidth; ow++)
                    {
                        float sum = 0f;
                        for (int ki = 0; ki < s.KernelSize; ki++)
                        {
                            float* row = x + ((long)plane * s.Height + oh * s.Stride + ki) * s.Width + ow * s.Stride;
                            for (int kj = 0; kj < s.KernelSize; kj++)
                                sum += row[kj];
                        }

                        y[((long)plane * s.OutHeight + oh) * s.OutWidth + ow] = sum * inverse;
                    }
                }
            }
        }
    }

    // Eight 2x2 means, four whose top-left elements start at low and four at high (high = low + 8
    // for eight side by side), summed from zero in the scalar loop's order (top-left, top-right,
    // bottom-left, bottom-right), so the bits are the same (signed zeros included).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Mean8(float* low, float* high, int width, float* y) =>
        Mean8(Avx.LoadVector256(low), Avx.LoadVector256(high), Avx.LoadVector256(low + width), Avx.LoadVector256(high + width), y);

    // The same with the rows in vectors (as Max8's second form).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Mean8(Vector256<float> topLow, Vector256<float> topHigh, Vector256<float> bottomLow, Vector256<float> bottomHigh, float* y)
    {
        var (left, right) = Columns(topLow, topHigh);
        var (bottomLeft, bottomRight) = Columns(bottomLow, bottomHigh);
        var mean = (Vector256<float>.Zero + left + right + bottomLeft + bottomRight) * 0.25f;
        Avx2.Permute4x64(mean.AsDouble(), 0xD8).AsSingle().Store(y);
    }

    private readonly struct AvgPoolBackwardOp(float* dy, float* dx, PoolShape s) : IRangeOp
    {
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Run(int firstPlane, int planes)
        {
            int endPlane = firstPlane + planes;
            long inputs = (long)s.Height * s.Width;
            if (s.KernelSize == 2 && s.Stride == 2 && Avx2.IsSupported)
            {
                // Windows that do not overlap: every input gets one share, written rather than
                // added (0 + g, as the cleared sum below, so the same bits); inputs past the last
                // window (an odd row or column) are cleared first.
                if (s.Height != 2 * s.OutHeight || s.Width != 2 * s.OutWidth)
                    new Span<float>(dx + firstPlane * inputs, (int)((endPlane - firstPlane) * inputs)).Clear();
                for (int plane = firstPlane; plane < endPlane; plane++)
                {
                    float* gradients = dy + (long)plane * s.OutHeight * s.OutWidth, top = dx + plane * inputs;
                    for (int oh = 0; oh < s.OutHeight; oh++, gradients += s.OutWidth, top += 2 * s.Width)
                        SpreadRow2x2(gradients, top, s.OutWidth, s.Width);
                }

                return;
            }

            float inverse = 1f / (s.KernelSize * s.KernelSize);
            new Span<float>(dx + firstPlane * inputs, (int)((endPlane - firstPlane) * inputs)).Clear();
            for (int plane = firstPlane; plane < endPlane; plane++)
            {
                for (int oh = 0; oh < s.OutHeight; oh++)
                {
                    for (int ow = 0; ow < s.OutWidth; ow++)
                    {
                        float g = dy[((long)plane * s.OutHeight + oh) * s.OutWidth + ow] * inverse;
                        for (int ki = 0; ki < s.KernelSize; ki++)
                        {
                            float* row = dx + ((long)plane * s.Height + oh * s.Stride + ki) * s.Width + ow * s.Stride;
                            for (int kj = 0; kj < s.KernelSize; kj++)
                                row[kj] += g;
                        }
                    }
                }
            }
        }

        // One row of 2x2 windows: dy's row times 1/4, each value written twice side by side into
        // both input rows, eight (then four) windows a vector.
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static void SpreadRow2x2(float* gradients, float* top, int windows, int width)
        {
            float* bottom = top + width;
            int ow = 0;
            for (; ow + 8 <= windows; ow += 8)
            {
                var g = Vector256<float>.Zero + Vector256.Load(gradients + ow) * 0.25f;
                var low = Avx.UnpackLow(g, g);   // g0 g0 g1 g1 | g4 g4 g5 g5
                var high = Avx.UnpackHigh(g, g); // g2 g2 g3 g3 | g6 g6 g7 g7
                var first = Avx.Permute2x128(low, high, 0x20);
                var second = Avx.Permute2x128(low, high, 0x31);
                first.Store(top + 2 * ow);
                second.Store(top + 2 * ow + 8);
                first.Store(bottom + 2 * ow);
                second.Store(bottom + 2 * ow + 8);
            }

            for (; ow + 4 <= windows; ow += 4)
            {
                var g = Vector128<float>.Zero + Vector128.Load(gradients + ow) * 0.25f;
                var first = Sse.UnpackLow(g, g);
                var second = Sse.UnpackHigh(g, g);
                first.Store(top + 2 * ow);
                second.Store(top + 2 * ow + 4);
                first.Store(bottom + 2 * ow);
                second.Store(bottom + 2 * ow + 4);
            }

            for (; ow < windows; ow++)
            {
                float g = 0f + gradients[ow] * 0.25f;
                top[2 * ow] = top[2 * ow + 1] = bottom[2 * ow] = bottom[2 * ow + 1] = g;
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
}
