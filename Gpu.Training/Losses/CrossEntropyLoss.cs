using Gpu.Runtime;

namespace Gpu.Training;

/// <summary>
/// torch.nn.CrossEntropyLoss over class indices: log_softmax of the logits over their last axis (the
/// classes), then the negative log-likelihood of each position's class. Logits (batch, classes) take
/// one target column; per-position logits (batch, T, classes), a language model's, take T target
/// columns, as <c>F.cross_entropy(logits.view(-1, V), targets.view(-1))</c>: 'mean' averages over
/// every position of every sample. Targets are integers in [0, classes).
/// </summary>
public sealed class CrossEntropyLoss(Reduction reduction = Reduction.Mean) : Loss(reduction), IRegistered<LossEntry>
{
    private readonly ReshapedView labels = new();
    private readonly ReshapedView logits = new();
    private readonly ReshapedView gradients = new();
    private readonly ReshapedView scoredLogits = new();

    public static LossEntry Entry { get; } = new("ce", "torch.nn.CrossEntropyLoss over class indices, for classification", LossOutput.Softmax, ClassIndices: true, [],
        (_, reduction) => new CrossEntropyLoss(reduction));

    public override bool ReportsAccuracy(int outputs) => true;

    /// <summary>One prediction per position: the model's outputs over the classes (the last axis).</summary>
    public override int PredictionsPerSample(TensorShape outputShape) => outputShape.Rank == 0 ? 1 : outputShape.Length / outputShape[outputShape.Rank - 1];

    public override void ValidateTargets(ReadOnlySpan<float> targets, int targetColumns, TensorShape outputShape)
    {
        int classes = outputShape[outputShape.Rank - 1], positions = PredictionsPerSample(outputShape);
        if (targetColumns != positions)
            throw new ArgumentException(positions == 1
                ? $"CrossEntropyLoss: expected one target column of class indices, got {targetColumns}."
                : $"CrossEntropyLoss: the model gives logits for {positions} positions a sample, but the targets have {targetColumns} columns.");
        for (int i = 0; i < targets.Length; i++)
        {
            float t = targets[i];
            if (!(t >= 0 && t < classes) || t != MathF.Floor(t))
                throw new ArgumentException($"CrossEntropyLoss: target {i} is {t}; class indices must be integers in [0, {classes}).");
        }
    }

    // Class indices as one flat vector, a position each.
    protected override Tensor PrepareTarget(Tensor input, Tensor target) =>
        target.Rank == 1 ? target : labels.Of(target, static t => [t.Length]);

    protected override int OutputColumns(Tensor input) => PredictionsPerSample(input);

    protected override int[] NoneShape(Tensor input) => input.Shape.ToArray()[..^1];

    protected override void Launch(Tensor input, Tensor target, Tensor output) =>
        Ops.CrossEntropyLoss(Matrix(logits, input), target, Reduction == Reduction.None && output.Rank != 1 ? output.Reshape(output.Length) : output, Reduction);

    protected override void LaunchBackward(Tensor input, Tensor target, Tensor gradInput, float weight) =>
        Ops.CrossEntropyLossBackward(Matrix(logits, input), target, Matrix(gradients, gradInput), Reduction, weight);

    protected override void LaunchCountCorrect(Tensor input, Tensor target, Tensor output) => Ops.CountCorrect(Matrix(scoredLogits, input), target, output);

    // Logits (batch, ..., classes) as the (positions, classes) matrix the ops take; a matrix as it is.
    private static Tensor Matrix(ReshapedView view, Tensor tensor) =>
        tensor.Rank == 2 ? tensor : view.Of(tensor, static t => [t.Length / t.Shape[t.Rank - 1], t.Shape[t.Rank - 1]]);

    private static int PredictionsPerSample(Tensor input) => input.Rank < 2 ? 1 : input.Length / input.Shape[0] / input.Shape[input.Rank - 1];
}
