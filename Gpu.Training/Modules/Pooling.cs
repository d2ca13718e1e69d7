using Gpu.Runtime;

namespace Gpu.Training;

/// <summary>
/// torch.nn.MaxPool2d(kernel_size, stride=kernel_size) without padding: the maximum of each window;
/// backward routes each gradient to its window's first maximum (PyTorch's choice).
/// </summary>
public sealed class MaxPool2d(int kernelSize, int? stride = null) : Pool2d(kernelSize, stride)
{
    private IndexBuffer? indices;

    public override string TypeName => "MaxPool2d";

    public override LayerSpec Spec => new MaxPool2dSpec(KernelSize, Stride);

    public override string ToString() => $"MaxPool2d(kernel_size={KernelSize}, stride={Stride}, padding=0, dilation=1, ceil_mode=False)";

    public override void Dispose()
    {
        indices?.Dispose();
        base.Dispose();
    }

    protected override void Pool(Tensor input, Tensor output)
    {
        if (indices is null || indices.IsDisposed || indices.Length < output.Length || !ReferenceEquals(indices.Device, output.Device))
        {
            indices?.Dispose();
            indices = output.Device.AllocateIndices(output.Length);
        }

        Ops.MaxPool2d(input, output, indices, KernelSize, Stride);
    }

    protected override void PoolBackward(Tensor gradOutput, Tensor gradInput) =>
        Ops.MaxPool2dBackward(gradOutput, indices!, gradInput, KernelSize, Stride);
}

/// <summary>torch.nn.AvgPool2d(kernel_size, stride=kernel_size) without padding: the mean of each window.</summary>
public sealed class AvgPool2d(int kernelSize, int? stride = null) : Pool2d(kernelSize, stride)
{
    public override string TypeName => "AvgPool2d";

    public override LayerSpec Spec => new AvgPool2dSpec(KernelSize, Stride);

    public override string ToString() => $"AvgPool2d(kernel_size={KernelSize}, stride={Stride}, padding=0)";

    protected override void Pool(Tensor input, Tensor output) => Ops.AvgPool2d(input, output, KernelSize, Stride);

    protected override void PoolBackward(Tensor gradOutput, Tensor gradInput) => Ops.AvgPool2dBackward(gradOutput, gradInput, KernelSize, Stride);
}

/// <summary>What max and average pooling share: window sizes, shapes, workspaces.</summary>
public abstract class Pool2d : Module
{
    private readonly Workspace output = new();
    private readonly Workspace gradInput = new();
    private TensorShape? inputSample;
    private TensorShape? outputSample;
    private Tensor? lastInput;

    protected Pool2d(int kernelSize, int? stride)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(kernelSize, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(stride ?? kernelSize, 1);
        KernelSize = kernelSize;
        Stride = stride ?? kernelSize;
    }

    public int KernelSize { get; }

    /// <summary>The window step (PyTorch's default: the kernel size).</summary>
    public int Stride { get; }

    public override TensorShape OutputShapeFor(TensorShape input)
    {
        if (input.Rank != 3)
            throw new ShapeMismatchException($"{this}: input {Describe(input)} does not fit: it takes (N, C, H, W).");
        if (input[1] < KernelSize || input[2] < KernelSize)
            throw new ShapeMismatchException($"{this}: input {Describe(input)} is smaller than the {KernelSize}x{KernelSize} window.");
        return new TensorShape(input[0], (input[1] - KernelSize) / Stride + 1, (input[2] - KernelSize) / Stride + 1);
    }

    public override Tensor Forward(Tensor input)
    {
        var device = RequireDevice();
        if (input.Rank != 4)
            throw new ShapeMismatchException($"{this}: input {input.Shape} must be (N, C, H, W).");
        var sample = Samples.Of(input, inputSample);
        if (!ReferenceEquals(sample, inputSample))
        {
            outputSample = OutputShapeFor(sample);
            inputSample = sample;
        }

        lastInput = input;
        var y = output.Get(device, input.Shape[0], outputSample!);
        Pool(input, y);
        return y;
    }

    public override Tensor? Backward(Tensor gradOutput)
    {
        var device = RequireDevice();
        var x = lastInput ?? throw new InvalidOperationException($"{this}: Backward called before Forward.");
        if (!ComputesInputGradient)
            return null;
        var dx = gradInput.Get(device, x.Shape[0], inputSample!);
        PoolBackward(gradOutput, dx);
        return dx;
    }

    internal override long FlopsPerSample(TensorShape input, bool training)
    {
        var output = OutputShapeFor(input);
        long forward = (long)output.Length * KernelSize * KernelSize;
        return training ? 2 * forward : forward;
    }

    public override void Dispose()
    {
        output.Dispose();
        gradInput.Dispose();
        base.Dispose();
    }

    protected abstract void Pool(Tensor input, Tensor output);

    protected abstract void PoolBackward(Tensor gradOutput, Tensor gradInput);
}

/// <summary>Describes a <see cref="MaxPool2d"/> layer.</summary>
[LayerType("MaxPool2d")]
public sealed record MaxPool2dSpec(int KernelSize, int? Stride = null) : LayerSpec, IRegistered<LayerWord>
{
    public static LayerWord Entry { get; } = new("maxpool", "maxpool(k[,stride=S])", Parse);

    private static LayerSpec Parse(CallText text, LayerInput input)
    {
        text.Expect(1, "stride");
        return new MaxPool2dSpec(text.Int(0, "kernel"), text.Named("stride", text.Int(0, "kernel")));
    }

    public override string Format() => $"maxpool({KernelSize}{(Stride is { } s && s != KernelSize ? $",stride={s}" : "")})";

    internal override string ToOnnx(OnnxLayer layer, string input) =>
        layer.Node("MaxPool", [input], "", OnnxGraph.Attribute("kernel_shape", KernelSize, KernelSize), OnnxGraph.Attribute("strides", Stride ?? KernelSize, Stride ?? KernelSize));

    public override Module Create() => new MaxPool2d(KernelSize, Stride);
}

/// <summary>Describes an <see cref="AvgPool2d"/> layer.</summary>
[LayerType("AvgPool2d")]
public sealed record AvgPool2dSpec(int KernelSize, int? Stride = null) : LayerSpec, IRegistered<LayerWord>
{
    public static LayerWord Entry { get; } = new("avgpool", "avgpool(k[,stride=S])", Parse);

    private static LayerSpec Parse(CallText text, LayerInput input)
    {
        text.Expect(1, "stride");
        return new AvgPool2dSpec(text.Int(0, "kernel"), text.Named("stride", text.Int(0, "kernel")));
    }

    public override string Format() => $"avgpool({KernelSize}{(Stride is { } s && s != KernelSize ? $",stride={s}" : "")})";

    internal override string ToOnnx(OnnxLayer layer, string input) =>
        layer.Node("AveragePool", [input], "", OnnxGraph.Attribute("kernel_shape", KernelSize, KernelSize), OnnxGraph.Attribute("strides", Stride ?? KernelSize, Stride ?? KernelSize));

    public override Module Create() => new AvgPool2d(KernelSize, Stride);
}
