using Gpu.Runtime;
using ILGPU;
using ILGPU.Runtime;
using Device = Gpu.Runtime.Device;

namespace Gpu.Bench.Baselines;

/// <summary>Launches <see cref="UnfusedAdamKernels"/> in sequence: four launches and a temporary per step.</summary>
public sealed class UnfusedAdam : IDisposable
{
    private readonly Device device;
    private readonly Tensor denominator;
    private readonly Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, float, int, int> firstMoment;
    private readonly Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, float, int, int> secondMoment;
    private readonly Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, float, float, int, int> denom;
    private readonly Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, float, int, int> update;

    public UnfusedAdam(Device device, int n)
    {
        this.device = device;
        var acc = device.Accelerator;
        denominator = device.Zeros(n);
        firstMoment = acc.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, float, int, int>(UnfusedAdamKernels.FirstMoment);
        secondMoment = acc.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, float, int, int>(UnfusedAdamKernels.SecondMoment);
        denom = acc.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, float, float, int, int>(UnfusedAdamKernels.Denominator);
        update = acc.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, float, int, int>(UnfusedAdamKernels.Update);
    }

    /// <summary>Bytes moved per parameter: m (r+w) g (r), v (r+w) g (r), v (r) denom (w), p (r+w) m (r) denom (r): 48.</summary>
    public const int BytesPerParameter = 48;

    public void Step(Tensor p, Tensor g, Tensor m, Tensor v, int step)
    {
        int n = p.Length;
        int threads = (int)Math.Min(n, (long)device.Accelerator.NumMultiprocessors * device.Accelerator.MaxNumThreadsPerMultiprocessor);
        var stream = device.Accelerator.DefaultStream;
        const float lr = 1e-3f, beta1 = 0.9f, beta2 = 0.999f, eps = 1e-8f;
        firstMoment(stream, threads, m.View, g.View, beta1, n, threads);
        secondMoment(stream, threads, v.View, g.View, beta2, n, threads);
        denom(stream, threads, v.View, denominator.View, MathF.Sqrt(1f - MathF.Pow(beta2, step)), eps, n, threads);
        update(stream, threads, p.View, m.View, denominator.View, lr / (1f - MathF.Pow(beta1, step)), n, threads);
    }

    public void Dispose() => denominator.Dispose();
}
