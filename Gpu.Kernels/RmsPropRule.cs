using ILGPU.Algorithms;

namespace Gpu.Kernels;

/// <summary>
/// torch.optim.RMSprop (PyTorch 1.13, single-tensor implementation), per element:
/// <code>
/// g += wd p
/// sq = alpha sq + (1 - alpha) g^2
/// ga = alpha ga + (1 - alpha) g              (centered only)
/// avg = sqrt(sq - ga^2) + eps  (centered)  | sqrt(sq) + eps
/// buf = mu buf + g / avg; p -= lr buf        (momentum &gt; 0)  | p -= lr g / avg
/// </code>
/// States: s0 = square_avg, s1 = momentum_buffer (momentum only), s2 = grad_avg (centered only), all
/// starting at zero.
/// </summary>
public struct RmsPropRule : IOptimizerRule
{
    public float Lr;
    public float Alpha;
    public float OneMinusAlpha;
    public float Eps;
    public float WeightDecay;
    public float Momentum;

    /// <summary>1: subtract the squared mean gradient (centered RMSprop).</summary>
    public int Centered;

    public readonly void Update(ref float p, float g, ref float s0, ref float s1, ref float s2)
    {
        float param = p;
        float grad = g + WeightDecay * param;
        float square = s0 * Alpha + OneMinusAlpha * grad * grad;
        s0 = square;
        float variance = square;
        if (Centered != 0)
        {
            float mean = s2 * Alpha + OneMinusAlpha * grad;
            s2 = mean;
            variance = square - mean * mean;
        }

        float avg = XMath.Sqrt(variance) + Eps;
        if (Momentum > 0f)
        {
            float buf = s1 * Momentum + grad / avg;
            s1 = buf;
            p = param - Lr * buf;
        }
        else
        {
            p = param - Lr * (grad / avg);
        }
    }

    public readonly int UpdateVectors(Span<float> p, ReadOnlySpan<float> g, Span<float> s0, Span<float> s1, Span<float> s2) => 0;
}
