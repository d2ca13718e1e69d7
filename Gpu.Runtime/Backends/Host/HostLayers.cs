using System.Runtime.CompilerServices;
using Gpu.Kernels;

namespace Gpu.Runtime.Backends.Host;

/// <summary>
/// The host fast path of the layers beyond the MLP: activations and dropout, on the CPU
/// accelerator's memory (convolutions: <see cref="HostConvolution"/>; pooling: <see cref="HostPooling"/>). The maths is the kernels'
/// (Gpu.Kernels): activations and random bits call the very structs and functions the kernels call.
/// </summary>
internal static unsafe class HostLayers
{
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Activation<TActivation>(TActivation f, ReadOnlySpan<float> x, Span<float> y)
        where TActivation : unmanaged, IActivation
    {
        // tanh and exp vectorised (the JIT keeps only the matching branch per struct); the scalar
        // MathF.Tanh took 15-25 ns a value, most of a GPT block's MLP.
        if (typeof(TActivation) == typeof(GeluTanhActivation))
        {
            HostActivations.GeluTanh(x, y);
            return;
        }

        if (typeof(TActivation) == typeof(TanhActivation))
        {
            System.Numerics.Tensors.TensorPrimitives.Tanh(x, y);
            return;
        }

        if (typeof(TActivation) == typeof(SigmoidActivation))
        {
            System.Numerics.Tensors.TensorPrimitives.Sigmoid(x, y);
            return;
        }

        for (int i = 0; i < x.Length; i++)
            y[i] = f.Forward(x[i]);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void ActivationBackward<TActivation>(TActivation f, ReadOnlySpan<float> x, ReadOnlySpan<float> y, ReadOnlySpan<float> dy, Span<float> dx)
        where TActivation : unmanaged, IActivation
    {
        if (typeof(TActivation) == typeof(GeluTanhActivation))
        {
            HostActivations.GeluTanhBackward(x, dy, dx);
            return;
        }

        for (int i = 0; i < x.Length; i++)
            dx[i] = f.Backward(x[i], y[i], dy[i]);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Multiply(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> y)
    {
        for (int i = 0; i < a.Length; i++)
            y[i] = a[i] * b[i];
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void DropoutMask(Span<float> mask, ulong seed, long step, long offset, int threshold, float scale)
    {
        for (int i = 0; i < mask.Length; i++)
            mask[i] = RandomKernels.Bits24(seed, step, offset + i) >= (uint)threshold ? scale : 0f;
    }
}
