using ILGPU;
using ILGPU.Algorithms;

namespace Gpu.Kernels;

/// <summary>
/// Loss gradients with respect to the model output, seeded with dLoss = 1. The forward values are
/// reductions of <see cref="IReductionTerm"/>s (see <see cref="ReductionKernels"/>); scale is 1/n for
/// 'mean' and 1 for 'sum'. Pointwise losses share one generic kernel; cross-entropy, row-wise, has its own.
/// </summary>
public static class LossKernels
{
    /// <summary>
    /// Any pointwise loss (<see cref="IPointwiseLoss"/>): <c>grad[i] = scale * loss.Gradient(input[i], target[i])</c>,
    /// scale being 1/n for 'mean' and 1 for 'sum' (times the caller's weight, e.g. under gradient accumulation).
    /// </summary>
    [Kernel]
    public static void PointwiseBackward<TLoss>(
        Index1D index, ArrayView<float> input, ArrayView<float> target, ArrayView<float> grad, TLoss loss, float scale, int n, int stride)
        where TLoss : struct, IPointwiseLoss
    {
        for (int i = index; i < n; i += stride)
            grad[i] = scale * loss.Gradient(input[i], target[i]);
    }

    /// <summary>Logistic function; exp is only ever taken of a non-positive number.</summary>
    public static float Sigmoid(float x)
    {
        if (x >= 0f)
            return 1f / (1f + XMath.Exp(-x));
        float e = XMath.Exp(x);
        return e / (1f + e);
    }

    /// <summary>
    /// CrossEntropyLoss over class indices: <c>grad[r, j] = scale * (softmax(x[r, :])[j] - [j == label[r]])</c>.
    /// One thread per row (grid-stride over rows).
    /// </summary>
    [Kernel]
    public static void CrossEntropyBackward(
        Index1D index, ArrayView<float> logits, ArrayView<float> labels, ArrayView<float> grad, float scale, int rows, int width, int stride)
    {
        for (int r = index; r < rows; r += stride)
        {
            int start = r * width;
            float sum = CrossEntropyTerm.SumExp(logits, start, width, out float max);
            float inverse = 1f / sum;
            int label = (int)labels[r];
            for (int j = 0; j < width; j++)
            {
                float p = XMath.Exp(logits[start + j] - max) * inverse;
                grad[start + j] = scale * (j == label ? p - 1f : p);
            }
        }
    }
}
