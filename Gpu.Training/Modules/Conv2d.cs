using Gpu.Runtime;

namespace Gpu.Training;

/// <summary>
/// torch.nn.Conv2d with a square kernel, stride and zero padding: input (batch, in, H, W), output
/// (batch, out, OH, OW) with <c>OH = (H + 2 padding - kernel) / stride + 1</c>; weight
/// (out, in, kernel, kernel), bias (out). Initialised like PyTorch: weight and bias ~
/// U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with fan_in = in kernel^2.
/// <para>
/// Computed as matrix products over patches (im2col): <see cref="Ops.Conv2d"/> and
/// <see cref="Ops.Conv2dBackward"/>, which each backend runs in the way that measures fastest on it
/// (docs/kernels.md). Backward accumulates the weight and bias gradients, like PyTorch's <c>.grad</c>.
/// </para>
/// </summary>
public sealed class Conv2d : Module, IReluEpilogue
{
    private readonly Workspace output = new();
    private readonly Workspace gradInput = new();
    private Parameter? weight;
    private Parameter? bias;
    private Tensor? input;
    private TensorShape? inputSample;
    private TensorShape? outputSample;

    public Conv2d(int inChannels, int outChannels, int kernelSize, int stride = 1, int padding = 0, bool bias = true)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(inChannels, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(outChannels, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(kernelSize, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(stride, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(padding);
        InChannels = inChannels;
        OutChannels = outChannels;
        KernelSize = kernelSize;
        Stride = stride;
        Padding = padding;
        HasBias = bias;
        PatchLength = checked(inChannels * kernelSize * kernelSize);
    }

    public override string TypeName => "Conv2d";

    public int InChannels { get; }

    public int OutChannels { get; }

    public int KernelSize { get; }

    public int Stride { get; }

    public int Padding { get; }

    public bool HasBias { get; }

    /// <summary>Values under one kernel placement: in kernel^2.</summary>
    public int PatchLength { get; }

    /// <summary>Weight (out, in, kernel, kernel).</summary>
    public Parameter Weight => weight ?? throw new InvalidOperationException("Conv2d is not on a device yet: call model.To(device) first.");

    /// <summary>Bias (out), or null when built without one.</summary>
    public Parameter? Bias => HasBias ? bias ?? throw new InvalidOperationException("Conv2d is not on a device yet: call model.To(device) first.") : null;

    public override LayerSpec Spec => new Conv2dSpec(InChannels, OutChannels, KernelSize, Stride, Padding, HasBias);

    protected override IReadOnlyList<Parameter> GetParameters() =>
        weight is null ? [] : bias is null ? [weight] : [weight, bias];

    public override TensorShape OutputShapeFor(TensorShape input)
    {
        if (input.Rank != 3 || input[0] != InChannels)
            throw new ShapeMismatchException($"{this}: input {Describe(input)} does not fit: it takes (N, {InChannels}, H, W).");
        int h = input[1] + 2 * Padding, w = input[2] + 2 * Padding;
        if (h < KernelSize || w < KernelSize)
            throw new ShapeMismatchException($"{this}: input {Describe(input)} is smaller than the {KernelSize}x{KernelSize} kernel (with padding {Padding}).");
        return new TensorShape(OutChannels, (h - KernelSize) / Stride + 1, (w - KernelSize) / Stride + 1);
    }

    public override Tensor Forward(Tensor input) => Forward(input, relu: false);

    Tensor IReluEpilogue.Forward(Tensor input, bool relu) => Forward(input, relu);

    private Tensor Forward(Tensor input, bool relu)
    {
        var device = RequireDevice();
        if (input.Rank != 4 || input.Shape[1] != InChannels)
            throw new ShapeMismatchException($"{this}: input {input.Shape} must be (N, {InChannels}, H, W).");
        var sample = Samples.Of(input, inputSample);
        if (!ReferenceEquals(sample, inputSample))
        {
            outputSample = OutputShapeFor(sample);
            inputSample = sample;
        }

        this.input = input;
        var y = output.Get(device, input.Shape[0], outputSample!);
        Ops.Conv2d(input, Weight.Data, bias?.Data, y, Stride, Padding, relu);
        return y;
    }

    public override Tensor? Backward(Tensor gradOutput)
    {
        var device = RequireDevice();
        var x = input ?? throw new InvalidOperationException($"{this}: Backward called before Forward.");
        RequireShape(gradOutput, outputSample!, "gradOutput");
        var dx = ComputesInputGradient ? gradInput.Get(device, x.Shape[0], inputSample!) : null;
        Ops.Conv2dBackward(x, Weight.Data, gradOutput, Weight.Grad, bias?.Grad, dx, Stride, Padding);
        return dx;
    }

    public override string ToString() =>
        $"Conv2d({InChannels}, {OutChannels}, kernel_size=({KernelSize}, {KernelSize}), stride=({Stride}, {Stride})"
        + (Padding > 0 ? $", padding=({Padding}, {Padding})" : "") + (HasBias ? ")" : ", bias=False)");

    internal override IEnumerable<(string Name, TensorShape Shape)> ParameterShapes =>
        HasBias
            ? [("weight", new TensorShape(OutChannels, InChannels, KernelSize, KernelSize)), ("bias", new TensorShape(OutChannels))]
            : [("weight", new TensorShape(OutChannels, InChannels, KernelSize, KernelSize))];

    internal override void Bind(Device device, IReadOnlyList<Parameter> parameters)
    {
        base.Bind(device, parameters);
        weight = parameters[0];
        bias = HasBias ? parameters[1] : null;
    }

    internal override void ResetParameters(Random random)
    {
        double bound = 1.0 / Math.Sqrt(PatchLength);
        Weight.Data.CopyFrom(Initialization.Uniform(random, OutChannels * PatchLength, bound));
        bias?.Data.CopyFrom(Initialization.Uniform(random, OutChannels, bound));
    }

    internal override long FlopsPerSample(TensorShape input, bool training)
    {
        var output = OutputShapeFor(input);
        long forward = 2L * OutChannels * PatchLength * output[1] * output[2];
        return training ? forward + forward + (ComputesInputGradient ? forward : 0) : forward;
    }

    public override void Dispose()
    {
        output.Dispose();
        gradInput.Dispose();
        base.Dispose();
    }
}

/// <summary>Describes a <see cref="Conv2d"/> layer.</summary>
[LayerType("Conv2d")]
public sealed record Conv2dSpec(int InChannels, int OutChannels, int KernelSize, int Stride = 1, int Padding = 0, bool Bias = true) : LayerSpec, IRegistered<LayerWord>
{
    public static LayerWord Entry { get; } = new("conv", "conv(out,kernel[,stride=S][,padding=P])", Parse);

    private static LayerSpec Parse(CallText text, LayerInput input)
    {
        text.Expect(2, "stride", "padding");
        if (input.Rank != 3)
            throw new ShapeMismatchException($"conv takes images (N, C, H, W) but gets {Module.Describe(input)} (give --input-shape C,H,W)");
        return new Conv2dSpec(input[0], text.Int(0, "out"), text.Int(1, "kernel"), text.Named("stride", 1), text.Named("padding", 0, min: 0));
    }

    public override string Format() => $"conv({OutChannels},{KernelSize}{(Stride != 1 ? $",stride={Stride}" : "")}{(Padding != 0 ? $",padding={Padding}" : "")})";

    internal override string ToOnnx(OnnxLayer layer, string input) =>
        layer.Node("Conv", [input, layer.Parameter("weight"), .. layer.OptionalParameter("bias")], "",
            OnnxGraph.Attribute("kernel_shape", KernelSize, KernelSize), OnnxGraph.Attribute("strides", Stride, Stride),
            OnnxGraph.Attribute("pads", Padding, Padding, Padding, Padding), OnnxGraph.Attribute("dilations", 1, 1), OnnxGraph.Attribute("group", 1L));

    public override Module Create() => new Conv2d(InChannels, OutChannels, KernelSize, Stride, Padding, Bias);
}
