using Gpu.Kernels;

namespace Gpu.Runtime;

/// <summary>Hyper-parameters of one RMSprop step (torch.optim.RMSprop semantics).</summary>
/// <param name="Lr">Learning rate, finite and &gt;= 0.</param>
/// <param name="Alpha">Smoothing constant of the squared-gradient average, in [0, 1].</param>
/// <param name="Eps">Added to the denominator, finite and &gt;= 0.</param>
/// <param name="WeightDecay">L2 term added to the gradient, &gt;= 0.</param>
/// <param name="Momentum">Momentum factor, &gt;= 0 (0: no momentum buffer).</param>
/// <param name="Centered">Normalise by the gradient's estimated variance instead of its second moment.</param>
public readonly record struct RmsPropSettings(double Lr, double Alpha = 0.99, double Eps = 1e-8, double WeightDecay = 0, double Momentum = 0, bool Centered = false)
{
    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> naming the first bad value.</summary>
    public void Validate(string op)
    {
        Check.Hyper(op, "lr", Lr, 0);
        Check.Hyper(op, "alpha", Alpha, 0, 1.0000001);
        Check.Hyper(op, "eps", Eps, 0);
        Check.Hyper(op, "weight_decay", WeightDecay, 0);
        Check.Hyper(op, "momentum", Momentum, 0);
    }
}

public static partial class Ops
{
    /// <summary>
    /// One fused RMSprop step over flat buffers: parameters, gradients, the squared-gradient average,
    /// the momentum buffer (needed when momentum &gt; 0) and the gradient average (needed when centered).
    /// </summary>
    public static void RmsPropStep(Tensor parameters, Tensor gradients, Tensor squareAverage, Tensor? momentumBuffer, Tensor? gradientAverage, RmsPropSettings settings)
    {
        const string op = nameof(RmsPropStep);
        settings.Validate(op);
        var d = CheckOptimizerBuffers(op, parameters, gradients, squareAverage, "square_avg");
        if (settings.Momentum > 0)
            CheckOptimizerBuffer(op, d, parameters, momentumBuffer ?? throw new ArgumentNullException(nameof(momentumBuffer), $"{op}: momentum > 0 needs a momentum_buffer."), "momentum_buffer");
        if (settings.Centered)
            CheckOptimizerBuffer(op, d, parameters, gradientAverage ?? throw new ArgumentNullException(nameof(gradientAverage), $"{op}: centered needs a grad_avg."), "grad_avg");

        var rule = new RmsPropRule
        {
            Lr = (float)settings.Lr,
            Alpha = (float)settings.Alpha,
            OneMinusAlpha = (float)(1 - settings.Alpha),
            Eps = (float)settings.Eps,
            WeightDecay = (float)settings.WeightDecay,
            Momentum = (float)settings.Momentum,
            Centered = settings.Centered ? 1 : 0,
        };
        if (parameters.Length > 0)
            d.Dispatch().OptimizerStep(rule, parameters, gradients, squareAverage, settings.Momentum > 0 ? momentumBuffer : null, settings.Centered ? gradientAverage : null);
    }
}
