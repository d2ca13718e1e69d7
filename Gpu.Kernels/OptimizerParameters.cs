namespace Gpu.Kernels;

/// <summary>
/// Scalars of one fused Adam/AdamW step. The runtime computes the bias corrections on the host in
/// double precision for step t (<c>StepSize = lr / (1 - beta1^t)</c>,
/// <c>BiasCorrection2Sqrt = sqrt(1 - beta2^t)</c>), exactly as torch.optim.Adam does before its update.
/// </summary>
public struct AdamParameters
{
    public float Lr;
    public float Beta1;
    public float OneMinusBeta1;
    public float Beta2;
    public float OneMinusBeta2;
    public float Eps;
    public float WeightDecay;

    /// <summary>1: AdamW's decoupled decay <c>p -= lr * wd * p</c>. 0: Adam's L2 term <c>g += wd * p</c>.</summary>
    public int Decoupled;

    /// <summary>1: use <c>vmax = max(vmax, v)</c> in the denominator (amsgrad).</summary>
    public int Amsgrad;

    public float StepSize;
    public float BiasCorrection2Sqrt;

    /// <summary>Gradient of the L1 penalty <c>l1 * sum |w|</c>: <c>l1 * sign(w)</c>.</summary>
    public float L1;

    /// <summary>Gradient of the L2 penalty <c>l2 * sum w^2</c>: <c>2 * l2 * w</c>.</summary>
    public float L2;
}

/// <summary>Scalars of one fused SGD step (torch.optim.SGD).</summary>
public struct SgdParameters
{
    public float Lr;
    public float Momentum;

    /// <summary><c>1 - dampening</c>, the weight of the new gradient in the momentum buffer.</summary>
    public float OneMinusDampening;
    public float WeightDecay;
    public int Nesterov;

    /// <summary>1 on the first step with momentum: the buffer starts as the gradient itself.</summary>
    public int FirstStep;
    public float L1;
    public float L2;
}
