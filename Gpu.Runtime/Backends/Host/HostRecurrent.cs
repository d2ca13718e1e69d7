using System.Numerics.Tensors;

namespace Gpu.Runtime.Backends.Host;

/// <summary>
/// The LSTM and GRU cells of one time step on the host path, row by row (a row is one sample's gates,
/// G H contiguous values) with vectorised sigmoid and tanh (TensorPrimitives). The arithmetic is the
/// kernels' (RecurrentKernels) in the same order per element; only exp and tanh may differ from
/// MathF's in the last bits. Rows are independent, so a large step is split across cores. The spans
/// must not move while a step runs: the accelerator's native buffers, or pinned arrays.
/// </summary>
internal static class HostRecurrent
{
    // Cells per step from which the rows are split across cores: an H = 512 step of batch 32
    // (16K cells, about 40 us of exp and tanh) gains from two cores; an H = 128 one (4K) does not.
    private const int ParallelCells = 1 << 13;

    /// <summary>The LSTM step: gates (N, 4H) get the bias, become i, f, g, o; c = f cPrev + i g; h = o tanh(c).</summary>
    public static void LstmStep(Span<float> gates, ReadOnlySpan<float> bias, ReadOnlySpan<float> cPrev, Span<float> c, Span<float> h, int hidden) =>
        Run(c.Length / hidden, hidden, new LstmRows(Pin(gates), Pin(bias), Pin(cPrev), Pin(c), Pin(h), hidden));

    /// <summary>Its backward: gates (activated) become their pre-activations' gradients; dc carries dc in (when dhNext is given) and dc_prev out.</summary>
    public static void LstmStepBackward(Span<float> gates, ReadOnlySpan<float> c, ReadOnlySpan<float> cPrev, ReadOnlySpan<float> dy, ReadOnlySpan<float> dhNext, Span<float> dc, int hidden) =>
        Run(c.Length / hidden, hidden, new LstmBackwardRows(Pin(gates), Pin(c), Pin(cPrev), Pin(dy), Pin(dhNext), Pin(dc), hidden));

    /// <summary>The GRU step: input gates (N, 3H) become r, z, n given the hidden projections; h = (1 - z) n + z hPrev.</summary>
    public static void GruStep(Span<float> inputGates, ReadOnlySpan<float> hiddenGates, ReadOnlySpan<float> hPrev, Span<float> h, int hidden) =>
        Run(h.Length / hidden, hidden, new GruRows(Pin(inputGates), Pin(hiddenGates), Pin(hPrev), Pin(h), hidden));

    private static void Run<TOp>(int rows, int hidden, TOp op)
        where TOp : struct, IRangeOp =>
        HostRanges.For(rows, (long)rows * hidden >= ParallelCells, 1, op);

    // The spans point into the CPU accelerator's buffers, native memory that never moves: carried into
    // the (possibly parallel) row op as pointer and length, since a struct that runs on other threads
    // cannot hold a span.
    private static unsafe Buffer Pin(ReadOnlySpan<float> span)
    {
        fixed (float* p = span)
            return new Buffer(p, span.Length);
    }

    private readonly unsafe struct Buffer(float* pointer, int length)
    {
        public bool IsEmpty => length == 0;

        public Span<float> Row(int row, int width) => new(pointer + (long)row * width, width);

        public Span<float> Slice(int start, int count) => new(pointer + start, count);
    }

    private readonly struct LstmRows(Buffer gates, Buffer bias, Buffer cPrev, Buffer c, Buffer h, int hidden) : IRangeOp
    {
        public void Run(int start, int count)
        {
            var b = bias.Slice(0, 4 * hidden);
            for (int row = start; row < start + count; row++)
            {
                var g = gates.Row(row, 4 * hidden);
                TensorPrimitives.Add(g, b, g);
                Span<float> i = g[..hidden], f = g.Slice(hidden, hidden), gg = g.Slice(2 * hidden, hidden), o = g[(3 * hidden)..];
                TensorPrimitives.Sigmoid(g[..(2 * hidden)], g[..(2 * hidden)]);
                TensorPrimitives.Tanh(gg, gg);
                TensorPrimitives.Sigmoid(o, o);
                Span<float> cell = c.Row(row, hidden), next = h.Row(row, hidden);
                if (cPrev.IsEmpty)
                    TensorPrimitives.Multiply(i, gg, cell);
                else
                    TensorPrimitives.MultiplyAdd(f, cPrev.Row(row, hidden), MultiplyInto(i, gg, next), cell);
                TensorPrimitives.Tanh(cell, next);
                TensorPrimitives.Multiply(o, next, next);
            }
        }

        // i g, into a scratch row that is overwritten right after.
        private static ReadOnlySpan<float> MultiplyInto(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> scratch)
        {
            TensorPrimitives.Multiply(a, b, scratch);
            return scratch;
        }
    }

    private readonly struct LstmBackwardRows(Buffer gates, Buffer c, Buffer cPrev, Buffer dy, Buffer dhNext, Buffer dc, int hidden) : IRangeOp
    {
        public void Run(int start, int count)
        {
            float[] scratch = System.Buffers.ArrayPool<float>.Shared.Rent(hidden);
            try
            {
                var tc = scratch.AsSpan(0, hidden);
                for (int row = start; row < start + count; row++)
                {
                    var g = gates.Row(row, 4 * hidden);
                    ReadOnlySpan<float> cell = c.Row(row, hidden), d = dy.Row(row, hidden);
                    ReadOnlySpan<float> previous = cPrev.IsEmpty ? default : cPrev.Row(row, hidden), carried = dhNext.IsEmpty ? default : dhNext.Row(row, hidden);
                    var dcs = dc.Row(row, hidden);
                    TensorPrimitives.Tanh(cell, tc);
                    for (int j = 0; j < hidden; j++)
                    {
                        float i = g[j], f = g[hidden + j], gg = g[2 * hidden + j], o = g[3 * hidden + j];
                        float dh = d[j] + (carried.IsEmpty ? 0f : carried[j]);
                        float t = tc[j];
                        float dcell = dh * o * (1f - t * t) + (carried.IsEmpty ? 0f : dcs[j]);
                        g[j] = dcell * gg * i * (1f - i);
                        g[hidden + j] = dcell * (previous.IsEmpty ? 0f : previous[j]) * f * (1f - f);
                        g[2 * hidden + j] = dcell * i * (1f - gg * gg);
                        g[3 * hidden + j] = dh * t * o * (1f - o);
                        dcs[j] = dcell * f;
                    }
                }
            }
            finally
            {
                System.Buffers.ArrayPool<float>.Shared.Return(scratch);
            }
        }
    }

    private readonly struct GruRows(Buffer inputGates, Buffer hiddenGates, Buffer hPrev, Buffer h, int hidden) : IRangeOp
    {
        public void Run(int start, int count)
        {
            for (int row = start; row < start + count; row++)
            {
                Span<float> gi = inputGates.Row(row, 3 * hidden), gh = hiddenGates.Row(row, 3 * hidden), next = h.Row(row, hidden);
                Span<float> rz = gi[..(2 * hidden)], r = gi[..hidden], z = gi.Slice(hidden, hidden), n = gi[(2 * hidden)..];
                TensorPrimitives.Add(rz, gh[..(2 * hidden)], rz);
                TensorPrimitives.Sigmoid(rz, rz);
                TensorPrimitives.MultiplyAdd(r, gh[(2 * hidden)..], n, n);
                TensorPrimitives.Tanh(n, n);
                ReadOnlySpan<float> previous = hPrev.IsEmpty ? default : hPrev.Row(row, hidden);
                for (int j = 0; j < hidden; j++)
                    next[j] = (1f - z[j]) * n[j] + z[j] * (previous.IsEmpty ? 0f : previous[j]);
            }
        }
    }
}
