using ILGPU;
using ILGPU.Algorithms;

namespace Gpu.Kernels;

/// <summary>
/// What the trainer does to the flat gradient between backward and the optimizer step (PyTorch 1.13):
/// <code>
/// penalty:  g += l1 sign(p) + 2 l2 p           (the gradient of l1 sum|p| + l2 sum p^2 added to the loss)
/// norm:     coef = min(max / (|g|_2 + 1e-6), 1); g *= coef    (torch.nn.utils.clip_grad_norm_)
/// value:    g = clamp(g, -v, v)                (torch.nn.utils.clip_grad_value_)
/// </code>
/// The norm's sum of squares comes from a reduction into a one-element view and is read there, so the
/// step never waits for the host.
/// </summary>
public static class GradientKernels
{
    /// <summary><c>g[i] += Penalty(p[i], l1, l2)</c>.</summary>
    [Kernel]
    public static void AddPenalty(Index1D index, ArrayView<float> g, ArrayView<float> p, float l1, float l2, int n, int stride)
    {
        for (int i = index; i < n; i += stride)
            g[i] += Penalty(p[i], l1, l2);
    }

    /// <summary>
    /// Scales the gradient by <c>min(maxNorm / (sqrt(sumOfSquares[0]) + 1e-6), 1)</c>: by 1 (no change)
    /// while the total norm is within <paramref name="maxNorm"/>; NaN when the norm is not finite, as in
    /// PyTorch without error_if_nonfinite.
    /// </summary>
    [Kernel]
    public static void ClipByNorm(Index1D index, ArrayView<float> g, ArrayView<float> sumOfSquares, float maxNorm, int n, int stride)
    {
        float coefficient = ClipCoefficient(sumOfSquares[0], maxNorm);
        for (int i = index; i < n; i += stride)
            g[i] *= coefficient;
    }

    /// <summary><c>g[i] = clamp(g[i], -limit, limit)</c>; NaN stays NaN, as with torch.clamp.</summary>
    [Kernel]
    public static void Clamp(Index1D index, ArrayView<float> g, float limit, int n, int stride)
    {
        for (int i = index; i < n; i += stride)
            g[i] = Clamp(g[i], limit);
    }

    /// <summary>Gradient of <c>l1 |w| + l2 w^2</c>; sign(0) = 0 as in torch.sign.</summary>
    public static float Penalty(float w, float l1, float l2)
    {
        float sign = w > 0f ? 1f : (w < 0f ? -1f : 0f);
        return l1 * sign + 2f * l2 * w;
    }

    /// <summary>The clip coefficient <c>min(maxNorm / (norm + 1e-6), 1)</c> for a total norm given as its square.</summary>
    public static float ClipCoefficient(float sumOfSquares, float maxNorm)
    {
        float coefficient = maxNorm / (XMath.Sqrt(sumOfSquares) + 1e-6f);
        return coefficient >= 1f ? 1f : coefficient; // NaN stays NaN (torch.clamp), where a min instruction would give 1
    }

    /// <summary>One value clamped to [-limit, limit], NaN kept.</summary>
    public static float Clamp(float g, float limit) => g < -limit ? -limit : g > limit ? limit : g;
}
