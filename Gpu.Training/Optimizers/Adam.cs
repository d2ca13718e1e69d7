using Gpu.Runtime;

namespace Gpu.Training;

/// <summary>
/// torch.optim.Adam: per element, <c>m = b1 m + (1-b1) g</c>, <c>v = b2 v + (1-b2) g^2</c>,
/// <c>p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps)</c>, with L2 weight decay
/// <c>g += wd p</c> and optional amsgrad. One fused launch per step.
/// </summary>
public class Adam : Optimizer
{
    private readonly AdamSettings settings;
    private readonly Tensor m;
    private readonly Tensor v;
    private readonly Tensor? vmax;
    private readonly object options;

    public Adam(ParameterCollection parameters, AdamOptions? options = null)
        : this(parameters, options ?? new AdamOptions(), decoupled: false)
    {
    }

    private protected Adam(ParameterCollection parameters, object options, bool decoupled)
        : base(parameters)
    {
        this.options = options;
        settings = options switch
        {
            AdamOptions o => new AdamSettings(o.Lr, o.Beta1, o.Beta2, o.Eps, o.WeightDecay, decoupled, o.Amsgrad, o.L1, o.L2),
            AdamWOptions o => new AdamSettings(o.Lr, o.Beta1, o.Beta2, o.Eps, o.WeightDecay, decoupled, o.Amsgrad, o.L1, o.L2),
            _ => throw new ArgumentException("Unknown Adam options type.", nameof(options)),
        };
        settings.Validate(GetType().Name);
        m = NewState("exp_avg");
        v = NewState("exp_avg_sq");
        vmax = settings.Amsgrad ? NewState("max_exp_avg_sq") : null;
    }

    public override string Name => "adam";

    public override double LearningRate => settings.Lr;

    public override double L1 => settings.L1;

    public override double L2 => settings.L2;

    public override object Options => options;

    public override void Step()
    {
        StepCount++;
        Ops.AdamStep(Parameters.Values, Parameters.Gradients, m, v, vmax, StepCount, settings);
    }

    internal override IReadOnlyList<(string Name, Tensor Tensor)> State =>
        vmax is null ? [("exp_avg", m), ("exp_avg_sq", v)] : [("exp_avg", m), ("exp_avg_sq", v), ("max_exp_avg_sq", vmax)];
}

/// <summary>torch.optim.AdamW: the Adam step after a decoupled decay <c>p -= lr wd p</c> (default wd 0.01).</summary>
public sealed class AdamW(ParameterCollection parameters, AdamWOptions? options = null)
    : Adam(parameters, options ?? new AdamWOptions(), decoupled: true)
{
    public override string Name => "adamw";
}
