using Gpu.Runtime;

namespace Gpu.Training;

/// <summary>
/// torch.nn.HuberLoss(delta): with d = input - target, <c>0.5 d^2</c> where |d| &lt; delta and
/// <c>delta (|d| - 0.5 delta)</c> elsewhere, reduced by mean (or sum, or none): squared error near the
/// target, absolute error beyond delta, so outliers pull less than with MSE.
/// </summary>
public sealed class HuberLoss(float delta = 1f, Reduction reduction = Reduction.Mean) : PointwiseCriterion(PointwiseLoss.Huber(delta), reduction), IRegistered<LossEntry>
{
    private static readonly Hyperparameter DeltaFlag = new("--huber-delta", "where the Huber loss turns from squared to absolute error", Default: 1, MinExclusive: true);

    public static LossEntry Entry { get; } = new("huber", "torch.nn.HuberLoss, for regression robust to outliers", LossOutput.None, ClassIndices: false, [DeltaFlag],
        (h, reduction) => new HuberLoss((float)h.Number(DeltaFlag), reduction));

    /// <summary>Where the loss turns from quadratic to linear.</summary>
    public float Delta { get; } = delta;
}
