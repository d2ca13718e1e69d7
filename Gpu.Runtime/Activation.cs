using Gpu.Kernels;
using Gpu.Runtime.Backends;

namespace Gpu.Runtime;

/// <summary>
/// An elementwise activation that <see cref="Ops.Activation"/> applies: one of these instances,
/// each bound to its struct in Gpu.Kernels (the forward value and derivative that the kernels and
/// the host path both run). A new activation is its struct there and one property here.
/// </summary>
public abstract class Activation
{
    private protected Activation()
    {
    }

    /// <summary>torch.nn.Tanh.</summary>
    public static Activation Tanh { get; } = new Of<TanhActivation>(default);

    /// <summary>torch.nn.Sigmoid.</summary>
    public static Activation Sigmoid { get; } = new Of<SigmoidActivation>(default);

    /// <summary>torch.nn.GELU, exact erf form (approximate='none').</summary>
    public static Activation Gelu { get; } = new Of<GeluActivation>(default);

    /// <summary>torch.nn.GELU(approximate='tanh'), GPT-2's.</summary>
    public static Activation GeluTanh { get; } = new Of<GeluTanhActivation>(default);

    /// <summary>torch.nn.LeakyReLU with a finite negative slope (PyTorch's default 0.01).</summary>
    public static Activation LeakyRelu(float negativeSlope = 0.01f) =>
        float.IsFinite(negativeSlope)
            ? new Of<LeakyReluActivation>(new LeakyReluActivation { Slope = negativeSlope })
            : throw new ArgumentOutOfRangeException(nameof(negativeSlope), negativeSlope, "LeakyReLU: the negative slope must be finite.");

    internal abstract void Forward(Backend backend, Tensor x, Tensor y);

    internal abstract void Backward(Backend backend, Tensor x, Tensor y, Tensor dy, Tensor dx);

    private sealed class Of<TActivation>(TActivation f) : Activation
        where TActivation : unmanaged, IActivation
    {
        internal override void Forward(Backend backend, Tensor x, Tensor y) => backend.Activation(f, x, y);

        internal override void Backward(Backend backend, Tensor x, Tensor y, Tensor dy, Tensor dx) => backend.ActivationBackward(f, x, y, dy, dx);
    }
}
