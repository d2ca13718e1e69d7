using Gpu.Runtime;

namespace Gpu.Training;

/// <summary>
/// An elementwise activation module over any input shape: forward keeps its input and output,
/// backward computes <c>dx = f'(x) dy</c> from them (<see cref="Ops.Activation"/>). A new activation
/// is its maths in Gpu.Kernels, its <see cref="Activation"/> in Gpu.Runtime, and here a module
/// deriving from this with its record (word, ONNX nodes).
/// </summary>
public abstract class ElementwiseActivation(Activation activation) : Module
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
        Ops.Activation(activation, input, y);
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
        Ops.ActivationBackward(activation, lastInput!, y, gradOutput, dx);
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

/// <summary>
/// torch.nn.GELU: the exact form <c>x Phi(x)</c> (PyTorch's default, approximate='none'), or with
/// <c>approximate: "tanh"</c> GPT-2's <c>0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))</c>.
/// </summary>
public sealed class GELU(string approximate = "none") : ElementwiseActivation(approximate switch
{
    "none" => Activation.Gelu,
    "tanh" => Activation.GeluTanh,
    _ => throw new ArgumentException($"GELU: approximate must be 'none' or 'tanh', got '{approximate}'.", nameof(approximate)),
})
{
    /// <summary>"none" (the exact form) or "tanh".</summary>
    public string Approximate { get; } = approximate;

    public override string TypeName => "GELU";

    public override LayerSpec Spec => new GELUSpec(Approximate);

    public override string ToString() => $"GELU(approximate='{Approximate}')";
}

/// <summary>torch.nn.LeakyReLU: <c>x</c> for x &gt; 0, else <c>negative_slope x</c> (default 0.01).</summary>
public sealed class LeakyReLU(float negativeSlope = 0.01f) : ElementwiseActivation(Activation.LeakyRelu(negativeSlope))
{
    public float NegativeSlope { get; } = negativeSlope;

    public override string TypeName => "LeakyReLU";

    public override LayerSpec Spec => new LeakyReLUSpec(NegativeSlope);

    public override string ToString() => $"LeakyReLU(negative_slope={NegativeSlope.ToString("R", System.Globalization.CultureInfo.InvariantCulture)})";
}

/// <summary>Describes a <see cref="Tanh"/> layer.</summary>
[LayerType("Tanh")]
public sealed record TanhSpec : LayerSpec, IRegistered<LayerWord>
{
    public static LayerWord Entry { get; } = new("tanh", "tanh", Parse);

    private static LayerSpec Parse(CallText text, LayerInput input)
    {
        text.Expect(0);
        return new TanhSpec();
    }

    public override Module Create() => new Tanh();

    internal override string ToOnnx(OnnxLayer layer, string input) => layer.Node("Tanh", [input]);
}

/// <summary>Describes a <see cref="Sigmoid"/> layer.</summary>
[LayerType("Sigmoid")]
public sealed record SigmoidSpec : LayerSpec, IRegistered<LayerWord>
{
    public static LayerWord Entry { get; } = new("sigmoid", "sigmoid", Parse);

    private static LayerSpec Parse(CallText text, LayerInput input)
    {
        text.Expect(0);
        return new SigmoidSpec();
    }

    public override Module Create() => new Sigmoid();

    internal override string ToOnnx(OnnxLayer layer, string input) => layer.Node("Sigmoid", [input]);
}

/// <summary>Describes a <see cref="GELU"/> layer: <c>gelu</c> (exact) or <c>gelu(tanh)</c>.</summary>
[LayerType("GELU")]
public sealed record GELUSpec(string Approximate = "none") : LayerSpec, IRegistered<LayerWord>
{
    public static LayerWord Entry { get; } = new("gelu", "gelu[(tanh)]", Parse);

    private static LayerSpec Parse(CallText text, LayerInput input)
    {
        text.Expect(0, 1);
        if (text.Arguments.Count == 1 && text.Arguments[0] != "tanh")
            throw new FormatException($"gelu takes no argument or tanh (GPT-2's approximation), got '{text.Arguments[0]}'");
        return new GELUSpec(text.Arguments.Count == 1 ? "tanh" : "none");
    }

    public override Module Create() => new GELU(Approximate);

    public override string Format() => Approximate == "tanh" ? "gelu(tanh)" : "gelu";

    internal override string ToOnnx(OnnxLayer layer, string input)
    {
        if (Approximate == "tanh")
        {
            // 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
            string cube = layer.Node("Mul", [input, layer.Node("Mul", [input, input], "_square")], "_cube");
            string inner = layer.Node("Add", [input, layer.Node("Mul", [cube, layer.Scalar("kappa", 0.044715f)], "_kappa")], "_inner");
            string tanh = layer.Node("Tanh", [layer.Node("Mul", [inner, layer.Scalar("beta", 0.7978845608028654f)], "_beta")]);
            string shifted = layer.Node("Add", [tanh, layer.Scalar("one", 1f)]);
            return layer.Node("Mul", [layer.Node("Mul", [input, shifted]), layer.Scalar("half", 0.5f)], "_1");
        }

        // GELU(x) = 0.5 x (1 + erf(x / sqrt 2)), the exact form PyTorch uses by default (ONNX's Gelu op needs opset 20).
        string scaled = layer.Node("Div", [input, layer.Scalar("sqrt2", MathF.Sqrt(2f))]);
        string erf = layer.Node("Erf", [scaled]);
        string shifted2 = layer.Node("Add", [erf, layer.Scalar("one", 1f)]);
        string product = layer.Node("Mul", [input, shifted2]);
        return layer.Node("Mul", [product, layer.Scalar("half", 0.5f)], "_1");
    }
}

/// <summary>Describes a <see cref="LeakyReLU"/> layer.</summary>
[LayerType("LeakyReLU")]
public sealed record LeakyReLUSpec(float NegativeSlope = 0.01f) : LayerSpec, IRegistered<LayerWord>
{
    public static LayerWord Entry { get; } = new("leakyrelu", "leakyrelu[(slope)]", Parse);

    private static LayerSpec Parse(CallText text, LayerInput input)
    {
        text.Expect(0, 1);
        return new LeakyReLUSpec(text.Arguments.Count == 0 ? 0.01f : (float)text.Number(0, "slope"));
    }

    public override Module Create() => new LeakyReLU(NegativeSlope);

    public override string Format() =>
        NegativeSlope == 0.01f ? "leakyrelu" : $"leakyrelu({NegativeSlope.ToString("R", System.Globalization.CultureInfo.InvariantCulture)})";

    internal override string ToOnnx(OnnxLayer layer, string input) => layer.Node("LeakyRelu", [input], "", OnnxGraph.Attribute("alpha", NegativeSlope));
}
