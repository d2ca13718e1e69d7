namespace Gpu.Runtime;

/// <summary>The kind of accelerator a <see cref="Device"/> runs on.</summary>
public enum DeviceKind
{
    /// <summary>ILGPU's CPU accelerator: runs every kernel, for correctness and machines without a GPU.</summary>
    Cpu,

    /// <summary>An NVIDIA GPU through CUDA.</summary>
    Cuda,

    /// <summary>A GPU through OpenCL 2.0+ (ILGPU needs generic address space support).</summary>
    OpenCL,
}

/// <summary>How the CPU accelerator emulates GPU threads.</summary>
public enum CpuProfile
{
    /// <summary>
    /// The default for "cpu": every op runs as vectorised .NET code (System.Numerics.Vector, FMA) on
    /// the calling thread, large matrix products on all cores, directly on the CPU accelerator's
    /// memory. No kernel launches, so no launch overhead: the fast path for small models and CI.
    /// The kernels can still be forced (e.g. <c>MatMulAlgorithm.RowBlocked</c>).
    /// </summary>
    Host,

    /// <summary>
    /// ILGPU's kernels on the CPU accelerator, configured for speed: one OS thread per core (warps of two threads, one warp per
    /// multiprocessor, cores / 2 multiprocessors). Launch overhead about 60 us on 2 cores against
    /// 350 us for ILGPU's default (docs/engineering-notes.md).
    /// </summary>
    Fast,

    /// <summary>
    /// Shaped like a GPU: 32-wide warps and groups of 256 threads with shared memory, so the tiled
    /// and group-reduction kernels (barriers, shared memory) are exercised without a GPU. Slow.
    /// </summary>
    GpuLike,
}

/// <summary>Which matrix-product implementation a device uses.</summary>
public enum MatMulAlgorithm
{
    /// <summary>cuBLAS on CUDA when it loads; else the register-tiled kernel on GPUs; host code on the Host CPU profile, the row-blocked kernel on the Fast one.</summary>
    Auto,

    /// <summary>Our simple shared-memory tiled kernel, 4x4 outputs a thread (needs groups of 256 threads): the reference.</summary>
    Tiled,

    /// <summary>Our register-blocked kernel, 8x8 outputs a thread from 128x128 tiles (groups of 256 threads): the default on GPUs without cuBLAS.</summary>
    RegisterTiled,

    /// <summary>Our CPU-shaped kernel: few threads, each a block of rows.</summary>
    RowBlocked,

    /// <summary>NVIDIA cuBLAS SGEMM (CUDA only).</summary>
    CuBlas,

    /// <summary>Vectorised host code on the CPU accelerator's memory (CPU devices only; the default of the Host profile).</summary>
    Host,
}
