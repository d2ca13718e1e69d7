using System.Numerics.Tensors;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Gpu.Kernels;

namespace Gpu.Runtime.Backends.Host;

/// <summary>
/// The host fast path of the CPU device (<see cref="CpuProfile.Host"/>): every op as vectorised .NET
/// code run on the calling thread, directly on the CPU accelerator's memory. The same maths as the
/// kernels in Gpu.Kernels (their doc comments give the formulas and the PyTorch functions), without
/// the 60-150 µs a launch costs on ILGPU's CPU accelerator. Sums run in a fixed order (double
/// accumulators), so results are deterministic. The launchers in <see cref="Ops"/> validate
/// operands before calling here, exactly as for a kernel. The vector loops are compiled fully
/// optimised on first call (tier-0 vector code is several times slower, which showed in a short
/// run's first epochs).
/// </summary>
internal static unsafe class HostOps
{
    private static int Width => Vector<float>.Count;

    public static void Fill(Span<float> y, float value) => y.Fill(value);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Relu(ReadOnlySpan<float> x, Span<float> y)
    {
        // Loads and stores through refs: slicing a span per vector costs as much as the maths.
        ref float xs = ref MemoryMarshal.GetReference(x);
        ref float ys = ref MemoryMarshal.GetReference(y);
        nuint n = (nuint)x.Length, i = 0, width = (nuint)Width;
        for (; i + width <= n; i += width)
        {
            var v = Vector.LoadUnsafe(ref xs, i);
            // v <= 0 is false for NaN, so NaN propagates as in torch.relu.
            Vector.ConditionalSelect(Vector.LessThanOrEqual(v, Vector<float>.Zero), Vector<float>.Zero, v).StoreUnsafe(ref ys, i);
        }

        for (; i < n; i++)
        {
            float value = Unsafe.Add(ref xs, i);
            Unsafe.Add(ref ys, i) = value <= 0f ? 0f : value;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void ReluBackward(ReadOnlySpan<float> y, ReadOnlySpan<float> dy, Span<float> dx)
    {
        ref float ys = ref MemoryMarshal.GetReference(y);
        ref float dys = ref MemoryMarshal.GetReference(dy);
        ref float dxs = ref MemoryMarshal.GetReference(dx);
        nuint n = (nuint)y.Length, i = 0, width = (nuint)Width;
        for (; i + width <= n; i += width)
        {
            var mask = Vector.GreaterThan(Vector.LoadUnsafe(ref ys, i), Vector<float>.Zero);
            Vector.ConditionalSelect(mask, Vector.LoadUnsafe(ref dys, i), Vector<float>.Zero).StoreUnsafe(ref dxs, i);
        }

        for (; i < n; i++)
            Unsafe.Add(ref dxs, i) = Unsafe.Add(ref ys, i) > 0f ? Unsafe.Add(ref dys, i) : 0f;
    }

    /// <summary><c>y = a + b</c>, element by element (y may be a or b).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Add(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> y)
    {
        ref float ar = ref MemoryMarshal.GetReference(a);
        ref float br = ref MemoryMarshal.GetReference(b);
        ref float yr = ref MemoryMarshal.GetReference(y);
        nuint n = (nuint)y.Length, i = 0, width = (nuint)Width;
        for (; i + width <= n; i += width)
            (Vector.LoadUnsafe(ref ar, i) + Vector.LoadUnsafe(ref br, i)).StoreUnsafe(ref yr, i);
        for (; i < n; i++)
            Unsafe.Add(ref yr, i) = Unsafe.Add(ref ar, i) + Unsafe.Add(ref br, i);
    }

    public static void GatherRows(ReadOnlySpan<float> source, ReadOnlySpan<int> indices, int offset, Span<float> destination, int width)
    {
        int rows = width == 0 ? 0 : destination.Length / width;
        for (int r = 0; r < rows; r++)
            source.Slice(indices[offset + r] * width, width).CopyTo(destination.Slice(r * width, width));
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void ColumnSums(ReadOnlySpan<float> x, Span<float> output, int rows, int columns, bool accumulate)
    {
        // Bias gradients are narrow: keep the double accumulators off the heap on the training hot
        // path. Each row is added vector by vector, widened to double: the order per column is the
        // rows' order, so the result is deterministic.
        Span<double> sums = columns <= 512 ? stackalloc double[columns] : new double[columns];
        sums.Clear();
        ref float xs = ref MemoryMarshal.GetReference(x);
        ref double acc = ref MemoryMarshal.GetReference(sums);
        int width = Vector<float>.Count, half = Vector<double>.Count;
        for (int r = 0; r < rows; r++)
        {
            nuint row = (nuint)r * (nuint)columns;
            int j = 0;
            for (; j + width <= columns; j += width)
            {
                Vector.Widen(Vector.LoadUnsafe(ref xs, row + (nuint)j), out var low, out var high);
                (Vector.LoadUnsafe(ref acc, (nuint)j) + low).StoreUnsafe(ref acc, (nuint)j);
                (Vector.LoadUnsafe(ref acc, (nuint)(j + half)) + high).StoreUnsafe(ref acc, (nuint)(j + half));
            }

            for (; j < columns; j++)
                sums[j] += Unsafe.Add(ref xs, row + (nuint)j);
        }

        for (int j = 0; j < columns; j++)
            output[j] = accumulate ? output[j] + (float)sums[j] : (float)sums[j];
    }

    /// <summary>Sum of a pointwise loss's terms, in double, in element order.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static double PointwiseSum<TLoss>(TLoss loss, ReadOnlySpan<float> x, ReadOnlySpan<float> y)
        where TLoss : unmanaged, IPointwiseLoss
    {
        double sum = 0;
        for (int i = 0; i < x.Length; i++)
            sum += loss.Term(x[i], y[i]);
        return sum;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void PointwiseTerms<TLoss>(TLoss loss, ReadOnlySpan<float> x, ReadOnlySpan<float> y, Span<float> terms)
        where TLoss : unmanaged, IPointwiseLoss
    {
        for (int i = 0; i < x.Length; i++)
            terms[i] = loss.Term(x[i], y[i]);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void PointwiseBackward<TLoss>(TLoss loss, ReadOnlySpan<float> x, ReadOnlySpan<float> y, Span<float> grad, float scale)
        where TLoss : unmanaged, IPointwiseLoss
    {
        for (int i = 0; i < x.Length; i++)
            grad[i] = scale * loss.Gradient(x[i], y[i]);
    }

    // Rows are vectorised (TensorPrimitives' exp): the scalar MathF.Exp loop took 8 µs per 256-class
    // row, a sixth of a small GPT's training step.
    public static double CrossEntropy(ReadOnlySpan<float> logits, ReadOnlySpan<float> labels, int classes, Span<float> terms)
    {
        var scratch = System.Buffers.ArrayPool<float>.Shared.Rent(classes);
        try
        {
            double sum = 0;
            for (int r = 0; r < labels.Length; r++)
            {
                var row = logits.Slice(r * classes, classes);
                float total = SumExp(row, scratch.AsSpan(0, classes), out float max);
                int label = (int)labels[r];
                float t = label < 0 || label >= classes || label != labels[r] ? float.NaN : max + MathF.Log(total) - row[label];
                if (!terms.IsEmpty)
                    terms[r] = t;
                sum += t;
            }

            return sum;
        }
        finally
        {
            System.Buffers.ArrayPool<float>.Shared.Return(scratch);
        }
    }

    public static void CrossEntropyBackward(ReadOnlySpan<float> logits, ReadOnlySpan<float> labels, Span<float> grad, int classes, float scale)
    {
        for (int r = 0; r < labels.Length; r++)
        {
            var row = logits.Slice(r * classes, classes);
            var g = grad.Slice(r * classes, classes);
            float total = SumExp(row, g, out _);
            TensorPrimitives.Multiply(g, scale / total, g);
            int label = (int)labels[r];
            if (label >= 0 && label < classes)
                g[label] -= scale;
        }
    }

    /// <summary>Correct predictions: argmax of each row (the first, on ties) equals its class index; one column: logit &gt; 0 against target &gt;= 0.5.</summary>
    public static double Correct(ReadOnlySpan<float> logits, ReadOnlySpan<float> labels, int classes)
    {
        int correct = 0;
        for (int r = 0; r < labels.Length; r++)
        {
            if (classes == 1)
            {
                correct += (logits[r] > 0f) == (labels[r] >= 0.5f) ? 1 : 0;
                continue;
            }

            var row = logits.Slice(r * classes, classes);
            int best = 0;
            for (int j = 1; j < classes; j++)
            {
                if (row[j] > row[best])
                    best = j;
            }

            correct += best == (int)labels[r] ? 1 : 0;
        }

        return correct;
    }

    public static double Regularization(ReadOnlySpan<float> p, float l1, float l2)
    {
        double sum = 0;
        foreach (float w in p)
            sum += l1 * MathF.Abs(w) + l2 * w * w;
        return sum;
    }

    /// <summary>One optimizer step over a piece of the flat buffers: the rule's vector form, then its scalar form for the rest.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void OptimizerStep<TRule>(TRule rule, Span<float> p, ReadOnlySpan<float> g, Span<float> s0, Span<float> s1, Span<float> s2)
        where TRule : unmanaged, IOptimizerRule
    {
        int i = rule.UpdateVectors(p, g, s0, s1, s2);
        float unused0 = 0f, unused1 = 0f, unused2 = 0f;
        for (; i < p.Length; i++)
        {
            rule.Update(ref p[i], g[i], ref s0.IsEmpty ? ref unused0 : ref s0[i], ref s1.IsEmpty ? ref unused1 : ref s1[i],
                ref s2.IsEmpty ? ref unused2 : ref s2[i]);
        }
    }

    // sum_j exp(row[j] - max) with max the row maximum (the stable softmax denominator); the
    // exponentials are left in exps.
    private static float SumExp(ReadOnlySpan<float> row, Span<float> exps, out float max)
    {
        max = TensorPrimitives.Max(row);
        TensorPrimitives.Subtract(row, max, exps);
        TensorPrimitives.Exp(exps, exps);
        return TensorPrimitives.Sum(exps);
    }
}
