namespace Gpu.Kernels;

/// <summary>
/// torch.optim.SGD (PyTorch 1.13), per element:
/// <code>
/// g += wd p
/// buf = g (the buffer's first step) | buf = mu buf + (1 - dampening) g
/// g = g + mu buf (nesterov) | g = buf
/// p -= lr g
/// </code>
/// State: s0 = momentum_buffer (used only with momentum).
/// </summary>
public struct SgdRule : IOptimizerRule
{
    public float Lr;
    public float Momentum;

    /// <summary><c>1 - dampening</c>, the weight of the new gradient in the momentum buffer.</summary>
    public float OneMinusDampening;
    public float WeightDecay;
    public int Nesterov;

    /// <summary>1 on the momentum buffer's first step: it starts as the gradient itself, as PyTorch's does.</summary>
    public int FirstStep;

    public readonly void Update(ref float p, float g, ref float s0, ref float s1, ref float s2)
    {
        float param = p;
        float grad = g + WeightDecay * param;
        if (Momentum != 0f)
        {
            float b = FirstStep != 0 ? grad : Momentum * s0 + OneMinusDampening * grad;
            s0 = b;
            grad = Nesterov != 0 ? grad + Momentum * b : b;
        }

        p = param - Lr * grad;
    }

    public readonly int UpdateVectors(Span<float> p, ReadOnlySpan<float> g, Span<float> s0, Span<float> s1, Span<float> s2) => 0;
}
