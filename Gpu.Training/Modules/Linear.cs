using Gpu.Runtime;

namespace Gpu.Training;

/// <summary>
/// torch.nn.Linear: <c>y = x W^T + b</c> with weight W (out, in) and bias b (out), over the last axis
/// of its input, as PyTorch's: (batch, in) gives (batch, out), a sequence (batch, T, in) gives
/// (batch, T, out), every position by the same weights (put a <see cref="Flatten"/> before it to mix
/// an image's values). Initialised like PyTorch: W and b ~ U(-1/sqrt(in), 1/sqrt(in))
/// (kaiming_uniform with a = sqrt(5)). Backward: <c>dW += dY^T X</c>, <c>db += sum_rows dY</c>,
/// <c>dX = dY W</c>, the rows being every position of every sample.
/// </summary>
public sealed class Linear : Module, IReluEpilogue
{
    private readonly Workspace output = new();
    private readonly Workspace gradInput = new();
    private readonly ReshapedView inputRows = new();
    private readonly ReshapedView outputRows = new();
    private readonly ReshapedView gradOutputRows = new();
    private readonly ReshapedView gradInputRows = new();
    private readonly TensorShape inputShape;
    private readonly TensorShape outputShape;
    private Parameter? weight;
    private Parameter? bias;
    private Tensor? input;
    private TensorShape? sample;

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

    public override TensorShape OutputShapeFor(TensorShape input)
    {
        if (input.Equals(inputShape))
            return outputShape;
        if (input.Rank > 1 && input[input.Rank - 1] == InFeatures)
            return new TensorShape([.. input.ToArray()[..^1], OutFeatures]);
        throw new ShapeMismatchException($"{this}: input {Describe(input)} does not fit: it takes {Describe(inputShape)}{(input.Rank > 1 ? $" or any shape ending in {InFeatures} (put a Flatten before it)" : "")}.");
    }

    public override Tensor Forward(Tensor input) => Forward(input, relu: false);

    Tensor IReluEpilogue.Forward(Tensor input, bool relu) => Forward(input, relu);

    private Tensor Forward(Tensor input, bool relu)
    {
        var device = RequireDevice();
        if (input.Rank == 2)
        {
            RequireShape(input, inputShape);
            this.input = input;
            var y = output.Get(device, input.Shape[0], outputShape);
            Ops.Linear(input, Weight.Data, bias?.Data, y, relu);
            return y;
        }

        // Every position of every sample is one row of the product.
        sample = Samples.Of(input, sample);
        var outSample = OutputShapeFor(sample);
        this.input = input;
        var full = output.Get(device, input.Shape[0], outSample);
        Ops.Linear(Matrix(inputRows, input), Weight.Data, bias?.Data, Matrix(outputRows, full), relu);
        return full;
    }

    public override Tensor? Backward(Tensor gradOutput)
    {
        var device = RequireDevice();
        var x = input ?? throw new InvalidOperationException($"{this}: Backward called before Forward.");
        if (gradOutput.Rank != x.Rank || gradOutput.Shape[0] != x.Shape[0] || gradOutput.Shape[gradOutput.Rank - 1] != OutFeatures || gradOutput.Length / OutFeatures != x.Length / InFeatures)
            throw new ShapeMismatchException($"{this}: gradOutput {gradOutput.Shape} does not match the last output (the input {x.Shape} with {OutFeatures} outputs).");
        var x2 = x.Rank == 2 ? x : Matrix(inputRows, x);
        var dy2 = gradOutput.Rank == 2 ? gradOutput : Matrix(gradOutputRows, gradOutput);
        Ops.MatMul(dy2, x2, Weight.Grad, transposeA: true, accumulate: true);
        if (bias is not null)
            Ops.ColumnSums(dy2, bias.Grad, accumulate: true);
        if (!ComputesInputGradient)
            return null;
        if (x.Rank == 2)
        {
            var dx = gradInput.Get(device, x.Shape[0], inputShape);
            Ops.MatMul(gradOutput, Weight.Data, dx);
            return dx;
        }

        var full = gradInput.Get(device, x.Shape[0], sample!);
        Ops.MatMul(dy2, Weight.Data, Matrix(gradInputRows, full));
        return full;
    }

    // A (batch, ..., features) tensor as its (rows, features) matrix, a view made once per tensor.
    private static Tensor Matrix(ReshapedView view, Tensor tensor) =>
        view.Of(tensor, static t => [t.Length / t.Shape[t.Rank - 1], t.Shape[t.Rank - 1]]);

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
        long forward = 2L * InFeatures * OutFeatures * (input.Length / InFeatures); // per position of a sequence
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

    private static LayerSpec Parse(CallText text, LayerInput input)
    {
        text.Expect(1);
        if (input.Rank == 3)
            throw new ShapeMismatchException($"linear takes (N, features) or a sequence (N, T, features) but gets {Module.Describe(input)} (put a flatten before it)");
        return new LinearSpec(input[input.Rank - 1], text.Int(0, "out"));
    }

    public override Module Create() => new Linear(InFeatures, OutFeatures, Bias);

    public override string Format() => $"linear({OutFeatures})";

    internal override string ToOnnx(OnnxLayer layer, string input)
    {
        if (layer.InputShape.Rank == 1)
            return layer.Node("Gemm", [input, layer.Parameter("weight"), .. layer.OptionalParameter("bias")], attributes: OnnxGraph.Attribute("transB", 1L));

        // Over the last axis of a sequence (N, T, in): Gemm takes matrices only, MatMul broadcasts
        // over the leading axes, so x W^T with W^T stored transposed, then the bias.
        var weight = layer.Values("weight");
        var transposed = new float[weight.Length];
        for (int o = 0; o < OutFeatures; o++)
        {
            for (int i = 0; i < InFeatures; i++)
                transposed[i * OutFeatures + o] = weight[o * InFeatures + i];
        }

        string product = layer.Node("MatMul", [input, layer.Derived("weight_t", [InFeatures, OutFeatures], transposed)]);
        return Bias ? layer.Node("Add", [product, layer.Parameter("bias")]) : product;
    }
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

    /// <summary>N(0, std^2) by Box-Muller, as normal_ draws (nn.Embedding: std 1; a position table: 0.02).</summary>
    public static float[] Normal(Random random, int count, double std)
    {
        var values = new float[count];
        for (int i = 0; i < count; i++)
        {
            double u1 = 1.0 - random.NextDouble(), u2 = random.NextDouble();
            values[i] = (float)(std * Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2));
        }

        return values;
    }
}
