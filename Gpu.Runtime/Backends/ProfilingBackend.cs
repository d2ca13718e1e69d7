using System.Text;
using Gpu.Kernels;
using Gpu.Runtime.Profiling;

namespace Gpu.Runtime.Backends;

/// <summary>
/// The backend a device dispatches to while profiling (<see cref="Device.StartProfiling"/>): every
/// method times its call on the real backend under the op's name with the FLOPs and bytes it moves
/// (matrix products and convolutions by shape, so each shape is its own row). It exists only while
/// profiling, so an unprofiled run takes no branch and no timestamp for it.
/// </summary>
internal sealed class ProfilingBackend(Backend inner, OpProfiler profiler) : Backend
{
    private const double Float = sizeof(float);

    private readonly Dictionary<(int, int, int, int, int), string> matMulNames = [];
    private readonly Dictionary<(string, int, int, int, int, int), string> convNames = [];

    public OpProfiler Profiler => profiler;

    public override string Description => inner.Description;

    public override int CompiledKernels => inner.CompiledKernels;

    public override void CompileAll() => inner.CompileAll();

    public override void Zero(Tensor y)
    {
        var m = profiler.Start();
        inner.Zero(y);
        profiler.Stop(m, "fill", 0, Float * y.Length);
    }

    public override void Fill(Tensor y, float value)
    {
        var m = profiler.Start();
        inner.Fill(y, value);
        profiler.Stop(m, "fill", 0, Float * y.Length);
    }

    public override void Relu(Tensor x, Tensor y)
    {
        var m = profiler.Start();
        inner.Relu(x, y);
        profiler.Stop(m, "relu", 0, 2 * Float * y.Length);
    }

    public override void ReluBackward(Tensor y, Tensor dy, Tensor dx)
    {
        var m = profiler.Start();
        inner.ReluBackward(y, dy, dx);
        profiler.Stop(m, "relu_backward", 0, 3 * Float * dx.Length);
    }

    public override void Activation<TActivation>(TActivation f, Tensor x, Tensor y)
    {
        var m = profiler.Start();
        inner.Activation(f, x, y);
        profiler.Stop(m, NameCache<TActivation>.Forward, 0, 2 * Float * y.Length);
    }

    public override void ActivationBackward<TActivation>(TActivation f, Tensor x, Tensor y, Tensor dy, Tensor dx)
    {
        var m = profiler.Start();
        inner.ActivationBackward(f, x, y, dy, dx);
        profiler.Stop(m, NameCache<TActivation>.Backward, 0, 4 * Float * dx.Length);
    }

    public override void Multiply(Tensor a, Tensor b, Tensor y)
    {
        var m = profiler.Start();
        inner.Multiply(a, b, y);
        profiler.Stop(m, "multiply", y.Length, 3 * Float * y.Length);
    }

    public override void DropoutMask(Tensor mask, ulong seed, long step, long offset, int threshold, float scale)
    {
        var m = profiler.Start();
        inner.DropoutMask(mask, seed, step, offset, threshold, scale);
        profiler.Stop(m, "dropout_mask", 0, Float * mask.Length);
    }

    public override void GatherRows(Tensor source, IndexBuffer indices, int offset, Tensor destination, int rowLength)
    {
        var m = profiler.Start();
        inner.GatherRows(source, indices, offset, destination, rowLength);
        profiler.Stop(m, "gather_rows", 0, 2 * Float * destination.Length);
    }

    public override void MatMul(string op, Tensor a, Tensor b, Tensor c, Tensor? bias, MatMulShape shape, MatMulAlgorithm algorithm, bool relu = false)
    {
        var m = profiler.Start();
        inner.MatMul(op, a, b, c, bias, shape, algorithm, relu);
        double mk = (double)shape.M * shape.K, kn = (double)shape.K * shape.N, mn = (double)shape.M * shape.N;
        profiler.Stop(m, MatMulName(shape), 2 * mk * shape.N, Float * (mk + kn + mn * (shape.Accumulate + 1)));
    }

    public override void ColumnSums(Tensor x, Tensor y, int rows, int columns, bool accumulate)
    {
        var m = profiler.Start();
        inner.ColumnSums(x, y, rows, columns, accumulate);
        profiler.Stop(m, "column_sums", (double)rows * columns, Float * ((double)rows * columns + columns));
    }

    public override void Sum(TermKind term, Tensor a, Tensor b, Tensor output, int items, int width, float scale, float l1 = 0, float l2 = 0)
    {
        var m = profiler.Start();
        inner.Sum(term, a, b, output, items, width, scale, l1, l2);
        profiler.Stop(m, term switch { TermKind.CrossEntropy => "cross_entropy", TermKind.Correct => "accuracy", _ => "penalty" }, 0, Float * a.Length);
    }

    public override void CrossEntropyTerms(Tensor logits, Tensor labels, Tensor output, int rows, int classes)
    {
        var m = profiler.Start();
        inner.CrossEntropyTerms(logits, labels, output, rows, classes);
        profiler.Stop(m, "cross_entropy", 0, Float * (double)rows * classes);
    }

    public override void CrossEntropyBackward(Tensor logits, Tensor labels, Tensor grad, int rows, int classes, float scale)
    {
        var m = profiler.Start();
        inner.CrossEntropyBackward(logits, labels, grad, rows, classes, scale);
        profiler.Stop(m, "cross_entropy_backward", 0, 2 * Float * (double)rows * classes);
    }

    public override void PointwiseLossSum<TLoss>(TLoss loss, Tensor input, Tensor target, Tensor output, int n, float scale)
    {
        var m = profiler.Start();
        inner.PointwiseLossSum(loss, input, target, output, n, scale);
        profiler.Stop(m, NameCache<TLoss>.Forward, 0, 2 * Float * n);
    }

    public override void PointwiseLossTerms<TLoss>(TLoss loss, Tensor input, Tensor target, Tensor output, int n)
    {
        var m = profiler.Start();
        inner.PointwiseLossTerms(loss, input, target, output, n);
        profiler.Stop(m, NameCache<TLoss>.Forward, 0, 3 * Float * n);
    }

    public override void PointwiseLossBackward<TLoss>(TLoss loss, Tensor input, Tensor target, Tensor grad, int n, float scale)
    {
        var m = profiler.Start();
        inner.PointwiseLossBackward(loss, input, target, grad, n, scale);
        profiler.Stop(m, NameCache<TLoss>.Backward, 0, 3 * Float * n);
    }

    public override void OptimizerStep<TRule>(TRule rule, Tensor p, Tensor g, Tensor? s0, Tensor? s1, Tensor? s2)
    {
        var m = profiler.Start();
        inner.OptimizerStep(rule, p, g, s0, s1, s2);
        int states = (s0 is null ? 0 : 1) + (s1 is null ? 0 : 1) + (s2 is null ? 0 : 1);
        // Reads the parameters, gradients and states; writes the parameters and states.
        profiler.Stop(m, NameCache<TRule>.Forward, 0, Float * p.Length * (3 + 2 * states));
    }

    public override void Conv2d(Tensor x, Tensor w, Tensor? bias, Tensor y, ConvShape s, int outChannels, bool relu)
    {
        var m = profiler.Start();
        inner.Conv2d(x, w, bias, y, s, outChannels, relu);
        profiler.Stop(m, ConvName("conv2d", s, outChannels), ConvFlops(s, outChannels), Float * ((double)x.Length + w.Length + y.Length));
    }

    public override void Conv2dBackward(Tensor x, Tensor w, Tensor dy, Tensor dw, Tensor? dbias, Tensor? dx, ConvShape s, int outChannels)
    {
        var m = profiler.Start();
        inner.Conv2dBackward(x, w, dy, dw, dbias, dx, s, outChannels);
        // The weight gradient always, the input gradient when asked for: one forward's FLOPs each.
        double flops = ConvFlops(s, outChannels) * (dx is null ? 1 : 2);
        profiler.Stop(m, ConvName("conv2d_backward", s, outChannels), flops, Float * ((double)x.Length + w.Length + dy.Length + dw.Length + (dx?.Length ?? 0)));
    }

    public override void MaxPool(Tensor x, Tensor y, IndexBuffer indices, PoolShape s)
    {
        var m = profiler.Start();
        inner.MaxPool(x, y, indices, s);
        profiler.Stop(m, "max_pool", 0, Float * ((double)x.Length + 2 * y.Length));
    }

    public override void MaxPoolBackward(Tensor dy, IndexBuffer indices, Tensor dx, PoolShape s)
    {
        var m = profiler.Start();
        inner.MaxPoolBackward(dy, indices, dx, s);
        profiler.Stop(m, "max_pool_backward", 0, Float * (2.0 * dy.Length + dx.Length));
    }

    public override void AvgPool(Tensor x, Tensor y, PoolShape s)
    {
        var m = profiler.Start();
        inner.AvgPool(x, y, s);
        profiler.Stop(m, "avg_pool", 0, Float * ((double)x.Length + y.Length));
    }

    public override void AvgPoolBackward(Tensor dy, Tensor dx, PoolShape s)
    {
        var m = profiler.Start();
        inner.AvgPoolBackward(dy, dx, s);
        profiler.Stop(m, "avg_pool_backward", 0, Float * ((double)dy.Length + dx.Length));
    }

    public override void Run<TOp>(in TOp op)
    {
        var m = profiler.Start();
        inner.Run(op);
        var cost = op.Cost;
        profiler.Stop(m, NameCache<TOp>.Forward, cost.Flops, cost.Bytes);
    }

    // Not owned: the device disposes the real backend.
    public override void Dispose()
    {
    }

    // "matmul NT 64x20 k10": the form (which operand is transposed) and C's shape by K, so each
    // layer's products are their own rows; made once per shape, not per call.
    private string MatMulName(MatMulShape s)
    {
        var key = (s.TransposeA, s.TransposeB, s.M, s.N, s.K);
        if (!matMulNames.TryGetValue(key, out var name))
            matMulNames[key] = name = $"matmul {(s.TransposeA == 1 ? 'T' : 'N')}{(s.TransposeB == 1 ? 'T' : 'N')} {s.M}x{s.N} k{s.K}";
        return name;
    }

    private string ConvName(string op, ConvShape s, int outChannels)
    {
        var key = (op, s.Channels, outChannels, s.KernelSize, s.Height, s.Width);
        if (!convNames.TryGetValue(key, out var name))
            convNames[key] = name = $"{op} {s.Channels}->{outChannels} k{s.KernelSize} {s.Height}x{s.Width}";
        return name;
    }

    private static double ConvFlops(ConvShape s, int outChannels) => 2.0 * s.Batch * s.Positions * s.PatchLength * outChannels;

    /// <summary>A type's profile name in snake case without its role suffix: GeluTanhActivation is "gelu_tanh", AttentionForwardOp "attention_forward".</summary>
    internal static string SnakeName(Type type)
    {
        string name = type.Name;
        foreach (string suffix in new[] { "Activation", "Rule", "Term", "Op" })
        {
            if (name.Length > suffix.Length && name.EndsWith(suffix, StringComparison.Ordinal))
            {
                name = name[..^suffix.Length];
                break;
            }
        }

        var text = new StringBuilder();
        for (int i = 0; i < name.Length; i++)
        {
            if (char.IsUpper(name[i]) && i > 0)
                text.Append('_');
            text.Append(char.ToLowerInvariant(name[i]));
        }

        return text.ToString();
    }

    // One name per type, built once: a profiled op allocates no string for its name.
    private static class NameCache<T>
    {
        public static readonly string Forward = Kind(typeof(T)) is { } kind ? $"{kind} {SnakeName(typeof(T))}" : SnakeName(typeof(T));
        public static readonly string Backward = Forward + "_backward";

        private static string? Kind(Type type) =>
            typeof(IOptimizerRule).IsAssignableFrom(type) ? "optimizer" : typeof(IPointwiseLoss).IsAssignableFrom(type) ? "loss" : null;
    }
}
