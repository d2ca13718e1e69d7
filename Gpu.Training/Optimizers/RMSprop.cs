using Gpu.Runtime;

namespace Gpu.Training;

/// <summary>torch.optim.RMSprop's options and defaults.</summary>
public sealed record RMSpropOptions(
    double Lr = 1e-2, double Alpha = 0.99, double Eps = 1e-8, double WeightDecay = 0, double Momentum = 0, bool Centered = false);

/// <summary>
/// torch.optim.RMSprop: divides the gradient by the root of its running squared average (centered:
/// of its running variance), with optional momentum and weight decay. One fused launch per step;
/// square_avg is made with the optimizer, momentum_buffer and grad_avg when first needed (zeros, as
/// PyTorch's). A one-cycle schedule cycles its momentum.
/// </summary>
public sealed class RMSprop : Optimizer, IRegistered<OptimizerEntry>
{
    private static readonly OptimizerHyperparameter[] Flags =
    [
        new(new Hyperparameter("--momentum", "momentum factor"), nameof(RMSpropOptions.Momentum)),
        new(new Hyperparameter("--weight-decay", "weight decay"), nameof(RMSpropOptions.WeightDecay)),
        new(new Hyperparameter("--alpha", "RMSprop's smoothing constant", Default: 0.99, Max: 1), nameof(RMSpropOptions.Alpha)),
        new(Hyperparameter.Switch("--centered", "RMSprop normalised by the gradient's variance"), nameof(RMSpropOptions.Centered)),
    ];

    private readonly RMSpropOptions options;
    private double momentum;

    public RMSprop(ParameterCollection parameters, RMSpropOptions? options = null)
        : base(parameters, (options ?? new RMSpropOptions()).Lr)
    {
        this.options = options ?? new RMSpropOptions();
        momentum = this.options.Momentum;
        Settings.Validate(nameof(RMSprop));
        StateTensor("square_avg");
    }

    public static OptimizerEntry Entry { get; } = new("rmsprop", "torch.optim.RMSprop", typeof(RMSpropOptions), Flags,
        (lr, h) => new RMSpropOptions(Lr: lr, Momentum: h.Number(Flags[0].Parameter), WeightDecay: h.Number(Flags[1].Parameter),
            Alpha: h.Number(Flags[2].Parameter), Centered: h.Switch(Flags[3].Parameter)),
        (p, o) => new RMSprop(p, (RMSpropOptions)o));

    /// <summary>The momentum factor, which a one-cycle schedule cycles.</summary>
    public override double? Momentum
    {
        get => momentum;
        set => momentum = CheckedMomentum(value);
    }

    public override object Options => options;

    public override void Step()
    {
        Ops.RmsPropStep(Parameters.Values, Parameters.Gradients, StateTensor("square_avg"),
            momentum > 0 ? StateTensor("momentum_buffer") : null, options.Centered ? StateTensor("grad_avg") : null, Settings);
        StepCount++;
    }

    protected override bool KeepsState(string name) => name is "square_avg" or "momentum_buffer" || (options.Centered && name == "grad_avg");

    private RmsPropSettings Settings => new(LearningRate, options.Alpha, options.Eps, options.WeightDecay, momentum, options.Centered);
}
