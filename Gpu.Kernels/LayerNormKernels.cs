using ILGPU;
using ILGPU.Algorithms;

namespace Gpu.Kernels;

/// <summary>
/// torch.nn.LayerNorm over the last axis (PyTorch 1.13): for each row x of <c>width</c> values,
/// <code>
/// mean, var = the row's mean and biased variance (Welford, one pass)
/// rstd = 1 / sqrt(var + eps)
/// y = (x - mean) rstd * weight + bias
/// backward, with xhat = (x - mean) rstd and g = dy * weight:
/// dx = rstd (g - mean(g) - xhat mean(g xhat));  dweight = sum over rows of dy xhat;  dbias = sum over rows of dy
/// </code>
/// One thread per row (grid-stride over rows), each row's sums in a fixed order, so results are
/// deterministic; the weight and bias gradients are column sums of per-row products (no atomics).
/// </summary>
public static class LayerNormKernels
{
    /// <summary>Normalises each row; writes its mean and rstd for the backward pass.</summary>
    [Kernel]
    public static void Forward(
        Index1D index, ArrayView<float> x, ArrayView<float> weight, ArrayView<float> bias, ArrayView<float> y, ArrayView<float> mean, ArrayView<float> rstd,
        int rows, int width, float eps, int stride)
    {
        for (int r = index; r < rows; r += stride)
        {
            int start = r * width;
            float m = 0f, m2 = 0f;
            for (int j = 0; j < width; j++)
                Accumulate(ref m, ref m2, x[start + j], j + 1);
            float s = ReciprocalStd(m2, width, eps);
            mean[r] = m;
            rstd[r] = s;
            for (int j = 0; j < width; j++)
                y[start + j] = (x[start + j] - m) * s * weight[j] + bias[j];
        }
    }

    /// <summary>
    /// Writes dx (unless <paramref name="hasDx"/> is 0) and, for the weight gradient, each element's
    /// <c>dy xhat</c> into <paramref name="products"/>; the caller sums its columns (and dy's for the bias).
    /// </summary>
    [Kernel]
    public static void Backward(
        Index1D index, ArrayView<float> x, ArrayView<float> weight, ArrayView<float> mean, ArrayView<float> rstd, ArrayView<float> dy,
        ArrayView<float> dx, ArrayView<float> products, int rows, int width, int hasDx, int stride)
    {
        for (int r = index; r < rows; r += stride)
        {
            int start = r * width;
            float m = mean[r], s = rstd[r];
            float sumG = 0f, sumGx = 0f;
            for (int j = 0; j < width; j++)
            {
                float xhat = (x[start + j] - m) * s;
                float g = dy[start + j] * weight[j];
                sumG += g;
                sumGx += g * xhat;
                products[start + j] = dy[start + j] * xhat;
            }

            if (hasDx == 0)
                continue;
            float meanG = sumG / width, meanGx = sumGx / width;
            for (int j = 0; j < width; j++)
            {
                float xhat = (x[start + j] - m) * s;
                dx[start + j] = s * (dy[start + j] * weight[j] - meanG - xhat * meanGx);
            }
        }
    }

    /// <summary>One step of Welford's running mean and sum of squared deviations (<paramref name="count"/> values so far, this one included).</summary>
    public static void Accumulate(ref float mean, ref float m2, float value, int count)
    {
        float delta = value - mean;
        mean += delta / count;
        m2 += delta * (value - mean);
    }

    /// <summary><c>1 / sqrt(m2 / width + eps)</c>: the reciprocal of the row's standard deviation (biased variance).</summary>
    public static float ReciprocalStd(float m2, int width, float eps) => XMath.Rsqrt(m2 / width + eps);
}
