using Gpu.Runtime;

namespace Gpu.Training;

/// <summary>
/// An elementwise activation module over any input shape: forward keeps its input and output,
/// backward computes <c>dx = f'(x) dy</c> from them (<see cref="Ops.Activation"/>).
/// </summary>
public abstract class ElementwiseActivation(Activation activation, float slope = 0.01f) : Module
{
    private readonly Workspace output = new();
    private readonly Workspace gradInput = new();
    private Tensor? lastInput;
    private Tensor? lastOutput;
    private TensorShape? sample;

    public override TensorShape OutputShapeFor(TensorShape input) => input;

    public override bool PreservesShape => true;

    public override Tensor Forward(Tensor input)
    {
        var device = RequireDevice();
        sample = Samples.Of(input, sample);
        var y = output.Get(device, input.Shape[0], sample);
        Ops.Activation(activation, input, y, slope);
        lastInput = input;
        lastOutput = y;
        return y;
    }

    public override Tensor? Backward(Tensor gradOutput)
    {
        var device = RequireDevice();
        var y = lastOutput ?? throw new InvalidOperationException($"{this}: Backward called before Forward.");
        if (!ComputesInputGradient)
            return null;
        var dx = gradInput.Get(device, y.Shape[0], sample!);
        Ops.ActivationBackward(activation, lastInput!, y, gradOutput, dx, slope);
        return dx;
    }

    public override void Dispose()
    {
        output.Dispose();
        gradInput.Dispose();
        base.Dispose();
    }
}

/// <summary>torch.nn.Tanh.</summary>
public sealed class Tanh() : ElementwiseActivation(Activation.Tanh)
{
    public override string TypeName => "Tanh";

    public override LayerSpec Spec => new TanhSpec();

    public override string ToString() => "Tanh()";
}

/// <summary>torch.nn.Sigmoid.</summary>
public sealed class Sigmoid() : ElementwiseActivation(Activation.Sigmoid)
{
    public override string TypeName => "Sigmoid";

    public override LayerSpec Spec => new SigmoidSpec();

    public override string ToString() => "Sigmoid()";
}

/// <summary>torch.nn.GELU in its exact form <c>x Phi(x)</c> (PyTorch's default, approximate='none').</summary>
public sealed class GELU() : ElementwiseActivation(Activation.Gelu)
{
    public override string TypeName => "GELU";

    public override LayerSpec Spec => new GELUSpec();

    public override string ToString() => "GELU(approximate='none')";
}

/// <summary>torch.nn.LeakyReLU: <c>x</c> for x &gt; 0, else <c>negative_slope x</c> (default 0.01).</summary>
public sealed class LeakyReLU(float negativeSlope = 0.01f) : ElementwiseActivation(Activation.LeakyRelu, CheckSlope(negativeSlope))
{
    public float NegativeSlope { get; } = negativeSlope;

    public override string TypeName => "LeakyReLU";

    public override LayerSpec Spec => new LeakyReLUSpec(NegativeSlope);

    public override string ToString() => $"LeakyReLU(negative_slope={NegativeSlope.ToString("R", System.Globalization.CultureInfo.InvariantCulture)})";

    private static float CheckSlope(float slope) =>
        float.IsFinite(slope) ? slope : throw new ArgumentOutOfRangeException(nameof(negativeSlope), slope, "LeakyReLU: the negative slope must be finite.");
}

/// <summary>Describes a <see cref="Tanh"/> layer.</summary>
[LayerType("Tanh")]
public sealed record TanhSpec : LayerSpec
{
    public override Module Create() => new Tanh();
}

/// <summary>Describes a <see cref="Sigmoid"/> layer.</summary>
[LayerType("Sigmoid")]
public sealed record SigmoidSpec : LayerSpec
{
    public override Module Create() => new Sigmoid();
}

/// <summary>Describes a <see cref="GELU"/> layer.</summary>
[LayerType("GELU")]
public sealed record GELUSpec : LayerSpec
{
    public override Module Create() => new GELU();
}

/// <summary>Describes a <see cref="LeakyReLU"/> layer.</summary>
[LayerType("LeakyReLU")]
public sealed record LeakyReLUSpec(float NegativeSlope = 0.01f) : LayerSpec
{
    public override Module Create() => new LeakyReLU(NegativeSlope);
}
