using Gpu.Kernels;
using Gpu.Runtime.Backends;
using Gpu.Runtime.Backends.Host;
using Gpu.Runtime.Backends.Kernels;

namespace Gpu.Runtime;

public static partial class Ops
{
    /// <summary>
    /// torch.nn.functional.embedding: <paramref name="output"/> (ids..., dim) takes row <c>ids[p]</c>
    /// of <paramref name="weight"/> (vocabulary, dim) for each id (held as a float); an id outside
    /// [0, vocabulary) or not a whole number gives NaN (validate ids when loading data).
    /// </summary>
    public static void Embedding(Tensor ids, Tensor weight, Tensor output)
    {
        const string op = nameof(Embedding);
        var (d, dim, vocabulary) = CheckEmbedding(op, ids, weight, output, "output");
        Check.NoOverlap(op, output, "output", weight, "weight");
        if (output.Length > 0)
            d.Dispatch().Run(new EmbedOp(ids, weight, output, dim, vocabulary));
    }

    /// <summary>
    /// The embedding's backward: <c>gradWeight[v] += sum of gradOutput[p] over the positions p whose id is v</c>,
    /// summed in increasing p on every device (deterministic, no atomics).
    /// </summary>
    public static void EmbeddingBackward(Tensor ids, Tensor gradOutput, Tensor gradWeight)
    {
        const string op = nameof(EmbeddingBackward);
        var (d, dim, vocabulary) = CheckEmbedding(op, ids, gradWeight, gradOutput, "gradOutput");
        if (gradOutput.Length > 0)
            d.Dispatch().Run(new EmbedBackwardOp(ids, gradOutput, gradWeight, ids.Length, dim, vocabulary));
    }

    /// <summary>
    /// Adds a position table (T', D) (or its first T rows) to every sample of <paramref name="input"/>
    /// (N, T, D): <c>output[n, t] = input[n, t] + table[t]</c>. Output may be the input itself.
    /// </summary>
    public static void AddPositions(Tensor input, Tensor table, Tensor output)
    {
        const string op = nameof(AddPositions);
        var d = CheckUnary(op, input, output);
        Check.Usable(op, table, "table", d);
        Check.Rank(op, input, "input", 3);
        Check.Rank(op, table, "table", 2);
        if (input.Shape[1] > table.Shape[0] || input.Shape[2] != table.Shape[1])
            throw new ShapeMismatchException($"{op}: input {input.Shape} and table {table.Shape}: the table needs at least {input.Shape[1]} positions of {input.Shape[2]} values.");
        int block = input.Shape[1] * input.Shape[2];
        if (input.Length > 0)
            d.Dispatch().Run(new AddPositionsOp(input, table, output, block));
    }

    /// <summary>
    /// Swaps the first two axes of a rank-3 tensor: (A, B, C) into (B, A, C), as
    /// <c>x.transpose(0, 1).contiguous()</c>: batch-first sequences to time-major and back.
    /// </summary>
    public static void SwapLeadingAxes(Tensor input, Tensor output)
    {
        const string op = nameof(SwapLeadingAxes);
        var d = Check.Usable(op, input, "input");
        Check.Usable(op, output, "output", d);
        Check.Rank(op, input, "input", 3);
        Check.Rank(op, output, "output", 3);
        if (output.Shape[0] != input.Shape[1] || output.Shape[1] != input.Shape[0] || output.Shape[2] != input.Shape[2])
            throw new ShapeMismatchException($"{op}: input {input.Shape} swaps into ({input.Shape[1]}, {input.Shape[0]}, {input.Shape[2]}), not {output.Shape}.");
        Check.NoOverlap(op, output, "output", input, "input");
        if (input.Length > 0)
            d.Dispatch().Run(new SwapAxesOp(input, output, input.Shape[0], input.Shape[1], input.Shape[2]));
    }

    /// <summary>One time step of (N, T, H) sequences, <c>output = input[:, step]</c> (N, H); with <paramref name="backward"/>, its gradient: <c>input[:, step] = output</c>, 0 elsewhere.</summary>
    public static void TimeStep(Tensor sequence, Tensor step, int index, bool backward = false)
    {
        const string op = nameof(TimeStep);
        var d = Check.Usable(op, sequence, "sequence");
        Check.Usable(op, step, "step", d);
        Check.Rank(op, sequence, "sequence", 3);
        Check.Rank(op, step, "step", 2);
        if (step.Shape[0] != sequence.Shape[0] || step.Shape[1] != sequence.Shape[2])
            throw new ShapeMismatchException($"{op}: sequence {sequence.Shape} has steps ({sequence.Shape[0]}, {sequence.Shape[2]}), not {step.Shape}.");
        if (index < 0 || index >= sequence.Shape[1])
            throw new ArgumentOutOfRangeException(nameof(index), index, $"{op}: step {index} is outside the sequence's {sequence.Shape[1]} steps.");
        Check.NoOverlap(op, step, "step", sequence, "sequence");
        if (sequence.Length > 0)
            d.Dispatch().Run(new TimeStepOp(sequence, step, sequence.Shape[1], sequence.Shape[2], index, backward));
    }

    private static (Device Device, int Dim, int Vocabulary) CheckEmbedding(string op, Tensor ids, Tensor weight, Tensor rows, string role)
    {
        var d = Check.Usable(op, ids, "ids");
        Check.Usable(op, weight, "weight", d);
        Check.Usable(op, rows, role, d);
        Check.Rank(op, weight, "weight", 2);
        int vocabulary = weight.Shape[0], dim = weight.Shape[1];
        if (rows.Length != (long)ids.Length * dim || rows.Rank != ids.Rank + 1 || rows.Shape[rows.Rank - 1] != dim)
            throw new ShapeMismatchException($"{op}: ids {ids.Shape} and weight {weight.Shape} give ({string.Join(", ", ids.Shape.ToArray())}, {dim}), not {role} {rows.Shape}.");
        return (d, dim, vocabulary);
    }

    private readonly struct EmbedOp(Tensor ids, Tensor weight, Tensor y, int dim, int vocabulary) : IDeviceOp, IRangeOp
    {
        public void RunOnHost(HostBackend host) => HostRanges.For(ids.Length, y.Length >= 1 << 18, 1, this);

        // Positions [start, start + count): a row copied each (NaN for an id outside the table).
        public void Run(int start, int count)
        {
            var idSpan = ids.HostSpan;
            var w = weight.HostSpan;
            var ys = y.HostSpan;
            for (int p = start; p < start + count; p++)
            {
                int v = SequenceKernels.Row(idSpan[p], vocabulary);
                var row = ys.Slice(p * dim, dim);
                if (v >= 0)
                    w.Slice(v * dim, dim).CopyTo(row);
                else
                    row.Fill(float.NaN);
            }
        }

        public void RunOnKernels(KernelBackend k)
        {
            int n = y.Length, threads = k.Geometry.Threads(n);
            k.Kernels.Launch(SequenceKernels.Embed, k.Stream, threads, ids.Flat, weight.Flat, y.Flat, dim, vocabulary, n, threads);
        }
    }

    private readonly struct EmbedBackwardOp(Tensor ids, Tensor dy, Tensor dweight, int positions, int dim, int vocabulary) : IDeviceOp
    {
        // Positions in increasing order, each row added vector by vector: the kernel's order per column.
        public void RunOnHost(HostBackend host)
        {
            var idSpan = ids.HostSpan;
            var g = dy.HostSpan;
            var w = dweight.HostSpan;
            for (int p = 0; p < positions; p++)
            {
                int v = SequenceKernels.Row(idSpan[p], vocabulary);
                if (v < 0)
                    continue;
                var row = w.Slice(v * dim, dim);
                var add = g.Slice(p * dim, dim);
                HostOps.Add(row, add, row);
            }
        }

        public void RunOnKernels(KernelBackend k)
        {
            int threads = k.Geometry.Threads(dim);
            k.Kernels.Launch(SequenceKernels.EmbedBackward, k.Stream, threads, ids.Flat, dy.Flat, dweight.Flat, positions, dim, vocabulary, threads);
        }
    }

    private readonly struct AddPositionsOp(Tensor x, Tensor table, Tensor y, int block) : IDeviceOp, IRangeOp
    {
        public void RunOnHost(HostBackend host) => HostElementwise.For(y.Length / block, this);

        // Samples [start, start + count): each sample's block plus the table.
        public void Run(int start, int count)
        {
            var t = table.HostSpan[..block];
            for (int s = start; s < start + count; s++)
                HostOps.Add(x.HostSpan.Slice(s * block, block), t, y.HostSpan.Slice(s * block, block));
        }

        public void RunOnKernels(KernelBackend k)
        {
            int n = y.Length, threads = k.Geometry.Threads(n);
            k.Kernels.Launch(SequenceKernels.AddPositions, k.Stream, threads, x.Flat, table.Flat, y.Flat, block, n, threads);
        }
    }

    private readonly struct SwapAxesOp(Tensor x, Tensor y, int a, int b, int c) : IDeviceOp
    {
        // (a, b) blocks of c values copied to (b, a).
        public void RunOnHost(HostBackend host)
        {
            var xs = x.HostSpan;
            var ys = y.HostSpan;
            for (int i = 0; i < a; i++)
            {
                for (int j = 0; j < b; j++)
                    xs.Slice((i * b + j) * c, c).CopyTo(ys.Slice((j * a + i) * c, c));
            }
        }

        public void RunOnKernels(KernelBackend k)
        {
            int n = y.Length, threads = k.Geometry.Threads(n);
            k.Kernels.Launch(SequenceKernels.SwapAxes, k.Stream, threads, x.Flat, y.Flat, a, b, c, n, threads);
        }
    }

    private readonly struct TimeStepOp(Tensor sequence, Tensor step, int steps, int width, int index, bool backward) : IDeviceOp
    {
        public void RunOnHost(HostBackend host)
        {
            var s = sequence.HostSpan;
            var t = step.HostSpan;
            int rows = step.Shape[0];
            if (backward)
                s.Clear();
            for (int r = 0; r < rows; r++)
            {
                var slot = s.Slice((r * steps + index) * width, width);
                var value = t.Slice(r * width, width);
                if (backward)
                    value.CopyTo(slot);
                else
                    slot.CopyTo(value);
            }
        }

        public void RunOnKernels(KernelBackend k)
        {
            if (backward)
            {
                int n = sequence.Length, threads = k.Geometry.Threads(n);
                k.Kernels.Launch(SequenceKernels.PutStep, k.Stream, threads, step.Flat, sequence.Flat, steps, width, index, n, threads);
            }
            else
            {
                int n = step.Length, threads = k.Geometry.Threads(n);
                k.Kernels.Launch(SequenceKernels.TakeStep, k.Stream, threads, sequence.Flat, step.Flat, steps, width, index, n, threads);
            }
        }
    }
}
