using Gpu.Kernels;

namespace Gpu.Runtime;

public static partial class Ops
{
    /// <summary>
    /// torch.nn.functional.conv2d with a square kernel and zero padding:
    /// <paramref name="input"/> (B, C, H, W), <paramref name="weight"/> (out, C, k, k),
    /// <paramref name="bias"/> (out) or null, <paramref name="output"/> (B, out, OH, OW) with
    /// <c>OH = (H + 2 padding - k) / stride + 1</c>. How it runs is the backend's choice
    /// (docs/kernels.md): one image at a time on the host, one large product on a GPU. With
    /// <paramref name="relu"/>, the output is torch.relu's of the convolution (max with 0, NaN
    /// kept), applied as it is written: a Conv2d followed by a ReLU in one op.
    /// </summary>
    public static void Conv2d(Tensor input, Tensor weight, Tensor? bias, Tensor output, int stride = 1, int padding = 0, bool relu = false)
    {
        const string op = nameof(Conv2d);
        var (d, s, outChannels) = CheckConv(op, input, weight, bias, output, "output", stride, padding);
        Check.NoOverlap(op, output, "output", input, "input");
        Check.NoOverlap(op, output, "output", weight, "weight");
        if (output.Length > 0)
            d.Dispatch().Conv2d(input, weight, bias, output, s, outChannels, relu);
    }

    /// <summary>
    /// The gradients of <see cref="Conv2d"/> for <paramref name="gradOutput"/> (B, out, OH, OW):
    /// added to <paramref name="gradWeight"/> (out, C, k, k) and <paramref name="gradBias"/> (out,
    /// when not null), as PyTorch accumulates <c>.grad</c>; written to <paramref name="gradInput"/>
    /// (B, C, H, W) when it is not null.
    /// </summary>
    public static void Conv2dBackward(
        Tensor input, Tensor weight, Tensor gradOutput, Tensor gradWeight, Tensor? gradBias, Tensor? gradInput, int stride = 1, int padding = 0)
    {
        const string op = nameof(Conv2dBackward);
        var (d, s, outChannels) = CheckConv(op, input, weight, gradBias, gradOutput, "gradOutput", stride, padding);
        Check.Usable(op, gradWeight, "gradWeight", d);
        Check.SameShape(op, weight, "weight", gradWeight, "gradWeight");
        NoGradientOverlaps(op, gradWeight, gradBias, gradInput, input, "input");
        NoGradientOverlaps(op, gradWeight, gradBias, gradInput, weight, "weight");
        NoGradientOverlaps(op, gradWeight, gradBias, gradInput, gradOutput, "gradOutput");

        if (gradInput is not null)
        {
            Check.Usable(op, gradInput, "gradInput", d);
            Check.SameShape(op, input, "input", gradInput, "gradInput");
        }

        if (gradOutput.Length > 0)
            d.Dispatch().Conv2dBackward(input, weight, gradOutput, gradWeight, gradBias, gradInput, s, outChannels);
    }

    /// <summary>
    /// torch.nn.functional.max_pool2d without padding: <paramref name="output"/> (B, C, OH, OW) holds
    /// each window's maximum and <paramref name="indices"/> (at least B C OH OW of them) the flat
    /// input index of the first maximum, for <see cref="MaxPool2dBackward"/>.
    /// </summary>
    public static void MaxPool2d(Tensor input, Tensor output, IndexBuffer indices, int kernelSize, int stride)
    {
        const string op = nameof(MaxPool2d);
        var (d, s) = CheckPool(op, input, output, kernelSize, stride);
        CheckIndices(op, indices, d, output.Length);
        if (output.Length > 0)
            d.Dispatch().MaxPool(input, output, indices, s);
    }

    /// <summary>Max pooling's input gradient: each output gradient goes to its window's recorded maximum.</summary>
    public static void MaxPool2dBackward(Tensor gradOutput, IndexBuffer indices, Tensor gradInput, int kernelSize, int stride)
    {
        const string op = nameof(MaxPool2dBackward);
        var (d, s) = CheckPool(op, gradInput, gradOutput, kernelSize, stride);
        CheckIndices(op, indices, d, gradOutput.Length);
        if (gradInput.Length > 0)
            d.Dispatch().MaxPoolBackward(gradOutput, indices, gradInput, s);
    }

    /// <summary>torch.nn.functional.avg_pool2d without padding: the mean of each window.</summary>
    public static void AvgPool2d(Tensor input, Tensor output, int kernelSize, int stride)
    {
        var (d, s) = CheckPool(nameof(AvgPool2d), input, output, kernelSize, stride);
        if (output.Length > 0)
            d.Dispatch().AvgPool(input, output, s);
    }

    /// <summary>Average pooling's input gradient: each output gradient spread evenly over its window.</summary>
    public static void AvgPool2dBackward(Tensor gradOutput, Tensor gradInput, int kernelSize, int stride)
    {
        var (d, s) = CheckPool(nameof(AvgPool2dBackward), gradInput, gradOutput, kernelSize, stride);
        if (gradInput.Length > 0)
            d.Dispatch().AvgPoolBackward(gradOutput, gradInput, s);
    }

    // The gradients must not share memory with what they are computed from (runs every step: no allocation).
    private static void NoGradientOverlaps(string op, Tensor gradWeight, Tensor? gradBias, Tensor? gradInput, Tensor operand, string role)
    {
        Check.NoOverlap(op, gradWeight, "gradWeight", operand, role);
        if (gradBias is not null)
            Check.NoOverlap(op, gradBias, "gradBias", operand, role);
        if (gradInput is not null)
            Check.NoOverlap(op, gradInput, "gradInput", operand, role);
    }

    private static (Device, ConvShape, int) CheckConv(
        string op, Tensor input, Tensor weight, Tensor? bias, Tensor output, string outputRole, int stride, int padding)
    {
        var d = Check.Usable(op, input, "input");
        Check.Usable(op, weight, "weight", d);
        Check.Usable(op, output, outputRole, d);
        Check.Rank(op, input, "input", 4);
        Check.Rank(op, weight, "weight", 4);
        Check.Rank(op, output, outputRole, 4);
        int outChannels = weight.Shape[0], channels = weight.Shape[1], kernel = weight.Shape[2];
        if (weight.Shape[3] != kernel || kernel < 1)
            throw new ShapeMismatchException($"{op}: weight {weight.Shape} must be (out, in, k, k) with a square kernel of at least 1.");
        if (input.Shape[1] != channels)
            throw new ShapeMismatchException($"{op}: input {input.Shape} and weight {weight.Shape}: {input.Shape[1]} != {channels} input channels.");
        if (stride < 1 || padding < 0)
            throw new ArgumentOutOfRangeException(nameof(stride), $"{op}: stride {stride} must be at least 1 and padding {padding} at least 0.");
        int h = input.Shape[2], w = input.Shape[3];
        if (h + 2 * padding < kernel || w + 2 * padding < kernel)
            throw new ShapeMismatchException($"{op}: a {kernel}x{kernel} kernel does not fit in an image of {h}x{w} with padding {padding}.");
        var s = ConvShape.Create(input.Shape[0], channels, h, w, kernel, stride, padding);
        if (output.Shape[0] != s.Batch || output.Shape[1] != outChannels || output.Shape[2] != s.OutHeight || output.Shape[3] != s.OutWidth)
            throw new ShapeMismatchException($"{op}: input {input.Shape} and weight {weight.Shape} give ({s.Batch}, {outChannels}, {s.OutHeight}, {s.OutWidth}) but {outputRole} is {output.Shape}.");
        if (bias is not null)
        {
            Check.Usable(op, bias, "bias", d);
            if (bias.Length != outChannels)
                throw new ShapeMismatchException($"{op}: bias {bias.Shape} does not match the {outChannels} output channels.");
        }

        return (d, s, outChannels);
    }

    private static (Device, PoolShape) CheckPool(string op, Tensor input, Tensor output, int kernelSize, int stride)
    {
        var d = Check.Usable(op, input, "input");
        Check.Usable(op, output, "output", d);
        Check.Rank(op, input, "input", 4);
        Check.Rank(op, output, "output", 4);
        if (kernelSize < 1 || stride < 1)
            throw new ArgumentOutOfRangeException(nameof(kernelSize), $"{op}: kernel size {kernelSize} and stride {stride} must be at least 1.");
        int h = input.Shape[2], w = input.Shape[3];
        if (h < kernelSize || w < kernelSize)
            throw new ShapeMismatchException($"{op}: a {kernelSize}x{kernelSize} window does not fit in an image of {h}x{w}.");
        var s = PoolShape.Create(input.Shape[0], input.Shape[1], h, w, kernelSize, stride);
        if (output.Shape[0] != s.Batch || output.Shape[1] != s.Channels || output.Shape[2] != s.OutHeight || output.Shape[3] != s.OutWidth)
            throw new ShapeMismatchException($"{op}: input {input.Shape} pools to ({s.Batch}, {s.Channels}, {s.OutHeight}, {s.OutWidth}) but the other operand is {output.Shape}.");
        Check.NoOverlap(op, output, "output", input, "input");
        return (d, s);
    }

    private static void CheckIndices(string op, IndexBuffer indices, Device d, int needed)
    {
        ArgumentNullException.ThrowIfNull(indices);
        if (indices.IsDisposed)
            throw new ObjectDisposedException(nameof(IndexBuffer), $"{op}: indices have been disposed.");
        if (!ReferenceEquals(indices.Device, d))
            throw new ArgumentException($"{op}: indices are on another device than the tensors.", nameof(indices));
        if (indices.Length < needed)
            throw new ShapeMismatchException($"{op}: {indices.Length} indices cannot hold the {needed} window maxima.");
    }
}
