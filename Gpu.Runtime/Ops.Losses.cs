using Gpu.Runtime.Backends;

namespace Gpu.Runtime;

public static partial class Ops
{
    /// <summary>
    /// torch.nn.MSELoss: <c>(input - target)^2</c> reduced by <paramref name="reduction"/>. The output is
    /// a one-element tensor for Mean and Sum (it stays on the device) and has the input's shape for None.
    /// </summary>
    public static void MseLoss(Tensor input, Tensor target, Tensor output, Reduction reduction = Reduction.Mean) =>
        ElementwiseLoss(nameof(MseLoss), TermKind.SquaredError, input, target, output, reduction);

    /// <summary>Gradient of <see cref="MseLoss"/> ('mean' or 'sum') with respect to the input: <c>2 (input - target) / n</c>.</summary>
    public static void MseLossBackward(Tensor input, Tensor target, Tensor gradInput, Reduction reduction = Reduction.Mean)
    {
        var (d, n, scale) = ElementwiseLossBackward(nameof(MseLossBackward), input, target, gradInput, reduction);
        if (n > 0)
            d.Dispatch().LossBackward(TermKind.SquaredError, input, target, gradInput, n, 1, scale);
    }

    /// <summary>torch.nn.BCEWithLogitsLoss on logits, in the stable form <c>max(x, 0) - x y + log(1 + exp(-|x|))</c>.</summary>
    public static void BceWithLogitsLoss(Tensor input, Tensor target, Tensor output, Reduction reduction = Reduction.Mean) =>
        ElementwiseLoss(nameof(BceWithLogitsLoss), TermKind.BceWithLogits, input, target, output, reduction);

    /// <summary>Gradient of <see cref="BceWithLogitsLoss"/>: <c>(sigmoid(x) - y) / n</c>.</summary>
    public static void BceWithLogitsLossBackward(Tensor input, Tensor target, Tensor gradInput, Reduction reduction = Reduction.Mean)
    {
        var (d, n, scale) = ElementwiseLossBackward(nameof(BceWithLogitsLossBackward), input, target, gradInput, reduction);
        if (n > 0)
            d.Dispatch().LossBackward(TermKind.BceWithLogits, input, target, gradInput, n, 1, scale);
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
            if (rows > 0)
                d.Dispatch().Terms(TermKind.CrossEntropy, logits, labels, output, rows, classes);
            return;
        }

        Check.Scalar(op, output, "output");
        d.Dispatch().Sum(TermKind.CrossEntropy, logits, labels, output, rows, classes, reduction == Reduction.Mean ? 1f / rows : 1f);
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
        d.Dispatch().LossBackward(TermKind.CrossEntropy, logits, labels, gradInput, rows, classes, scale);
    }

    /// <summary>
    /// The number of correct predictions of a classifier into a one-element <paramref name="output"/>:
    /// rows of <paramref name="logits"/> (B, C) whose largest value (the first, on ties) is at the
    /// class index in <paramref name="labels"/> (B); with one column (binary logits) a prediction is
    /// logit &gt; 0 and a label counts as 1 from 0.5.
    /// </summary>
    public static void CountCorrect(Tensor logits, Tensor labels, Tensor output)
    {
        const string op = nameof(CountCorrect);
        var d = CheckCrossEntropy(op, logits, labels);
        Check.Usable(op, output, "output", d);
        Check.Scalar(op, output, "output");
        d.Dispatch().Sum(TermKind.Correct, logits, labels, output, logits.Shape[0], logits.Shape[1], 1f);
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
        d.Dispatch().Sum(TermKind.Regularization, parameters, parameters, output, parameters.Length, 1, 1f, l1, l2);
    }

    private static void ElementwiseLoss(string op, TermKind term, Tensor input, Tensor target, Tensor output, Reduction reduction)
    {
        var d = Check.Usable(op, input, "input");
        Check.Usable(op, target, "target", d);
        Check.Usable(op, output, "output", d);
        Check.SameShape(op, input, "input", target, "target");
        int n = input.Length;
        if (reduction == Reduction.None)
        {
            Check.SameShape(op, input, "input", output, "output");
            if (n > 0)
                d.Dispatch().Terms(term, input, target, output, n, 1);
            return;
        }

        Check.Scalar(op, output, "output");
        Check.NoOverlap(op, output, "output", input, "input");
        d.Dispatch().Sum(term, input, target, output, n, 1, reduction == Reduction.Mean ? 1f / n : 1f);
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
}
