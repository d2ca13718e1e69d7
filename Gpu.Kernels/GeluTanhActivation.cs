using ILGPU.Algorithms;

namespace Gpu.Kernels;

/// <summary>
/// torch.nn.GELU(approximate='tanh'), GPT-2's GELU (PyTorch 1.13, GeluKernel and GeluBackwardKernel):
/// <code>
/// y      = 0.5 x (1 + tanh(u)),   u = sqrt(2/pi) (x + 0.044715 x^3)
/// dy/dx  = 0.5 (1 + tanh(u)) + 0.5 x (1 - tanh(u)^2) sqrt(2/pi) (1 + 3 * 0.044715 x^2)
/// </code>
/// </summary>
public struct GeluTanhActivation : IActivation
{
    private const float Beta = 0.7978845608028654f; // sqrt(2 / pi)
    private const float Kappa = 0.044715f;

    public readonly float Forward(float x) => 0.5f * x * (1f + XMath.Tanh(Beta * (x + Kappa * x * x * x)));

    public readonly float Backward(float x, float y, float dy)
    {
        float square = x * x;
        float tanh = XMath.Tanh(Beta * (x + Kappa * square * x));
        float left = 0.5f * x;
        float right = 1f + tanh;
        float slope = 0.5f * right + left * (1f - tanh * tanh) * Beta * (1f + 3f * Kappa * square);
        return dy * slope;
    }
}
