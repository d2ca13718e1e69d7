using Gpu.Runtime;

namespace Gpu.Training;

/// <summary>
/// torch.nn.Linear: <c>y = x W^T + b</c> with weight W (out, in) and bias b (out), on (batch, in)
/// inputs (put a <see cref="Flatten"/> before it for images). Initialised like PyTorch: W and b ~
/// U(-1/sqrt(in), 1/sqrt(in)) (kaiming_uniform with a = sqrt(5)).
/// Backward: <c>dW += dY^T X</c>, <c>db += sum_rows dY</c>, <c>dX = dY W</c>.
/// </summary>
public sealed class Linear : Module, IReluEpilogue
{
    private readonly Workspace output = new();
    private readonly Workspace gradInput = new();
    private readonly TensorShape inputShape;
    private readonly TensorShape outputShape;
    private Parameter? weight;
    private Parameter? bias;
    private Tensor? input;

    public Linear(int inFeatures, int outFeatures, bool bias = true)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(inFeatures, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(outFeatures, 1);
        InFeatures = inFeatures;
        OutFeatures = outFeatures;
        HasBias = bias;
        inputShape = new TensorShape(inFeatures);
        outputShape = new TensorShape(outFeatures);
    }

    public override string TypeName => "Linear";

    public int InFeatures { get; }

    public int OutFeatures { get; }

    public bool HasBias { get; }

    /// <summary>Weight (out, in).</summary>
    public Parameter Weight => weight ?? throw new InvalidOperationException("Linear is not on a device yet: call model.To(device) first.");

    /// <summary>Bias (out), or null when built without one.</summary>
    public Parameter? Bias => HasBias ? bias ?? throw new InvalidOperationException("Linear is not on a device yet: call model.To(device) first.") : null;

    public override LayerSpec Spec => new LinearSpec(InFeatures, OutFeatures, HasBias);

    public override TensorShape FixedInputShape => inputShape;

    protected override IReadOnlyList<Parameter> GetParameters() =>
        weight is null ? [] : bias is null ? [weight] : [weight, bias];

    public override TensorShape OutputShapeFor(TensorShape input) =>
        input.Equals(inputShape)
            ? outputShape
            : throw new ShapeMismatchException($"{this}: input {Describe(input)} does not fit: it takes {Describe(inputShape)}{(input.Rank > 1 ? " (put a Flatten before it)" : "")}.");

    public override Tensor Forward(Tensor input) => Forward(input, relu: false);

    Tensor IReluEpilogue.Forward(Tensor input, bool relu) => Forward(input, relu);

    private Tensor Forward(Tensor input, bool relu)
    {
        var device = RequireDevice();
        RequireShape(input, inputShape);
        this.input = input;
        var y = output.Get(device, input.Shape[0], outputShape);
        Ops.Linear(input, Weight.Data, bias?.Data, y, relu);
        return y;
    }

    public override Tensor? Backward(Tensor gradOutput)
    {
        var device = RequireDevice();
        var x = input ?? throw new InvalidOperationException($"{this}: Backward called before Forward.");
        if (gradOutput.Rank != 2 || gradOutput.Shape[0] != x.Shape[0] || gradOutput.Shape[1] != OutFeatures)
            throw new ShapeMismatchException($"{this}: gradOutput {gradOutput.Shape} does not match the last output ({x.Shape[0]}, {OutFeatures}).");
        Ops.MatMul(gradOutput, x, Weight.Grad, transposeA: true, accumulate: true);
        if (bias is not null)
            Ops.ColumnSums(gradOutput, bias.Grad, accumulate: true);
        if (!ComputesInputGradient)
            return null;
        var dx = gradInput.Get(device, x.Shape[0], inputShape);
        Ops.MatMul(gradOutput, Weight.Data, dx);
        return dx;
    }

    public override string ToString() => $"Linear(in_features={InFeatures}, out_features={OutFeatures}, bias={(HasBias ? "True" : "False")})";

    internal override IEnumerable<(string Name, TensorShape Shape)> ParameterShapes =>
        HasBias
            ? [("weight", new TensorShape(OutFeatures, InFeatures)), ("bias", outputShape)]
            : [("weight", new TensorShape(OutFeatures, InFeatures))];

    internal override void Bind(Device device, IReadOnlyList<Parameter> parameters)
    {
        base.Bind(device, parameters);
        weight = parameters[0];
        bias = HasBias ? parameters[1] : null;
    }

    internal override void ResetParameters(Random random)
    {
        double bound = 1.0 / Math.Sqrt(InFeatures);
        Weight.Data.CopyFrom(Initialization.Uniform(random, OutFeatures * InFeatures, bound));
        bias?.Data.CopyFrom(Initialization.Uniform(random, OutFeatures, bound));
    }

    internal override long FlopsPerSample(TensorShape input, bool training)
    {
        long forward = 2L * InFeatures * OutFeatures;
        // Backward: the weight gradient always, the input gradient except for the first layer.
        return training ? forward + forward + (ComputesInputGradient ? forward : 0) : forward;
    }

    public override void Dispose()
    {
        output.Dispose();
        gradInput.Dispose();
        base.Dispose();
    }
}

/// <summary>Describes a <see cref="Linear"/> layer.</summary>
[LayerType("Linear")]
public sealed record LinearSpec(int InFeatures, int OutFeatures, bool Bias = true) : LayerSpec, IRegistered<LayerWord>
{
    public static LayerWord Entry { get; } = new("linear", "linear(out)", Parse);

    private static LayerSpec Parse(CallText text, TensorShape input)
    {
        text.Expect(1);
        if (input.Rank != 1)
            throw new ShapeMismatchException($"linear takes (N, features) but gets {Module.Describe(input)} (put a flatten before it)");
        return new LinearSpec(input[0], text.Int(0, "out"));
    }

    public override Module Create() => new Linear(InFeatures, OutFeatures, Bias);

    public override string Format() => $"linear({OutFeatures})";

    internal override string ToOnnx(OnnxLayer layer, string input) =>
        layer.Node("Gemm", [input, layer.Parameter("weight"), .. layer.OptionalParameter("bias")], attributes: OnnxGraph.Attribute("transB", 1L));
}

/// <summary>PyTorch's default initialisation draws.</summary>
internal static class Initialization
{
    /// <summary>U(-bound, bound), as kaiming_uniform_ with a = sqrt(5) gives for bound = 1/sqrt(fan_in).</summary>
    public static float[] Uniform(Random random, int count, double bound)
    {
        var values = new float[count];
        for (int i = 0; i < count; i++)
            values[i] = (float)((random.NextDouble() * 2 - 1) * bound);
        return values;
    }
}
