using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using ILGPU.Runtime.Cuda;

namespace Gpu.Runtime;

/// <summary>
/// A device's fp32 peak, for model FLOP utilisation (achieved FLOP/s over peak) in reports. Never
/// a guess: a device whose peak cannot be known reports null.
/// <list type="bullet">
/// <item>CUDA: multiprocessors x clock x fp32 lanes per multiprocessor for the architecture x 2
/// (a fused multiply-add is two operations). Lanes per SM from NVIDIA's CUDA programming guide
/// ("Arithmetic Instructions" throughput table): 64 on sm_60, sm_70, sm_75 and sm_80 (A100), 128 on
/// sm_5x, sm_61, sm_86, sm_89 and sm_90 (H100/H200).</item>
/// <item>CPU: cores x one core's fused multiply-add throughput, measured once per process by a
/// short probe (about 30 ms) at the widest vector width the core runs (AVX-512, AVX2, ...), so
/// the clock and the SIMD width are both in the measurement.</item>
/// </list>
/// </summary>
public static class PeakFlops
{
    private static readonly Lazy<double> CoreFlops = new(MeasureCore);

    /// <summary>The peak in FLOP/s and how it was obtained, or null when it cannot be known.</summary>
    public static (double Flops, string Source)? Of(Device device)
    {
        ArgumentNullException.ThrowIfNull(device);
        switch (device.Accelerator)
        {
            case CudaAccelerator cuda:
                int? lanes = FpLanesPerMultiprocessor(cuda.Architecture.Major, cuda.Architecture.Minor);
                if (lanes is null || cuda.ClockRate <= 0)
                    return null;
                double flops = cuda.NumMultiprocessors * (cuda.ClockRate * 1e3) * lanes.Value * 2.0;
                return (flops, $"{cuda.NumMultiprocessors} SMs x {cuda.ClockRate / 1e6:F2} GHz x {lanes} fp32 lanes x 2 (sm_{cuda.Architecture.Major}{cuda.Architecture.Minor})");
            default:
                if (device.Kind != DeviceKind.Cpu)
                    return null;
                int cores = Backends.Host.HostThreads.Count;
                double core = CoreFlops.Value;
                return (cores * core, $"{cores} core(s) x {core / 1e9:F1} GFLOP/s each (FMA probe, {VectorWidth()} bits)");
        }
    }

    /// <summary>fp32 FMA lanes per multiprocessor for a compute capability; null when not known.</summary>
    internal static int? FpLanesPerMultiprocessor(int major, int minor) => (major, minor) switch
    {
        (5, _) => 128,
        (6, 0) => 64,
        (6, _) => 128,
        (7, _) => 64,
        (8, 0) => 64,
        (8, _) => 128,
        (9, 0) => 128,
        _ => null,
    };

    private static int VectorWidth() => Vector512.IsHardwareAccelerated ? 512 : Vector256.IsHardwareAccelerated ? 256 : 128;

    // Best of five short runs of twelve independent multiply-add chains (enough to cover the
    // latency of two FMA units), on the calling thread.
    private static double MeasureCore()
    {
        double best = 0;
        for (int run = 0; run < 5; run++)
        {
            const int iterations = 200_000;
            var clock = Stopwatch.StartNew();
            float lanes = Vector512.IsHardwareAccelerated ? Chains512(iterations) : Vector256.IsHardwareAccelerated ? Chains256(iterations) : Chains128(iterations);
            double seconds = clock.Elapsed.TotalSeconds;
            best = Math.Max(best, iterations * 12.0 * lanes * 2 / seconds);
        }

        return best;
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static float Chains512(int iterations)
    {
        var m = Vector512.Create(0.999999f);
        var a = Vector512.Create(1e-7f);
        Vector512<float> c0 = m, c1 = m, c2 = m, c3 = m, c4 = m, c5 = m, c6 = m, c7 = m, c8 = m, c9 = m, c10 = m, c11 = m;
        for (int i = 0; i < iterations; i++)
        {
            c0 = Vector512.FusedMultiplyAdd(c0, m, a); c1 = Vector512.FusedMultiplyAdd(c1, m, a); c2 = Vector512.FusedMultiplyAdd(c2, m, a);
            c3 = Vector512.FusedMultiplyAdd(c3, m, a); c4 = Vector512.FusedMultiplyAdd(c4, m, a); c5 = Vector512.FusedMultiplyAdd(c5, m, a);
            c6 = Vector512.FusedMultiplyAdd(c6, m, a); c7 = Vector512.FusedMultiplyAdd(c7, m, a); c8 = Vector512.FusedMultiplyAdd(c8, m, a);
            c9 = Vector512.FusedMultiplyAdd(c9, m, a); c10 = Vector512.FusedMultiplyAdd(c10, m, a); c11 = Vector512.FusedMultiplyAdd(c11, m, a);
        }

        Sink = Vector512.Sum(c0 + c1 + c2 + c3 + c4 + c5 + c6 + c7 + c8 + c9 + c10 + c11);
        return Vector512<float>.Count;
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static float Chains256(int iterations)
    {
        var m = Vector256.Create(0.999999f);
        var a = Vector256.Create(1e-7f);
        Vector256<float> c0 = m, c1 = m, c2 = m, c3 = m, c4 = m, c5 = m, c6 = m, c7 = m, c8 = m, c9 = m, c10 = m, c11 = m;
        for (int i = 0; i < iterations; i++)
        {
            c0 = Vector256.FusedMultiplyAdd(c0, m, a); c1 = Vector256.FusedMultiplyAdd(c1, m, a); c2 = Vector256.FusedMultiplyAdd(c2, m, a);
            c3 = Vector256.FusedMultiplyAdd(c3, m, a); c4 = Vector256.FusedMultiplyAdd(c4, m, a); c5 = Vector256.FusedMultiplyAdd(c5, m, a);
            c6 = Vector256.FusedMultiplyAdd(c6, m, a); c7 = Vector256.FusedMultiplyAdd(c7, m, a); c8 = Vector256.FusedMultiplyAdd(c8, m, a);
            c9 = Vector256.FusedMultiplyAdd(c9, m, a); c10 = Vector256.FusedMultiplyAdd(c10, m, a); c11 = Vector256.FusedMultiplyAdd(c11, m, a);
        }

        Sink = Vector256.Sum(c0 + c1 + c2 + c3 + c4 + c5 + c6 + c7 + c8 + c9 + c10 + c11);
        return Vector256<float>.Count;
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static float Chains128(int iterations)
    {
        var m = Vector128.Create(0.999999f);
        var a = Vector128.Create(1e-7f);
        Vector128<float> c0 = m, c1 = m, c2 = m, c3 = m, c4 = m, c5 = m, c6 = m, c7 = m, c8 = m, c9 = m, c10 = m, c11 = m;
        for (int i = 0; i < iterations; i++)
        {
            c0 = Vector128.FusedMultiplyAdd(c0, m, a); c1 = Vector128.FusedMultiplyAdd(c1, m, a); c2 = Vector128.FusedMultiplyAdd(c2, m, a);
            c3 = Vector128.FusedMultiplyAdd(c3, m, a); c4 = Vector128.FusedMultiplyAdd(c4, m, a); c5 = Vector128.FusedMultiplyAdd(c5, m, a);
            c6 = Vector128.FusedMultiplyAdd(c6, m, a); c7 = Vector128.FusedMultiplyAdd(c7, m, a); c8 = Vector128.FusedMultiplyAdd(c8, m, a);
            c9 = Vector128.FusedMultiplyAdd(c9, m, a); c10 = Vector128.FusedMultiplyAdd(c10, m, a); c11 = Vector128.FusedMultiplyAdd(c11, m, a);
        }

        Sink = Vector128.Sum(c0 + c1 + c2 + c3 + c4 + c5 + c6 + c7 + c8 + c9 + c10 + c11);
        return Vector128<float>.Count;
    }

    // Keeps the probe's result alive so the JIT cannot remove the loops.
    private static float Sink;
}
