using ILGPU;
using ILGPU.Algorithms;

namespace Gpu.Kernels;

/// <summary>
/// An elementwise activation: its forward value and its derivative. Implemented by small structs so
/// that one generic kernel pair serves every activation (ILGPU inlines the struct calls) and the host
/// path runs exactly the same arithmetic. <see cref="Backward"/> gets the forward input x and output
/// y, so each activation uses whichever makes its derivative cheap.
/// </summary>
public interface IActivation
{
    /// <summary>y = f(x).</summary>
    float Forward(float x);

    /// <summary>dx = f'(x) dy, given x and y = f(x).</summary>
    float Backward(float x, float y, float dy);
}

/// <summary>torch.nn.Tanh: <c>y = tanh x</c>, <c>dy/dx = 1 - y^2</c>.</summary>
public struct TanhActivation : IActivation
{
    public readonly float Forward(float x) => XMath.Tanh(x);

    public readonly float Backward(float x, float y, float dy) => dy * (1f - y * y);
}

/// <summary>torch.nn.Sigmoid: <c>y = 1 / (1 + exp(-x))</c>, <c>dy/dx = y (1 - y)</c>.</summary>
public struct SigmoidActivation : IActivation
{
    public readonly float Forward(float x) => LossKernels.Sigmoid(x);

    public readonly float Backward(float x, float y, float dy) => dy * y * (1f - y);
}

/// <summary>
/// torch.nn.LeakyReLU(negative_slope): <c>y = x</c> for x &gt; 0, else <c>slope x</c>; the derivative at
/// 0 is the slope, as in PyTorch (leaky_relu_backward uses x &gt; 0).
/// </summary>
public struct LeakyReluActivation : IActivation
{
    /// <summary>The negative slope (PyTorch's default 0.01).</summary>
    public float Slope;

    public readonly float Forward(float x) => x > 0f ? x : x * Slope;

    public readonly float Backward(float x, float y, float dy) => x > 0f ? dy : dy * Slope;
}

/// <summary>
/// torch.nn.GELU in its exact (default, approximate='none') form:
/// <c>y = x Phi(x)</c> with <c>Phi(x) = erfc(-x / sqrt 2) / 2</c> the standard normal CDF, and
/// <c>dy/dx = Phi(x) + x phi(x)</c> with <c>phi(x) = exp(-x^2 / 2) / sqrt(2 pi)</c>.
/// </summary>
public struct GeluActivation : IActivation
{
    private const float InverseSqrt2 = 0.70710678118654752f;
    private const float InverseSqrt2Pi = 0.39894228040143268f;

    public readonly float Forward(float x) => x * Phi(x);

    public readonly float Backward(float x, float y, float dy) =>
        dy * (Phi(x) + x * InverseSqrt2Pi * XMath.Exp(-0.5f * x * x));

    /// <summary>The standard normal CDF through erfc, so that it keeps its relative accuracy in the far left tail.</summary>
    public static float Phi(float x) => 0.5f * Erfc(-x * InverseSqrt2);

    /// <summary>
    /// The complementary error function from the Chebyshev fit of Numerical Recipes (section 6.2,
    /// "erfcc"; fractional error below 1.2e-7 in exact arithmetic), which keeps its relative accuracy
    /// where <c>1 - erf(x)</c> would cancel. In float the rounding of <c>z^2</c> adds a relative error
    /// of about 4e-7 at |x| = 1, 2e-6 at 4 and 1e-5 at 9 (measured against math.erfc); for GELU that
    /// is the far left tail, where the values are below 1e-8 in size.
    /// </summary>
    public static float Erfc(float x)
    {
        float z = XMath.Abs(x);
        float t = 1f / (1f + 0.5f * z);
        float polynomial = -1.26551223f + t * (1.00002368f + t * (0.37409196f + t * (0.09678418f + t * (-0.18628806f
            + t * (0.27886807f + t * (-1.13520398f + t * (1.48851587f + t * (-0.82215223f + t * 0.17087277f))))))));
        float result = t * XMath.Exp(-z * z + polynomial);
        return x >= 0f ? result : 2f - result;
    }
}

/// <summary>
/// Elementwise activations as grid-stride loops (see <see cref="ElementwiseKernels"/> for why n and
/// the stride are scalars). ReLU has its own kernels in <see cref="ElementwiseKernels"/>: its
/// backward reads only the output, and the host path vectorises it.
/// </summary>
public static class ActivationKernels
{
    /// <summary><c>y[i] = f(x[i])</c>; x and y may be the same view.</summary>
    [Kernel]
    public static void Forward<TActivation>(Index1D index, ArrayView<float> x, ArrayView<float> y, TActivation f, int n, int stride)
        where TActivation : struct, IActivation
    {
        for (int i = index; i < n; i += stride)
            y[i] = f.Forward(x[i]);
    }

    /// <summary><c>dx[i] = f'(x[i]) dy[i]</c>.</summary>
    [Kernel]
    public static void Backward<TActivation>(
        Index1D index, ArrayView<float> x, ArrayView<float> y, ArrayView<float> dy, ArrayView<float> dx, TActivation f, int n, int stride)
        where TActivation : struct, IActivation
    {
        for (int i = index; i < n; i += stride)
            dx[i] = f.Backward(x[i], y[i], dy[i]);
    }
}
