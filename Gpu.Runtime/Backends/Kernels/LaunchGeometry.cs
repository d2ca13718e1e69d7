using Gpu.Kernels;
using ILGPU.Runtime;

namespace Gpu.Runtime.Backends.Kernels;

/// <summary>
/// Launch sizes derived once from the accelerator. On the CPU accelerator a logical thread costs an
/// OS-thread hand-off, so grid-stride kernels run with one thread per hardware thread (cores x warp);
/// on a GPU they run with enough threads to fill every multiprocessor.
/// </summary>
internal sealed class LaunchGeometry
{
    public LaunchGeometry(Accelerator accelerator)
        : this(accelerator.NumMultiprocessors * accelerator.MaxNumThreadsPerMultiprocessor, accelerator.MaxNumThreadsPerGroup)
    {
    }

    /// <summary>Geometry from an accelerator's thread counts (tests give them directly).</summary>
    internal LaunchGeometry(int deviceThreads, int maxGroupSize)
    {
        MaxThreads = Math.Max(1, deviceThreads);
        MaxGroupSize = maxGroupSize;
        ReductionGroupSize = LargestPowerOfTwoAtMost(Math.Min(ReductionKernels.MaxGroupSize, maxGroupSize));
        MaxReductionGroups = Math.Clamp(MaxThreads / ReductionGroupSize, 1, 1024);
        SupportsTiledMatMul = maxGroupSize >= MatMulKernels.GroupSide * MatMulKernels.GroupSide;
    }

    /// <summary>Largest group the accelerator launches.</summary>
    public int MaxGroupSize { get; }

    /// <summary>Threads that keep the whole device busy (multiprocessors x threads per multiprocessor).</summary>
    public int MaxThreads { get; }

    /// <summary>Group size of the reduction kernels: a power of two at most 256.</summary>
    public int ReductionGroupSize { get; }

    /// <summary>Most groups of the first reduction stage (and the size of the partial-sum scratch).</summary>
    public int MaxReductionGroups { get; }

    /// <summary>True when groups of 16 x 16 threads can be launched.</summary>
    public bool SupportsTiledMatMul { get; }

    /// <summary>
    /// Logical threads for a grid-stride loop over n items. The kernels index with 32-bit integers,
    /// so the last index plus the stride must not pass int.MaxValue: larger n is refused here with a
    /// clear error rather than wrapping around inside a kernel.
    /// </summary>
    public int Threads(long n)
    {
        int threads = (int)Math.Clamp(n, 1, MaxThreads);
        if (n > int.MaxValue - (long)threads)
            throw new InvalidOperationException($"{n} elements are more than a kernel's 32-bit grid-stride loop can index with {threads} threads (at most {int.MaxValue - threads}); split the tensor.");
        return threads;
    }

    /// <summary>Groups for the first reduction stage over n items; fixed for a given n and device.</summary>
    public int ReductionGroups(long n) =>
        (int)Math.Clamp((n + ReductionGroupSize - 1) / ReductionGroupSize, 1, MaxReductionGroups);

    private static int LargestPowerOfTwoAtMost(int value)
    {
        int result = 1;
        while (result * 2 <= value)
            result *= 2;
        return result;
    }
}
