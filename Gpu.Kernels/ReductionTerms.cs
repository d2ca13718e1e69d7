using ILGPU;
using ILGPU.Algorithms;

namespace Gpu.Kernels;

/// <summary>
/// The per-item quantity a reduction sums. Implemented by small structs so that one reduction kernel,
/// instantiated per term, serves every loss: ILGPU inlines the struct call. Item i reads what it
/// needs from a and b; width is the row length for row-wise terms (cross-entropy) and 1 otherwise.
/// </summary>
public interface IReductionTerm
{
    float Compute(int i, ArrayView<float> a, ArrayView<float> b, int width);
}

/// <summary>
/// A loss computed element by element from an output x and its target y: its term and the term's
/// derivative in x. One struct serves the forward reduction (as an <see cref="IReductionTerm"/> of
/// element i: <c>Term(a[i], b[i])</c>), the unreduced terms and the backward kernel
/// (<see cref="LossKernels.PointwiseBackward{TLoss}"/>), on every device and on the host path.
/// </summary>
public interface IPointwiseLoss : IReductionTerm
{
    /// <summary>The loss of one element.</summary>
    float Term(float x, float y);

    /// <summary>d Term / d x, before the reduction's scale (1/n for 'mean').</summary>
    float Gradient(float x, float y);
}

/// <summary>Squared error <c>(x - y)^2</c>, gradient <c>2 (x - y)</c> (torch.nn.MSELoss).</summary>
public struct SquaredErrorTerm : IPointwiseLoss
{
    public readonly float Term(float x, float y)
    {
        float d = x - y;
        return d * d;
    }

    // 2 (x - y) is exact, so scale * 2 (x - y) has the bits of PyTorch's (x - y) * (2 / n).
    public readonly float Gradient(float x, float y) => 2f * (x - y);

    public readonly float Compute(int i, ArrayView<float> a, ArrayView<float> b, int width) => Term(a[i], b[i]);
}

/// <summary>
/// Binary cross-entropy on logits x against targets y in the stable form
/// <c>max(x, 0) - x y + log(1 + exp(-|x|))</c> (torch.nn.BCEWithLogitsLoss).
/// </summary>
public struct BceWithLogitsTerm : IPointwiseLoss
{
    public readonly float Term(float x, float y) => XMath.Max(x, 0f) - x * y + Log1P(XMath.Exp(-XMath.Abs(x)));

    /// <summary><c>sigmoid(x) - y</c>.</summary>
    public readonly float Gradient(float x, float y) => LossKernels.Sigmoid(x) - y;

    public readonly float Compute(int i, ArrayView<float> a, ArrayView<float> b, int width) => Term(a[i], b[i]);

    /// <summary>
    /// log(1 + e) accurate for small e (XMath has no log1p). Below 0.05 a six-term series (relative
    /// error under 1e-10): on a GPU XMath.Log compiles to the approximate lg2.approx, whose absolute
    /// error (about 1.6e-7) near 1 would swamp log(1 + e) for e below about 1e-4. Above, Goldberg's
    /// correction log(u) e / (u - 1) with u = 1 + e.
    /// </summary>
    public static float Log1P(float e)
    {
        if (e < 0.05f)
            return e * (1f - e * (0.5f - e * (1f / 3f - e * (0.25f - e * (0.2f - e * (1f / 6f))))));
        float u = 1f + e;
        return XMath.Log(u) * e / (u - 1f);
    }
}

/// <summary>
/// Softmax cross-entropy of row i against a class index (torch.nn.CrossEntropyLoss):
/// <c>logsumexp(a[i, :]) - a[i, label]</c> with the row maximum subtracted before exponentiating.
/// b holds class indices as floats; an index outside [0, width) yields NaN (the runtime validates
/// labels before they reach the device).
/// </summary>
public struct CrossEntropyTerm : IReductionTerm
{
    public readonly float Compute(int i, ArrayView<float> a, ArrayView<float> b, int width)
    {
        int start = i * width;
        float sum = SumExp(a, start, width, out float max);
        int label = (int)b[i];
        if (label < 0 || label >= width || label != b[i])
            return float.NaN;
        return max + XMath.Log(sum) - a[start + label];
    }

    /// <summary>
    /// The stable softmax denominator of a row: <c>sum_j exp(x[start + j] - max)</c> with max the row
    /// maximum (shared with <see cref="LossKernels.CrossEntropyBackward"/>).
    /// </summary>
    public static float SumExp(ArrayView<float> x, int start, int width, out float max)
    {
        max = x[start];
        for (int j = 1; j < width; j++)
            max = XMath.Max(max, x[start + j]);
        float sum = 0f;
        for (int j = 0; j < width; j++)
            sum += XMath.Exp(x[start + j] - max);
        return sum;
    }
}

/// <summary>
/// Regularization penalty of one parameter: <c>L1 |a[i]| + L2 a[i]^2</c>. Summed over all parameters
/// it is the term a user adds to the loss (<c>l1 * sum |w| + l2 * sum w^2</c>); b is unused.
/// </summary>
public struct RegularizationTerm : IReductionTerm
{
    public float L1;
    public float L2;

    public readonly float Compute(int i, ArrayView<float> a, ArrayView<float> b, int width)
    {
        float w = a[i];
        return L1 * XMath.Abs(w) + L2 * w * w;
    }
}

/// <summary>
/// 1 when row i of the logits a (width classes) has its largest value (the first one, on ties) at the
/// class index b[i], else 0: summed, the number of correct predictions of a classifier. With one
/// column (binary logits) the prediction is <c>a[i] &gt; 0</c> and the target b[i] counts as 1 from 0.5.
/// </summary>
public struct CorrectTerm : IReductionTerm
{
    public readonly float Compute(int i, ArrayView<float> a, ArrayView<float> b, int width)
    {
        if (width == 1)
            return (a[i] > 0f) == (b[i] >= 0.5f) ? 1f : 0f;
        int start = i * width;
        int best = 0;
        float max = a[start];
        for (int j = 1; j < width; j++)
        {
            if (a[start + j] > max)
            {
                max = a[start + j];
                best = j;
            }
        }

        return best == (int)b[i] ? 1f : 0f;
    }
}
