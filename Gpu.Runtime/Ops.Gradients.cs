namespace Gpu.Runtime;

public static partial class Ops
{
    /// <summary>
    /// Adds the gradient of the penalty <c>l1 * sum |p| + l2 * sum p^2</c> to <paramref name="gradients"/>:
    /// <c>g += l1 sign(p) + 2 l2 p</c> (sign(0) = 0), the gradient PyTorch's autograd gives when the
    /// penalty is added to the loss.
    /// </summary>
    public static void AddRegularizationGradient(Tensor parameters, Tensor gradients, float l1, float l2)
    {
        const string op = nameof(AddRegularizationGradient);
        var d = CheckOptimizerBuffers(op, parameters, gradients, null, "");
        Check.Hyper(op, "l1", l1, 0);
        Check.Hyper(op, "l2", l2, 0);
        if (parameters.Length > 0 && (l1 != 0 || l2 != 0))
            d.Dispatch().AddPenaltyGradient(gradients, parameters, l1, l2);
    }

    /// <summary>
    /// torch.nn.utils.clip_grad_norm_ over one flat gradient: writes the sum of squares of
    /// <paramref name="gradients"/> into the one-element <paramref name="sumOfSquares"/> (the total
    /// 2-norm squared, kept on the device for a report), then scales every gradient by
    /// <c>min(maxNorm / (norm + 1e-6), 1)</c>. Two launches, no read-back.
    /// </summary>
    public static void ClipGradientNorm(Tensor gradients, float maxNorm, Tensor sumOfSquares)
    {
        const string op = nameof(ClipGradientNorm);
        var d = Check.Usable(op, gradients, "gradients");
        Check.Usable(op, sumOfSquares, "sumOfSquares", d);
        Check.Scalar(op, sumOfSquares, "sumOfSquares");
        Check.NoOverlap(op, sumOfSquares, "sumOfSquares", gradients, "gradients");
        if (!(float.IsFinite(maxNorm) && maxNorm > 0))
            throw new ArgumentOutOfRangeException(nameof(maxNorm), maxNorm, $"{op}: the largest norm must be a finite number > 0, got {maxNorm}.");
        RegularizationPenalty(gradients, 0f, 1f, sumOfSquares);
        if (gradients.Length > 0)
            d.Dispatch().ClipByNorm(gradients, sumOfSquares, maxNorm);
    }

    /// <summary>torch.nn.utils.clip_grad_value_: every gradient clamped to [-limit, limit] (NaN stays NaN).</summary>
    public static void ClipGradientValue(Tensor gradients, float limit)
    {
        const string op = nameof(ClipGradientValue);
        var d = Check.Usable(op, gradients, "gradients");
        if (!(float.IsFinite(limit) && limit > 0))
            throw new ArgumentOutOfRangeException(nameof(limit), limit, $"{op}: the limit must be a finite number > 0, got {limit}.");
        if (gradients.Length > 0)
            d.Dispatch().Clamp(gradients, limit);
    }
}
