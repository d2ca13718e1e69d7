using ILGPU;
using ILGPU.Algorithms;

namespace Gpu.Kernels;

/// <summary>
/// Fused optimizer updates over one flat parameter buffer: one launch updates every parameter of a
/// model. Per element (torch.optim, single-tensor implementation, PyTorch 1.13):
/// <code>
/// Adam:  g += l1 sign(p) + 2 l2 p          (regularization, when requested)
///        g += wd p                         (Adam's L2 weight decay)   | p *= 1 - lr wd   (AdamW)
///        m = b1 m + (1 - b1) g
///        v = b2 v + (1 - b2) g^2
///        vmax = max(vmax, v)               (amsgrad only; v below is then vmax)
///        p -= StepSize * m / (sqrt(v) / sqrt(1 - b2^t) + eps)      StepSize = lr / (1 - b1^t)
/// SGD:   g += l1 sign(p) + 2 l2 p + wd p
///        buf = g (first step) | buf = mu buf + (1 - dampening) g
///        g = g + mu buf (nesterov) | g = buf
///        p -= lr g
/// </code>
/// Adam moves 28 bytes per parameter (reads p, g, m, v; writes p, m, v): it is bandwidth-bound.
/// </summary>
public static class OptimizerKernels
{
    /// <summary>Adam and AdamW. <c>vmax</c> is read and written only when amsgrad is on.</summary>
    [Kernel]
    public static void Adam(
        Index1D index, ArrayView<float> p, ArrayView<float> g, ArrayView<float> m, ArrayView<float> v, ArrayView<float> vmax,
        AdamParameters h, int n, int stride)
    {
        for (int i = index; i < n; i += stride)
            AdamUpdate(ref p[i], g[i], ref m[i], ref v[i], ref vmax[i], h);
    }

    /// <summary>SGD with optional momentum, dampening, nesterov and weight decay. <c>buf</c> is unused without momentum.</summary>
    [Kernel]
    public static void Sgd(
        Index1D index, ArrayView<float> p, ArrayView<float> g, ArrayView<float> buf, SgdParameters h, int n, int stride)
    {
        for (int i = index; i < n; i += stride)
            SgdUpdate(ref p[i], g[i], ref buf[i], h);
    }

    /// <summary>
    /// One element of the Adam/AdamW update (the maths in the class summary). Shared by the kernel
    /// and the host fast path so that both run exactly the same arithmetic.
    /// </summary>
    public static void AdamUpdate(ref float p, float g, ref float m, ref float v, ref float vmax, AdamParameters h)
    {
        float param = p;
        float grad = g + Regularization(param, h.L1, h.L2);
        if (h.Decoupled != 0)
            param *= 1f - h.Lr * h.WeightDecay;
        else
            grad += h.WeightDecay * param;

        float mi = h.Beta1 * m + h.OneMinusBeta1 * grad;
        float vi = h.Beta2 * v + h.OneMinusBeta2 * grad * grad;
        m = mi;
        v = vi;
        if (h.Amsgrad != 0)
        {
            vi = XMath.Max(vmax, vi);
            vmax = vi;
        }

        float denom = XMath.Sqrt(vi) / h.BiasCorrection2Sqrt + h.Eps;
        p = param - h.StepSize * (mi / denom);
    }

    /// <summary>One element of the SGD update, shared by the kernel and the host fast path.</summary>
    public static void SgdUpdate(ref float p, float g, ref float buf, SgdParameters h)
    {
        float param = p;
        float grad = g + Regularization(param, h.L1, h.L2) + h.WeightDecay * param;
        if (h.Momentum != 0f)
        {
            float b = h.FirstStep != 0 ? grad : h.Momentum * buf + h.OneMinusDampening * grad;
            buf = b;
            grad = h.Nesterov != 0 ? grad + h.Momentum * b : b;
        }

        p = param - h.Lr * grad;
    }

    /// <summary>Gradient of <c>l1 |w| + l2 w^2</c>; sign(0) = 0 as in torch.sign.</summary>
    public static float Regularization(float w, float l1, float l2)
    {
        float sign = w > 0f ? 1f : (w < 0f ? -1f : 0f);
        return l1 * sign + 2f * l2 * w;
    }
}
