using Gpu.Kernels;
using ILGPU;

namespace Gpu.Runtime;

public static partial class Ops
{
    /// <summary>
    /// torch.nn.MSELoss: <c>(input - target)^2</c> reduced by <paramref name="reduction"/>. The output is
    /// a one-element tensor for Mean and Sum (it stays on the device) and has the input's shape for None.
    /// </summary>
    public static void MseLoss(Tensor input, Tensor target, Tensor output, Reduction reduction = Reduction.Mean) =>
        ElementwiseLoss(nameof(MseLoss), default(SquaredErrorTerm), input, target, output, reduction, HostMse);

    /// <summary>Gradient of <see cref="MseLoss"/> ('mean' or 'sum') with respect to the input: <c>2 (input - target) / n</c>.</summary>
    public static void MseLossBackward(Tensor input, Tensor target, Tensor gradInput, Reduction reduction = Reduction.Mean)
    {
        var (d, n, scale) = ElementwiseLossBackward(nameof(MseLossBackward), input, target, gradInput, reduction);
        if (n == 0)
            return;
        if (d.IsHost)
        {
            d.BeginHostOp();
            Host.HostOps.MseBackward(input.HostSpan, target.HostSpan, gradInput.HostSpan, 2f * scale);
            return;
        }

        int threads = d.Geometry.Threads(n);
        d.Kernels.MseBackward(d.Stream, threads, input.View, target.View, gradInput.View, 2f * scale, n, threads);
    }

    /// <summary>torch.nn.BCEWithLogitsLoss on logits, in the stable form <c>max(x, 0) - x y + log(1 + exp(-|x|))</c>.</summary>
    public static void BceWithLogitsLoss(Tensor input, Tensor target, Tensor output, Reduction reduction = Reduction.Mean) =>
        ElementwiseLoss(nameof(BceWithLogitsLoss), default(BceWithLogitsTerm), input, target, output, reduction,
            (x, y, terms, _) => Host.HostOps.BceWithLogits(x, y, terms));

    /// <summary>Gradient of <see cref="BceWithLogitsLoss"/>: <c>(sigmoid(x) - y) / n</c>.</summary>
    public static void BceWithLogitsLossBackward(Tensor input, Tensor target, Tensor gradInput, Reduction reduction = Reduction.Mean)
    {
        var (d, n, scale) = ElementwiseLossBackward(nameof(BceWithLogitsLossBackward), input, target, gradInput, reduction);
        if (n == 0)
            return;
        if (d.IsHost)
        {
            d.BeginHostOp();
            Host.HostOps.BceWithLogitsBackward(input.HostSpan, target.HostSpan, gradInput.HostSpan, scale);
            return;
        }

        int threads = d.Geometry.Threads(n);
        d.Kernels.BceWithLogitsBackward(d.Stream, threads, input.View, target.View, gradInput.View, scale, n, threads);
    }

    /// <summary>
    /// torch.nn.CrossEntropyLoss over class indices: logits (B, C), labels (B) holding integers in
    /// [0, C) as floats; <c>logsumexp(logits[r]) - logits[r, label[r]]</c> reduced over the batch.
    /// A label outside [0, C) produces NaN (validate labels when loading data).
    /// </summary>
    public static void CrossEntropyLoss(Tensor logits, Tensor labels, Tensor output, Reduction reduction = Reduction.Mean)
    {
        const string op = nameof(CrossEntropyLoss);
        var d = CheckCrossEntropy(op, logits, labels);
        Check.Usable(op, output, "output", d);
        int rows = logits.Shape[0], classes = logits.Shape[1];
        if (reduction == Reduction.None)
        {
            if (output.Length != rows)
                throw new ShapeMismatchException($"{op}: logits {logits.Shape} and output {output.Shape}: reduction 'none' needs {rows} outputs.");
            if (d.IsHost)
            {
                d.BeginHostOp();
                Host.HostOps.CrossEntropy(logits.HostSpan, labels.HostSpan, classes, output.HostSpan);
                return;
            }

            LaunchTerms(d, default(CrossEntropyTerm), logits, labels, output, rows, classes);
            return;
        }

        Check.Scalar(op, output, "output");
        if (d.IsHost)
        {
            d.BeginHostOp();
            double sum = Host.HostOps.CrossEntropy(logits.HostSpan, labels.HostSpan, classes, []);
            output.HostSpan[0] = (float)(reduction == Reduction.Mean ? sum / rows : sum);
            return;
        }

        Reduce(d, default(CrossEntropyTerm), logits, labels, output, rows, classes, reduction == Reduction.Mean ? 1f / rows : 1f);
    }

    /// <summary>Gradient of <see cref="CrossEntropyLoss"/>: <c>(softmax(logits) - onehot(label)) / B</c>.</summary>
    public static void CrossEntropyLossBackward(Tensor logits, Tensor labels, Tensor gradInput, Reduction reduction = Reduction.Mean)
    {
        const string op = nameof(CrossEntropyLossBackward);
        var d = CheckCrossEntropy(op, logits, labels);
        Check.Usable(op, gradInput, "gradInput", d);
        Check.SameShape(op, logits, "logits", gradInput, "gradInput");
        RequireReduced(op, reduction);
        int rows = logits.Shape[0], classes = logits.Shape[1];
        if (rows == 0)
            return;
        float scale = reduction == Reduction.Mean ? 1f / rows : 1f;
        if (d.IsHost)
        {
            d.BeginHostOp();
            Host.HostOps.CrossEntropyBackward(logits.HostSpan, labels.HostSpan, gradInput.HostSpan, classes, scale);
            return;
        }

        int threads = d.Geometry.Threads(rows);
        d.Kernels.CrossEntropyBackward(d.Stream, threads, logits.View, labels.View, gradInput.View, scale, rows, classes, threads);
    }

    /// <summary>
    /// The regularization penalty <c>l1 * sum |p| + l2 * sum p^2</c> over every element of
    /// <paramref name="parameters"/>, into a one-element <paramref name="output"/>.
    /// </summary>
    public static void RegularizationPenalty(Tensor parameters, float l1, float l2, Tensor output)
    {
        const string op = nameof(RegularizationPenalty);
        var d = Check.Usable(op, parameters, "parameters");
        Check.Usable(op, output, "output", d);
        Check.Scalar(op, output, "output");
        Check.Hyper(op, "l1", l1, 0);
        Check.Hyper(op, "l2", l2, 0);
        if (d.IsHost)
        {
            d.BeginHostOp();
            output.HostSpan[0] = (float)Host.HostOps.Regularization(parameters.HostSpan, l1, l2);
            return;
        }

        Reduce(d, new RegularizationTerm { L1 = l1, L2 = l2 }, parameters, parameters, output, parameters.Length, 1, 1f);
    }

    /// <summary>A loss on the host: returns the sum of the terms and writes each term when <c>terms</c> is not empty.</summary>
    private delegate double HostLoss(ReadOnlySpan<float> input, ReadOnlySpan<float> target, Span<float> terms, int width);

    private static double HostMse(ReadOnlySpan<float> x, ReadOnlySpan<float> y, Span<float> terms, int width)
    {
        if (terms.IsEmpty)
            return Host.HostOps.SquaredError(x, y);
        Host.HostOps.SquaredErrorTerms(x, y, terms);
        return 0;
    }

    private static void ElementwiseLoss<TTerm>(string op, TTerm term, Tensor input, Tensor target, Tensor output, Reduction reduction, HostLoss host)
        where TTerm : unmanaged, IReductionTerm
    {
        var d = Check.Usable(op, input, "input");
        Check.Usable(op, target, "target", d);
        Check.Usable(op, output, "output", d);
        Check.SameShape(op, input, "input", target, "target");
        int n = input.Length;
        if (reduction == Reduction.None)
        {
            Check.SameShape(op, input, "input", output, "output");
            if (d.IsHost)
            {
                d.BeginHostOp();
                host(input.HostSpan, target.HostSpan, output.HostSpan, 1);
                return;
            }

            LaunchTerms(d, term, input, target, output, n, 1);
            return;
        }

        Check.Scalar(op, output, "output");
        Check.NoOverlap(op, output, "output", input, "input");
        if (d.IsHost)
        {
            d.BeginHostOp();
            double sum = host(input.HostSpan, target.HostSpan, [], 1);
            output.HostSpan[0] = (float)(reduction == Reduction.Mean ? sum / n : sum);
            return;
        }

        Reduce(d, term, input, target, output, n, 1, reduction == Reduction.Mean ? 1f / n : 1f);
    }

    private static (Device Device, int N, float Scale) ElementwiseLossBackward(
        string op, Tensor input, Tensor target, Tensor gradInput, Reduction reduction)
    {
        var d = Check.Usable(op, input, "input");
        Check.Usable(op, target, "target", d);
        Check.Usable(op, gradInput, "gradInput", d);
        Check.SameShape(op, input, "input", target, "target");
        Check.SameShape(op, input, "input", gradInput, "gradInput");
        RequireReduced(op, reduction);
        int n = input.Length;
        return (d, n, reduction == Reduction.Mean ? 1f / n : 1f);
    }

    private static void RequireReduced(string op, Reduction reduction)
    {
        if (reduction == Reduction.None)
            throw new ArgumentException($"{op}: reduction 'none' has no scalar loss to differentiate; use 'mean' or 'sum'.", nameof(reduction));
    }

    private static Device CheckCrossEntropy(string op, Tensor logits, Tensor labels)
    {
        var d = Check.Usable(op, logits, "logits");
        Check.Usable(op, labels, "labels", d);
        Check.Rank(op, logits, "logits", 2);
        if (labels.Length != logits.Shape[0])
            throw new ShapeMismatchException($"{op}: logits {logits.Shape} and labels {labels.Shape}: {logits.Shape[0]} != {labels.Length} rows.");
        if (logits.Shape[1] == 0)
            throw new ShapeMismatchException($"{op}: logits {logits.Shape} have no classes.");
        return d;
    }

    // sum_i term(i) * scale into output[0]: a fixed-order two-stage reduction (deterministic).
    private static void Reduce<TTerm>(Device d, TTerm term, Tensor a, Tensor b, Tensor output, int items, int width, float scale)
        where TTerm : unmanaged, IReductionTerm
    {
        int groupSize = d.Geometry.ReductionGroupSize;
        int groups = d.Geometry.ReductionGroups(items);
        var partials = d.ReductionScratch.View;
        d.Kernels.PartialSums<TTerm>()(d.Stream, new KernelConfig(groups, groupSize), a.View, b.View, partials, term, items, width);
        d.Kernels.FinalSum(d.Stream, new KernelConfig(1, groupSize), partials, output.View, groups, scale);
    }

    private static void LaunchTerms<TTerm>(Device d, TTerm term, Tensor a, Tensor b, Tensor output, int items, int width)
        where TTerm : unmanaged, IReductionTerm
    {
        if (items == 0)
            return;
        int threads = d.Geometry.Threads(items);
        d.Kernels.Terms<TTerm>()(d.Stream, threads, a.View, b.View, output.View, term, items, width, threads);
    }
}
