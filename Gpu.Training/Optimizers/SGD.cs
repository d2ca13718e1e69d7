using Gpu.Runtime;

namespace Gpu.Training;

/// <summary>
/// torch.optim.SGD: <c>g += wd p</c>; with momentum <c>buf = mu buf + (1 - dampening) g</c> (the
/// buffer's first step <c>buf = g</c>) and <c>g = buf</c>, or <c>g + mu buf</c> for nesterov; then
/// <c>p -= lr g</c>. The momentum buffer is made on the first step with momentum, as PyTorch's is.
/// </summary>
public sealed class SGD : Optimizer, IRegistered<OptimizerEntry>
{
    private static readonly OptimizerHyperparameter[] Flags =
    [
        new(new Hyperparameter("--momentum", "momentum factor"), nameof(SGDOptions.Momentum)),
        new(new Hyperparameter("--weight-decay", "weight decay"), nameof(SGDOptions.WeightDecay)),
    ];

    private readonly SGDOptions options;
    private double momentum;
    private bool bufferStarted;

    public SGD(ParameterCollection parameters, SGDOptions? options = null)
        : base(parameters, (options ?? new SGDOptions()).Lr)
    {
        this.options = options ?? new SGDOptions();
        momentum = this.options.Momentum;
        Settings.Validate(nameof(SGD));
    }

    public static OptimizerEntry Entry { get; } = new("sgd", "torch.optim.SGD", typeof(SGDOptions), Flags,
        (lr, h) => new SGDOptions(Lr: lr, Momentum: h.Number(Flags[0].Parameter), WeightDecay: h.Number(Flags[1].Parameter)),
        (p, o) => new SGD(p, (SGDOptions)o));

    /// <summary>The momentum factor, which a one-cycle schedule cycles.</summary>
    public override double? Momentum
    {
        get => momentum;
        set => momentum = CheckedMomentum(value);
    }

    public override object Options => options;

    public override void Step()
    {
        var settings = Settings;
        settings.Validate(nameof(SGD));
        bool first = momentum > 0 && !bufferStarted;
        var buffer = momentum > 0 ? StateTensor("momentum_buffer") : null;
        Ops.SgdStep(Parameters.Values, Parameters.Gradients, buffer, first, settings);
        bufferStarted |= momentum > 0;
        StepCount++;
    }

    protected override bool KeepsState(string name) => name == "momentum_buffer";

    protected override void Restored(string name) => bufferStarted = true;

    private SgdSettings Settings => new(LearningRate, momentum, options.Dampening, options.WeightDecay, options.Nesterov);
}
