using System.Globalization;
using Gpu.Runtime;

namespace Gpu.Training;

/// <summary>
/// torch.nn.LayerNorm(features, eps=1e-5) over the last axis of any input shape: each row normalised
/// to zero mean and unit (biased) variance, then scaled by <c>weight</c> and shifted by <c>bias</c>
/// (initialised to ones and zeros, as PyTorch's). Forward keeps each row's mean and 1/std for the
/// backward pass (<see cref="Ops.LayerNorm"/>).
/// </summary>
public sealed class LayerNorm : Module
{
    private readonly Workspace output = new();
    private readonly Workspace gradInput = new();
    private readonly Workspace products = new();
    private readonly Workspace means = new();
    private readonly Workspace rstds = new();
    private readonly TensorShape parameterShape;
    private Parameter? weight;
    private Parameter? bias;
    private Tensor? input;
    private Tensor? mean;
    private Tensor? rstd;
    private TensorShape? sample;

    public LayerNorm(int features, float eps = 1e-5f)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(features, 1);
        if (!(float.IsFinite(eps) && eps >= 0))
            throw new ArgumentOutOfRangeException(nameof(eps), eps, "LayerNorm: eps must be a finite number >= 0.");
        Features = features;
        Eps = eps;
        parameterShape = new TensorShape(features);
    }

    public override string TypeName => "LayerNorm";

    /// <summary>The size of the last axis, which is normalised.</summary>
    public int Features { get; }

    /// <summary>Added to the variance before the square root.</summary>
    public float Eps { get; }

    public override LayerSpec Spec => new LayerNormSpec(Features, Eps);

    public override bool PreservesShape => true;

    protected override IReadOnlyList<Parameter> GetParameters() => weight is null ? [] : [weight, bias!];

    public override TensorShape OutputShapeFor(TensorShape input) =>
        input.Rank >= 1 && input[input.Rank - 1] == Features
            ? input
            : throw new ShapeMismatchException($"{this}: input {Describe(input)} does not end with {Features} features.");

    public override Tensor Forward(Tensor input)
    {
        var device = RequireDevice();
        sample = Samples.Of(input, sample);
        OutputShapeFor(sample);
        int rows = input.Length / Features;
        var y = output.Get(device, input.Shape[0], sample);
        mean = means.Rows(device, rows, 1);
        rstd = rstds.Rows(device, rows, 1);
        Ops.LayerNorm(input, weight!.Data, bias!.Data, y, mean, rstd, Eps);
        this.input = input;
        return y;
    }

    public override Tensor? Backward(Tensor gradOutput)
    {
        var device = RequireDevice();
        var x = input ?? throw new InvalidOperationException($"{this}: Backward called before Forward.");
        var dx = ComputesInputGradient ? gradInput.Get(device, x.Shape[0], sample!) : null;
        var scratch = products.Get(device, x.Shape[0], sample!);
        Ops.LayerNormBackward(x, weight!.Data, mean!, rstd!, gradOutput, dx, weight.Grad, bias!.Grad, scratch);
        return dx;
    }

    public override string ToString() => $"LayerNorm(({Features},), eps={Eps.ToString("R", CultureInfo.InvariantCulture)}, elementwise_affine=True)";

    internal override IEnumerable<(string Name, TensorShape Shape)> ParameterShapes => [("weight", parameterShape), ("bias", parameterShape)];

    internal override void Bind(Device device, IReadOnlyList<Parameter> parameters)
    {
        base.Bind(device, parameters);
        weight = parameters[0];
        bias = parameters[1];
    }

    // Ones and zeros, PyTorch's reset_parameters: no draw from the model's generator.
    internal override void ResetParameters(Random random)
    {
        Ops.Fill(weight!.Data, 1f);
        Ops.Fill(bias!.Data, 0f);
    }

    // Per value: the mean and variance (about 4 flops), normalise and scale (3); backward about 10.
    internal override long FlopsPerSample(TensorShape input, bool training) => (training ? 17L : 7L) * input.Length;

    public override void Dispose()
    {
        output.Dispose();
        gradInput.Dispose();
        products.Dispose();
        means.Dispose();
        rstds.Dispose();
        base.Dispose();
    }
}

/// <summary>Describes a <see cref="LayerNorm"/> layer: the word <c>layernorm</c> normalises whatever the last axis holds.</summary>
[LayerType("LayerNorm")]
public sealed record LayerNormSpec(int Features, float Eps = 1e-5f) : LayerSpec, IRegistered<LayerWord>
{
    public static LayerWord Entry { get; } = new("layernorm", "layernorm[(eps=E)]", Parse);

    private static LayerSpec Parse(CallText text, LayerInput input)
    {
        text.Expect(0, "eps");
        if (input.Rank < 1)
            throw new ShapeMismatchException($"layernorm needs features to normalise but gets {Module.Describe(input)}");
        double eps = text.NamedNumber("eps", 1e-5);
        if (eps < 0)
            throw new FormatException($"eps '{eps.ToString("R", CultureInfo.InvariantCulture)}' must be >= 0");
        return new LayerNormSpec(input[input.Rank - 1], (float)eps);
    }

    public override Module Create() => new LayerNorm(Features, Eps);

    public override string Format() => Eps == 1e-5f ? "layernorm" : $"layernorm(eps={Eps.ToString("R", CultureInfo.InvariantCulture)})";

    // ONNX's LayerNormalization (opset 17) over the last axis.
    internal override string ToOnnx(OnnxLayer layer, string input) =>
        layer.Node("LayerNormalization", [input, layer.Parameter("weight"), layer.Parameter("bias")], "",
            OnnxGraph.Attribute("axis", -1L), OnnxGraph.Attribute("epsilon", Eps));
}
