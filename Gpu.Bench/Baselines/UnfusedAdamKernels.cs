using ILGPU;
using ILGPU.Algorithms;

namespace Gpu.Bench.Baselines;

/// <summary>
/// Adam done the unfused way (one elementwise launch per line of the update), as a framework
/// without a fused optimizer would run it: the baseline for the fused kernel. Not used in training.
/// </summary>
public static class UnfusedAdamKernels
{
    /// <summary>m = b1 m + (1 - b1) g.</summary>
    public static void FirstMoment(Index1D index, ArrayView<float> m, ArrayView<float> g, float beta1, int n, int stride)
    {
        for (int i = index; i < n; i += stride)
            m[i] = beta1 * m[i] + (1f - beta1) * g[i];
    }

    /// <summary>v = b2 v + (1 - b2) g^2.</summary>
    public static void SecondMoment(Index1D index, ArrayView<float> v, ArrayView<float> g, float beta2, int n, int stride)
    {
        for (int i = index; i < n; i += stride)
            v[i] = beta2 * v[i] + (1f - beta2) * g[i] * g[i];
    }

    /// <summary>denom = sqrt(v) / sqrt(bc2) + eps (a temporary, as eager frameworks materialise it).</summary>
    public static void Denominator(Index1D index, ArrayView<float> v, ArrayView<float> denom, float biasCorrection2Sqrt, float eps, int n, int stride)
    {
        for (int i = index; i < n; i += stride)
            denom[i] = XMath.Sqrt(v[i]) / biasCorrection2Sqrt + eps;
    }

    /// <summary>p -= step_size * m / denom.</summary>
    public static void Update(Index1D index, ArrayView<float> p, ArrayView<float> m, ArrayView<float> denom, float stepSize, int n, int stride)
    {
        for (int i = index; i < n; i += stride)
            p[i] -= stepSize * (m[i] / denom[i]);
    }
}
