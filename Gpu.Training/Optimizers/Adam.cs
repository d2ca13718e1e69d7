using Gpu.Runtime;

namespace Gpu.Training;

/// <summary>
/// torch.optim.Adam: per element, <c>m = b1 m + (1-b1) g</c>, <c>v = b2 v + (1-b2) g^2</c>,
/// <c>p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps)</c>, with L2 weight decay
/// <c>g += wd p</c> and optional amsgrad. One fused launch per step.
/// </summary>
public class Adam : Optimizer, IRegistered<OptimizerEntry>
{
    private readonly object options;
    private readonly double beta2;
    private readonly double eps;
    private readonly double weightDecay;
    private readonly bool amsgrad;
    private readonly bool decoupled;
    private double beta1;

    public Adam(ParameterCollection parameters, AdamOptions? options = null)
        : this(parameters, options ?? new AdamOptions(), decoupled: false)
    {
    }

    private protected Adam(ParameterCollection parameters, object options, bool decoupled)
        : base(parameters, options switch { AdamOptions o => o.Lr, AdamWOptions o => o.Lr, _ => throw new ArgumentException("Unknown Adam options type.", nameof(options)) })
    {
        this.options = options;
        this.decoupled = decoupled;
        (beta1, beta2, eps, weightDecay, amsgrad) = options switch
        {
            AdamOptions o => (o.Beta1, o.Beta2, o.Eps, o.WeightDecay, o.Amsgrad),
            AdamWOptions o => (o.Beta1, o.Beta2, o.Eps, o.WeightDecay, o.Amsgrad),
            _ => throw new ArgumentException("Unknown Adam options type.", nameof(options)),
        };
        Settings.Validate(GetType().Name);
        StateTensor("exp_avg");
        StateTensor("exp_avg_sq");
        if (amsgrad)
            StateTensor("max_exp_avg_sq");
    }

    /// <summary>The flags Adam and AdamW read: --weight-decay with its own default.</summary>
    private protected static OptimizerHyperparameter[] Flags(double weightDecay) =>
        [new(new Hyperparameter("--weight-decay", "weight decay", Default: weightDecay), nameof(AdamOptions.WeightDecay))];

    public static OptimizerEntry Entry { get; } = new("adam", "torch.optim.Adam", typeof(AdamOptions), Flags(0),
        (lr, h) => new AdamOptions(Lr: lr, WeightDecay: h.Number(Flags(0)[0].Parameter)),
        (p, o) => new Adam(p, (AdamOptions)o));

    /// <summary>beta1, which a one-cycle schedule cycles.</summary>
    public override double? Momentum
    {
        get => beta1;
        set
        {
            double b = value ?? throw new ArgumentNullException(nameof(value));
            if (!(b >= 0 && b < 1))
                throw new ArgumentOutOfRangeException(nameof(Momentum), b, $"{GetType().Name}: beta1 must lie in [0, 1), got {b}.");
            beta1 = b;
        }
    }

    public override object Options => options;

    public override void Step()
    {
        StepCount++;
        Ops.AdamStep(Parameters.Values, Parameters.Gradients, StateTensor("exp_avg"), StateTensor("exp_avg_sq"),
            amsgrad ? StateTensor("max_exp_avg_sq") : null, StepCount, Settings);
    }

    protected override bool KeepsState(string name) => name is "exp_avg" or "exp_avg_sq" || (amsgrad && name == "max_exp_avg_sq");

    private AdamSettings Settings => new(LearningRate, beta1, beta2, eps, weightDecay, decoupled, amsgrad);
}

/// <summary>torch.optim.AdamW: the Adam step after a decoupled decay <c>p -= lr wd p</c> (default wd 0.01).</summary>
public sealed class AdamW(ParameterCollection parameters, AdamWOptions? options = null)
    : Adam(parameters, options ?? new AdamWOptions(), decoupled: true), IRegistered<OptimizerEntry>
{
    public static new OptimizerEntry Entry { get; } = new("adamw", "torch.optim.AdamW", typeof(AdamWOptions), Flags(0.01),
        (lr, h) => new AdamWOptions(Lr: lr, WeightDecay: h.Number(Flags(0.01)[0].Parameter)),
        (p, o) => new AdamW(p, (AdamWOptions)o));
}
