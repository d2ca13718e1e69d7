using System.Numerics;
using System.Runtime.InteropServices;
using ILGPU.Algorithms;

namespace Gpu.Kernels;

/// <summary>
/// torch.optim.Adam and AdamW (PyTorch 1.13, single-tensor implementation), per element, step t from 1:
/// <code>
/// g += wd p                         (Adam's L2 weight decay)   | p *= 1 - lr wd   (AdamW)
/// m = b1 m + (1 - b1) g
/// v = b2 v + (1 - b2) g^2
/// vmax = max(vmax, v)               (amsgrad only; v below is then vmax)
/// p -= StepSize * m / (sqrt(v) / sqrt(1 - b2^t) + eps)      StepSize = lr / (1 - b1^t)
/// </code>
/// The runtime computes the bias corrections on the host in double precision for step t, with the
/// step's lr and beta1, exactly as torch.optim.Adam does before its update. States: s0 = exp_avg,
/// s1 = exp_avg_sq, s2 = max_exp_avg_sq (amsgrad only).
/// </summary>
public struct AdamRule : IOptimizerRule
{
    public float Lr;
    public float Beta1;
    public float OneMinusBeta1;
    public float Beta2;
    public float OneMinusBeta2;
    public float Eps;
    public float WeightDecay;

    /// <summary>1: AdamW's decoupled decay <c>p -= lr * wd * p</c>. 0: Adam's L2 term <c>g += wd * p</c>.</summary>
    public int Decoupled;

    /// <summary>1: use <c>vmax = max(vmax, v)</c> in the denominator (amsgrad).</summary>
    public int Amsgrad;

    public float StepSize;
    public float BiasCorrection2Sqrt;

    public readonly void Update(ref float p, float g, ref float s0, ref float s1, ref float s2)
    {
        float param = p;
        float grad = g;
        if (Decoupled != 0)
            param *= 1f - Lr * WeightDecay;
        else
            grad += WeightDecay * param;

        float mi = Beta1 * s0 + OneMinusBeta1 * grad;
        float vi = Beta2 * s1 + OneMinusBeta2 * grad * grad;
        s0 = mi;
        s1 = vi;
        if (Amsgrad != 0)
        {
            vi = XMath.Max(s2, vi);
            s2 = vi;
        }

        float denom = XMath.Sqrt(vi) / BiasCorrection2Sqrt + Eps;
        p = param - StepSize * (mi / denom);
    }

    public readonly int UpdateVectors(Span<float> p, ReadOnlySpan<float> g, Span<float> s0, Span<float> s1, Span<float> s2)
    {
        if (!Vector.IsHardwareAccelerated)
            return 0;
        int width = Vector<float>.Count, i = 0;
        var beta1 = new Vector<float>(Beta1);
        var oneMinusBeta1 = new Vector<float>(OneMinusBeta1);
        var beta2 = new Vector<float>(Beta2);
        var oneMinusBeta2 = new Vector<float>(OneMinusBeta2);
        var decay = new Vector<float>(WeightDecay);
        var shrink = new Vector<float>(1f - Lr * WeightDecay);
        var bc2 = new Vector<float>(BiasCorrection2Sqrt);
        var eps = new Vector<float>(Eps);
        var stepSize = new Vector<float>(StepSize);
        ref float ps = ref MemoryMarshal.GetReference(p);
        ref float gs = ref MemoryMarshal.GetReference(g);
        ref float ms = ref MemoryMarshal.GetReference(s0);
        ref float vs = ref MemoryMarshal.GetReference(s1);
        ref float vmaxs = ref MemoryMarshal.GetReference(s2);
        for (; i + width <= p.Length; i += width)
        {
            nuint at = (nuint)i;
            var param = Vector.LoadUnsafe(ref ps, at);
            var grad = Vector.LoadUnsafe(ref gs, at);
            if (Decoupled != 0)
                param *= shrink;
            else
                grad += decay * param;
            var mi = beta1 * Vector.LoadUnsafe(ref ms, at) + oneMinusBeta1 * grad;
            var vi = beta2 * Vector.LoadUnsafe(ref vs, at) + oneMinusBeta2 * grad * grad;
            mi.StoreUnsafe(ref ms, at);
            vi.StoreUnsafe(ref vs, at);
            if (Amsgrad != 0)
            {
                vi = Vector.Max(Vector.LoadUnsafe(ref vmaxs, at), vi);
                vi.StoreUnsafe(ref vmaxs, at);
            }

            var denom = Vector.SquareRoot(vi) / bc2 + eps;
            (param - stepSize * (mi / denom)).StoreUnsafe(ref ps, at);
        }

        return i;
    }
}
