using Gpu.Runtime;

namespace Gpu.Training;

/// <summary>
/// torch.nn.BCEWithLogitsLoss: binary cross-entropy on logits (the model's raw outputs), computed in
/// the stable form <c>max(x, 0) - x y + log(1 + exp(-|x|))</c>. Targets are probabilities in [0, 1].
/// </summary>
public sealed class BCEWithLogitsLoss(Reduction reduction = Reduction.Mean) : PointwiseCriterion(PointwiseLoss.BceWithLogits, reduction), IRegistered<LossEntry>
{
    public static LossEntry Entry { get; } = new("bce", "torch.nn.BCEWithLogitsLoss, for binary or multi-label targets in [0, 1]", LossOutput.Sigmoid, ClassIndices: false, [],
        (_, reduction) => new BCEWithLogitsLoss(reduction));

    public override bool ReportsAccuracy(int outputs) => outputs == 1;

    public override void ValidateTargets(ReadOnlySpan<float> targets, int targetColumns, TensorShape outputShape)
    {
        base.ValidateTargets(targets, targetColumns, outputShape);
        for (int i = 0; i < targets.Length; i++)
        {
            if (!(targets[i] >= 0f && targets[i] <= 1f))
                throw new ArgumentException($"BCEWithLogitsLoss: target {i} is {targets[i]}; targets must lie in [0, 1].");
        }
    }
}
