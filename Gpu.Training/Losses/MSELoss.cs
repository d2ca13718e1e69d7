using Gpu.Runtime;

namespace Gpu.Training;

/// <summary>torch.nn.MSELoss: mean (or sum, or none) of <c>(input - target)^2</c>.</summary>
public sealed class MSELoss(Reduction reduction = Reduction.Mean) : PointwiseCriterion(PointwiseLoss.SquaredError, reduction), IRegistered<LossEntry>
{
    public static LossEntry Entry { get; } = new("mse", "torch.nn.MSELoss, for regression", LossOutput.None, ClassIndices: false, [],
        (_, reduction) => new MSELoss(reduction));
}
