using Gpu.Runtime;

namespace Gpu.Training;

/// <summary>
/// torch.nn.Conv2d with a square kernel, stride and zero padding: input (batch, in, H, W), output
/// (batch, out, OH, OW) with <c>OH = (H + 2 padding - kernel) / stride + 1</c>; weight
/// (out, in, kernel, kernel), bias (out). Initialised like PyTorch: weight and bias ~
/// U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with fan_in = in kernel^2.
/// <para>
/// Computed as a matrix product over patches (im2col): the (batch OH OW, in kernel^2) patch matrix
/// times the weight read as (out, in kernel^2), plus the bias, is the output with channels last,
/// which a per-image transpose puts in NCHW order. Backward reverses the steps:
/// <c>dW += dY2^T patches</c>, <c>db += sum dY2</c>, <c>dpatches = dY2 W</c>, then each input
/// element sums its patch entries (docs/kernels.md has the layouts).
/// </para>
/// </summary>
public sealed class Conv2d : Module
{
    private readonly Workspace patches = new();
    private readonly Workspace channelsLast = new();
    private readonly Workspace output = new();
    private readonly Workspace gradChannelsLast = new();
    private readonly Workspace gradPatches = new();
    private readonly Workspace gradInput = new();
    private readonly ReshapedView outputAsMatrices = new();
    private readonly ReshapedView channelsLastAsBatch = new();
    private readonly ReshapedView gradOutputAsMatrices = new();
    private readonly ReshapedView gradChannelsLastAsRows = new();
    private Parameter? weight;
    private Parameter? bias;
    private Tensor? weightMatrix;
    private Tensor? weightGradMatrix;
    private Tensor? input;
    private TensorShape? inputSample;
    private TensorShape? outputSample;
    private TensorShape? channelsLastSample;

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

    public override Tensor Forward(Tensor input)
    {
        var device = RequireDevice();
        if (input.Rank != 4 || input.Shape[1] != InChannels)
            throw new ShapeMismatchException($"{this}: input {input.Shape} must be (N, {InChannels}, H, W).");
        UpdateShapes(input);
        int batch = input.Shape[0];
        int positions = outputSample![1] * outputSample[2];
        this.input = input;

        var p = patches.Get(device, batch * positions, SamplePatch);
        Ops.ConvPatches(input, p, KernelSize, Stride, Padding);
        var y2 = channelsLast.Get(device, batch, channelsLastSample!); // (batch, positions, out)
        Ops.Linear(p, weightMatrix!, bias?.Data, channelsLastAsBatch.Of(y2, static t => [t.Shape[0] * t.Shape[1], t.Shape[2]]));
        var y = output.Get(device, batch, outputSample);
        Ops.TransposeLastTwo(y2, outputAsMatrices.Of(y, static t => [t.Shape[0], t.Shape[1], t.Shape[2] * t.Shape[3]]));
        return y;
    }

    public override Tensor? Backward(Tensor gradOutput)
    {
        var device = RequireDevice();
        var x = input ?? throw new InvalidOperationException($"{this}: Backward called before Forward.");
        int batch = x.Shape[0];
        RequireShape(gradOutput, outputSample!, "gradOutput");
        var dy2 = gradChannelsLast.Get(device, batch, channelsLastSample!);
        Ops.TransposeLastTwo(gradOutputAsMatrices.Of(gradOutput, static t => [t.Shape[0], t.Shape[1], t.Shape[2] * t.Shape[3]]), dy2);
        var dyRows = gradChannelsLastAsRows.Of(dy2, static t => [t.Shape[0] * t.Shape[1], t.Shape[2]]);
        var p = patches.Get(device, dyRows.Shape[0], SamplePatch);
        Ops.MatMul(dyRows, p, weightGradMatrix!, transposeA: true, accumulate: true);
        if (bias is not null)
            Ops.ColumnSums(dyRows, bias.Grad, accumulate: true);
        if (!ComputesInputGradient)
            return null;
        var dp = gradPatches.Get(device, dyRows.Shape[0], SamplePatch);
        Ops.MatMul(dyRows, weightMatrix!, dp);
        var dx = gradInput.Get(device, batch, inputSample!);
        Ops.ConvPatchesBackward(dp, dx, KernelSize, Stride, Padding);
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
        weightMatrix = weight.Data.Reshape(OutChannels, PatchLength);
        weightGradMatrix = weight.Grad.Reshape(OutChannels, PatchLength);
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
        patches.Dispose();
        channelsLast.Dispose();
        output.Dispose();
        gradChannelsLast.Dispose();
        gradPatches.Dispose();
        gradInput.Dispose();
        base.Dispose();
    }

    // One patch row's shape, made once.
    private TensorShape SamplePatch => samplePatch ??= new TensorShape(PatchLength);

    private TensorShape? samplePatch;

    // Sample shapes of the input, the output and the channels-last product, kept while the image size stays.
    private void UpdateShapes(Tensor input)
    {
        var sample = Samples.Of(input, inputSample);
        if (ReferenceEquals(sample, inputSample))
            return;
        inputSample = sample;
        outputSample = OutputShapeFor(sample);
        channelsLastSample = new TensorShape(outputSample[1] * outputSample[2], OutChannels);
    }
}

/// <summary>Describes a <see cref="Conv2d"/> layer.</summary>
[LayerType("Conv2d")]
public sealed record Conv2dSpec(int InChannels, int OutChannels, int KernelSize, int Stride = 1, int Padding = 0, bool Bias = true) : LayerSpec
{
    public override Module Create() => new Conv2d(InChannels, OutChannels, KernelSize, Stride, Padding, Bias);
}
