using System.Buffers;
using System.Numerics.Tensors;

namespace Gpu.Runtime.Backends.Host;

/// <summary>
/// Layer norm's rows on the host path, vectorised (TensorPrimitives): the mean and the sum of
/// squared deviations in two passes over the row (the kernels' Welford update divides once per
/// value, a dependent chain that made a 128-wide row cost 0.7 µs), then the affine map. The same
/// quantities as the kernels' (docs/kernels.md), rounded in another order.
/// </summary>
internal static class HostLayerNorm
{
    /// <summary>Normalises <paramref name="x"/> into <paramref name="y"/>; returns the row's mean and 1/std.</summary>
    public static (float Mean, float Rstd) Forward(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, ReadOnlySpan<float> bias, Span<float> y, float eps)
    {
        int width = x.Length;
        float mean = TensorPrimitives.Sum(x) / width;
        TensorPrimitives.Subtract(x, mean, y);
        float rstd = 1f / MathF.Sqrt(TensorPrimitives.SumOfSquares(y) / width + eps);
        TensorPrimitives.Multiply(y, rstd, y);
        TensorPrimitives.FusedMultiplyAdd(y, weight, bias, y);
        return (mean, rstd);
    }

    /// <summary>
    /// One row's backward: <paramref name="products"/> = dy xhat (summed by column into dweight by the
    /// caller); dx = rstd (g - mean(g) - xhat mean(g xhat)), g = dy weight, when <paramref name="dx"/> is not empty.
    /// </summary>
    public static void Backward(
        ReadOnlySpan<float> x, ReadOnlySpan<float> weight, float mean, float rstd, ReadOnlySpan<float> dy, Span<float> products, Span<float> dx, Span<float> scratch)
    {
        int width = x.Length;
        Span<float> xhat = scratch[..width], g = scratch.Slice(width, width);
        TensorPrimitives.Subtract(x, mean, xhat);
        TensorPrimitives.Multiply(xhat, rstd, xhat);
        TensorPrimitives.Multiply(dy, xhat, products);
        if (dx.IsEmpty)
            return;
        TensorPrimitives.Multiply(dy, weight, g);
        float meanG = TensorPrimitives.Sum(g) / width, meanGx = TensorPrimitives.Dot(g, xhat) / width;
        TensorPrimitives.Subtract(g, meanG, g);
        TensorPrimitives.MultiplyAdd(xhat, -meanGx, g, g);
        TensorPrimitives.Multiply(g, rstd, dx);
    }

    /// <summary>Scratch for <see cref="Backward"/>: two rows.</summary>
    public static float[] RentScratch(int width) => ArrayPool<float>.Shared.Rent(2 * width);

    public static void Return(float[] scratch) => ArrayPool<float>.Shared.Return(scratch);
}
