using Gpu.Runtime;

namespace Gpu.Training;

/// <summary>
/// torch.nn.CrossEntropyLoss over class indices: log_softmax of the logits (batch, classes), then the
/// negative log-likelihood of each row's class. Targets are one column of integers in [0, classes).
/// </summary>
public sealed class CrossEntropyLoss(Reduction reduction = Reduction.Mean) : Loss(reduction), IRegistered<LossEntry>
{
    public static LossEntry Entry { get; } = new("ce", "torch.nn.CrossEntropyLoss over class indices, for classification", LossOutput.Softmax, ClassIndices: true, [],
        (_, reduction) => new CrossEntropyLoss(reduction));

    public override bool ReportsAccuracy(int outputs) => true;

    public override void ValidateTargets(ReadOnlySpan<float> targets, int targetColumns, int modelOutputs)
    {
        if (targetColumns != 1)
            throw new ArgumentException($"CrossEntropyLoss: expected one target column of class indices, got {targetColumns}.");
        for (int i = 0; i < targets.Length; i++)
        {
            float t = targets[i];
            if (!(t >= 0 && t < modelOutputs) || t != MathF.Floor(t))
                throw new ArgumentException($"CrossEntropyLoss: target {i} is {t}; class indices must be integers in [0, {modelOutputs}).");
        }
    }

    private readonly ReshapedView labels = new();

    protected override Tensor PrepareTarget(Tensor input, Tensor target) =>
        target.Rank == 2 && target.Shape[1] == 1 ? labels.Of(target, static t => [t.Shape[0]]) : target;

    protected override int OutputColumns(Tensor input) => 1;

    protected override int[] NoneShape(Tensor input) => [input.Shape.Rows];

    protected override void Launch(Tensor input, Tensor target, Tensor output) => Ops.CrossEntropyLoss(input, target, output, Reduction);

    protected override void LaunchBackward(Tensor input, Tensor target, Tensor gradInput, float weight) =>
        Ops.CrossEntropyLossBackward(input, target, gradInput, Reduction, weight);
}
