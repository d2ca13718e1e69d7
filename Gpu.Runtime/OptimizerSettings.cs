namespace Gpu.Runtime;

/// <summary>
/// Hyper-parameters of one Adam or AdamW step (torch.optim.Adam / AdamW semantics). Doubles, so the
/// bias corrections are computed on the host in double precision as PyTorch does.
/// </summary>
/// <param name="Lr">Learning rate, finite and &gt;= 0.</param>
/// <param name="Beta1">First-moment decay in [0, 1).</param>
/// <param name="Beta2">Second-moment decay in [0, 1).</param>
/// <param name="Eps">Added to the denominator after bias correction, finite and &gt;= 0.</param>
/// <param name="WeightDecay">L2 term added to the gradient (Adam) or decoupled decay (AdamW), &gt;= 0.</param>
/// <param name="Decoupled">True for AdamW.</param>
/// <param name="Amsgrad">Use the running maximum of the second moment.</param>
public readonly record struct AdamSettings(
    double Lr, double Beta1, double Beta2, double Eps, double WeightDecay, bool Decoupled, bool Amsgrad)
{
    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> naming the first bad value.</summary>
    public void Validate(string op)
    {
        Check.Hyper(op, "lr", Lr, 0);
        Check.Hyper(op, "beta1", Beta1, 0, 1);
        Check.Hyper(op, "beta2", Beta2, 0, 1);
        Check.Hyper(op, "eps", Eps, 0);
        Check.Hyper(op, "weight_decay", WeightDecay, 0);
    }
}

/// <summary>Hyper-parameters of one SGD step (torch.optim.SGD semantics).</summary>
/// <param name="Lr">Learning rate, finite and &gt;= 0.</param>
/// <param name="Momentum">Momentum factor, finite and &gt;= 0.</param>
/// <param name="Dampening">Dampening of the momentum buffer's gradient term, finite and &gt;= 0.</param>
/// <param name="WeightDecay">L2 term added to the gradient, &gt;= 0.</param>
/// <param name="Nesterov">Nesterov momentum (needs momentum &gt; 0 and dampening 0, as in PyTorch).</param>
public readonly record struct SgdSettings(
    double Lr, double Momentum = 0, double Dampening = 0, double WeightDecay = 0, bool Nesterov = false)
{
    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> naming the first bad value.</summary>
    public void Validate(string op)
    {
        Check.Hyper(op, "lr", Lr, 0);
        Check.Hyper(op, "momentum", Momentum, 0);
        Check.Hyper(op, "dampening", Dampening, 0);
        Check.Hyper(op, "weight_decay", WeightDecay, 0);
        if (Nesterov && (Momentum <= 0 || Dampening != 0))
            throw new ArgumentException($"{op}: Nesterov momentum requires a momentum > 0 and zero dampening.", nameof(Nesterov));
    }
}
