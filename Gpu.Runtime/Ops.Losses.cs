using Gpu.Runtime.Backends;

namespace Gpu.Runtime;

public static partial class Ops
{
    /// <summary>
    /// A pointwise loss (<see cref="Runtime.PointwiseLoss"/>) of <paramref name="input"/> against
    /// <paramref name="target"/> (same shapes), reduced by <paramref name="reduction"/>. The output is a
    /// one-element tensor for Mean and Sum (it stays on the device) and has the input's shape for None.
    /// </summary>
    public static void PointwiseLoss(PointwiseLoss loss, Tensor input, Tensor target, Tensor output, Reduction reduction = Reduction.Mean)
    {
        ArgumentNullException.ThrowIfNull(loss);
        string op = loss.Name;
        var d = Check.Usable(op, input, "input");
        Check.Usable(op, target, "target", d);
        Check.Usable(op, output, "output", d);
        Check.SameShape(op, input, "input", target, "target");
        int n = input.Length;
        if (reduction == Reduction.None)
        {
            Check.SameShape(op, input, "input", output, "output");
            if (n > 0)
                loss.Terms(d.Dispatch(), input, target, output, n);
            return;
        }

        Check.Scalar(op, output, "output");
        Check.NoOverlap(op, output, "output", input, "input");
        loss.Sum(d.Dispatch(), input, target, output, n, reduction == Reduction.Mean ? 1f / n : 1f);
    }

    /// <summary>
    /// The gradient of <see cref="PointwiseLoss"/> ('mean' or 'sum') with respect to the input, times
    /// <paramref name="weight"/> (a batch's share of an accumulated step; 1 otherwise).
    /// </summary>
    public static void PointwiseLossBackward(PointwiseLoss loss, Tensor input, Tensor target, Tensor gradInput, Reduction reduction = Reduction.Mean, float weight = 1f)
    {
        ArgumentNullException.ThrowIfNull(loss);
        string op = loss.BackwardName;
        var d = Check.Usable(op, input, "input");
        Check.Usable(op, target, "target", d);
        Check.Usable(op, gradInput, "gradInput", d);
        Check.SameShape(op, input, "input", target, "target");
        Check.SameShape(op, input, "input", gradInput, "gradInput");
        RequireReduced(op, reduction);
        Check.Hyper(op, "weight", weight, 0);
        int n = input.Length;
        if (n > 0)
            loss.Backward(d.Dispatch(), input, target, gradInput, n, Scale(reduction, n, weight));
    }

    /// <summary>torch.nn.MSELoss: <c>(input - target)^2</c> reduced by <paramref name="reduction"/> (<see cref="PointwiseLoss"/> with <see cref="Runtime.PointwiseLoss.SquaredError"/>).</summary>
    public static void MseLoss(Tensor input, Tensor target, Tensor output, Reduction reduction = Reduction.Mean) =>
        PointwiseLoss(Runtime.PointwiseLoss.SquaredError, input, target, output, reduction);

    /// <summary>Gradient of <see cref="MseLoss"/> ('mean' or 'sum') with respect to the input: <c>2 (input - target) / n</c>.</summary>
    public static void MseLossBackward(Tensor input, Tensor target, Tensor gradInput, Reduction reduction = Reduction.Mean) =>
        PointwiseLossBackward(Runtime.PointwiseLoss.SquaredError, input, target, gradInput, reduction);

    /// <summary>torch.nn.BCEWithLogitsLoss on logits, in the stable form <c>max(x, 0) - x y + log(1 + exp(-|x|))</c>.</summary>
    public static void BceWithLogitsLoss(Tensor input, Tensor target, Tensor output, Reduction reduction = Reduction.Mean) =>
        PointwiseLoss(Runtime.PointwiseLoss.BceWithLogits, input, target, output, reduction);

    /// <summary>Gradient of <see cref="BceWithLogitsLoss"/>: <c>(sigmoid(x) - y) / n</c>.</summary>
    public static void BceWithLogitsLossBackward(Tensor input, Tensor target, Tensor gradInput, Reduction reduction = Reduction.Mean) =>
        PointwiseLossBackward(Runtime.PointwiseLoss.BceWithLogits, input, target, gradInput, reduction);

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
                d.Dispatch().CrossEntropyTerms(logits, labels, output, rows, classes);
            return;
        }

        Check.Scalar(op, output, "output");
        d.Dispatch().Sum(TermKind.CrossEntropy, logits, labels, output, rows, classes, reduction == Reduction.Mean ? 1f / rows : 1f);
    }

    /// <summary>Gradient of <see cref="CrossEntropyLoss"/>: <c>(softmax(logits) - onehot(label)) / B</c>, times <paramref name="weight"/>.</summary>
    public static void CrossEntropyLossBackward(Tensor logits, Tensor labels, Tensor gradInput, Reduction reduction = Reduction.Mean, float weight = 1f)
    {
        const string op = nameof(CrossEntropyLossBackward);
        var d = CheckCrossEntropy(op, logits, labels);
        Check.Usable(op, gradInput, "gradInput", d);
        Check.SameShape(op, logits, "logits", gradInput, "gradInput");
        RequireReduced(op, reduction);
        Check.Hyper(op, "weight", weight, 0);
        int rows = logits.Shape[0], classes = logits.Shape[1];
        if (rows == 0)
            return;
        d.Dispatch().CrossEntropyBackward(logits, labels, gradInput, rows, classes, Scale(reduction, rows, weight));
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

    // 'mean' divides by the count, 'sum' does not; the weight multiplies both.
    private static float Scale(Reduction reduction, int count, float weight) =>
        reduction == Reduction.Mean ? weight / count : weight;

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
