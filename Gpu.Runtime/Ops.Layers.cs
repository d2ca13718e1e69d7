using Gpu.Kernels;

namespace Gpu.Runtime;

public static partial class Ops
{
    /// <summary>
    /// The patch matrix of a convolution (im2col in row form): <paramref name="input"/> (B, C, H, W)
    /// becomes <paramref name="patches"/> (B * OH * OW, C * k * k), row <c>b OH OW + oh OW + ow</c>
    /// holding the k x k window at (oh, ow) of every channel, zero where it overhangs the padding.
    /// A convolution is then a matrix product with the weight read as (out, C k k).
    /// </summary>
    public static void ConvPatches(Tensor input, Tensor patches, int kernelSize, int stride = 1, int padding = 0)
    {
        const string op = nameof(ConvPatches);
        var d = Check.Usable(op, input, "input");
        Check.Usable(op, patches, "patches", d);
        var s = ConvShapeOf(op, input, kernelSize, stride, padding);
        CheckPatches(op, patches, s);
        Check.NoOverlap(op, patches, "patches", input, "input");
        if (patches.Length > 0)
            d.Dispatch().ConvPatches(input, patches, s);
    }

    /// <summary>
    /// The input gradient of <see cref="ConvPatches"/>: <paramref name="gradInput"/> (B, C, H, W) is
    /// overwritten with the sum of the <paramref name="gradPatches"/> entries copied from each input element.
    /// </summary>
    public static void ConvPatchesBackward(Tensor gradPatches, Tensor gradInput, int kernelSize, int stride = 1, int padding = 0)
    {
        const string op = nameof(ConvPatchesBackward);
        var d = Check.Usable(op, gradPatches, "gradPatches");
        Check.Usable(op, gradInput, "gradInput", d);
        var s = ConvShapeOf(op, gradInput, kernelSize, stride, padding);
        CheckPatches(op, gradPatches, s);
        Check.NoOverlap(op, gradInput, "gradInput", gradPatches, "gradPatches");
        if (gradInput.Length > 0)
            d.Dispatch().ConvPatchesBackward(gradPatches, gradInput, s);
    }

    /// <summary>Transposes the last two dimensions of a (B, R, C) tensor into (B, C, R).</summary>
    public static void TransposeLastTwo(Tensor input, Tensor output)
    {
        const string op = nameof(TransposeLastTwo);
        var d = Check.Usable(op, input, "input");
        Check.Usable(op, output, "output", d);
        Check.Rank(op, input, "input", 3);
        Check.Rank(op, output, "output", 3);
        int batch = input.Shape[0], rows = input.Shape[1], columns = input.Shape[2];
        if (output.Shape[0] != batch || output.Shape[1] != columns || output.Shape[2] != rows)
            throw new ShapeMismatchException($"{op}: input {input.Shape} needs output ({batch}, {columns}, {rows}) but output is {output.Shape}.");
        Check.NoOverlap(op, output, "output", input, "input");
        if (output.Length > 0)
            d.Dispatch().BatchedTranspose(input, output, batch, rows, columns);
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

    private static ConvShape ConvShapeOf(string op, Tensor image, int kernelSize, int stride, int padding)
    {
        Check.Rank(op, image, "image", 4);
        if (kernelSize < 1 || stride < 1 || padding < 0)
            throw new ArgumentOutOfRangeException(nameof(kernelSize), $"{op}: kernel size {kernelSize} and stride {stride} must be at least 1 and padding {padding} at least 0.");
        int h = image.Shape[2], w = image.Shape[3];
        if (h + 2 * padding < kernelSize || w + 2 * padding < kernelSize)
            throw new ShapeMismatchException($"{op}: a {kernelSize}x{kernelSize} kernel does not fit in an image of {h}x{w} with padding {padding}.");
        return ConvShape.Create(image.Shape[0], image.Shape[1], h, w, kernelSize, stride, padding);
    }

    private static void CheckPatches(string op, Tensor patches, ConvShape s)
    {
        long rows = (long)s.Batch * s.Positions;
        if (patches.Rank != 2 || patches.Shape[0] != rows || patches.Shape[1] != s.PatchLength)
            throw new ShapeMismatchException($"{op}: patches {patches.Shape} must be ({rows}, {s.PatchLength}) for a {s.KernelSize}x{s.KernelSize} kernel over ({s.Batch}, {s.Channels}, {s.Height}, {s.Width}).");
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
