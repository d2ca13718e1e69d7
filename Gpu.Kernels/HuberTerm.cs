using ILGPU;
using ILGPU.Algorithms;

namespace Gpu.Kernels;

/// <summary>
/// torch.nn.HuberLoss(delta) (PyTorch 1.13, aten huber_loss and huber_backward): with d = x - y,
/// <code>
/// term     = 0.5 d^2                 when |d| &lt; delta
///          = delta (|d| - 0.5 delta)  otherwise
/// gradient = -delta when d &lt;= -delta, delta when d &gt;= delta, else d
/// </code>
/// Quadratic near the target, linear (so robust to outliers) beyond delta.
/// </summary>
public struct HuberTerm : IPointwiseLoss
{
    /// <summary>Where the loss turns from quadratic to linear, &gt; 0 (PyTorch's default 1).</summary>
    public float Delta;

    public readonly float Term(float x, float y)
    {
        float z = XMath.Abs(x - y);
        return z < Delta ? 0.5f * z * z : Delta * (z - 0.5f * Delta);
    }

    public readonly float Gradient(float x, float y)
    {
        float d = x - y;
        return d <= -Delta ? -Delta : d >= Delta ? Delta : d;
    }

    public readonly float Compute(int i, ArrayView<float> a, ArrayView<float> b, int width) => Term(a[i], b[i]);
}
