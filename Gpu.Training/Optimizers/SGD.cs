using Gpu.Runtime;

namespace Gpu.Training;

/// <summary>
/// torch.optim.SGD: <c>g += wd p</c>; with momentum <c>buf = mu buf + (1 - dampening) g</c> (the first
/// step <c>buf = g</c>) and <c>g = buf</c>, or <c>g + mu buf</c> for nesterov; then <c>p -= lr g</c>.
/// </summary>
public sealed class SGD : Optimizer
{
    private readonly SgdSettings settings;
    private readonly SGDOptions options;
    private readonly Tensor? momentumBuffer;

    public SGD(ParameterCollection parameters, SGDOptions? options = null)
        : base(parameters)
    {
        this.options = options ?? new SGDOptions();
        settings = new SgdSettings(this.options.Lr, this.options.Momentum, this.options.Dampening, this.options.WeightDecay, this.options.Nesterov, this.options.L1, this.options.L2);
        settings.Validate(nameof(SGD));
        momentumBuffer = settings.Momentum > 0 ? NewState("momentum_buffer") : null;
    }

    public override string Name => "sgd";

    public override double LearningRate => settings.Lr;

    public override double L1 => settings.L1;

    public override double L2 => settings.L2;

    public override object Options => options;

    public override void Step()
    {
        Ops.SgdStep(Parameters.Values, Parameters.Gradients, momentumBuffer, firstStep: StepCount == 0, settings);
        StepCount++;
    }

    internal override IReadOnlyList<(string Name, Tensor Tensor)> State =>
        momentumBuffer is null ? [] : [("momentum_buffer", momentumBuffer)];
}
