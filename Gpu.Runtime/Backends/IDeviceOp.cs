using Gpu.Runtime.Backends.Host;
using Gpu.Runtime.Backends.Kernels;

namespace Gpu.Runtime.Backends;

/// <summary>
/// An op whose two implementations, host code and kernel launches, sit side by side in the op's own
/// file, next to its launcher in <see cref="Ops"/>: the device's backend picks one
/// (<see cref="Backend.Run{TOp}"/>), so the launcher has no host-or-kernel branch and a new op touches
/// no backend file. Ops with a backend-specific strategy (matrix products on cuBLAS or the host
/// GEMM, convolutions) keep their own backend methods.
/// </summary>
internal interface IDeviceOp
{
    /// <summary>The op as host code on the CPU accelerator's memory (the stream is already idle).</summary>
    void RunOnHost(HostBackend host);

    /// <summary>The op as kernel launches on the device's stream.</summary>
    void RunOnKernels(KernelBackend kernels);

    /// <summary>The FLOPs and bytes of one call, for a profile's GFLOP/s and GB/s (zero where not counted).</summary>
    OpCost Cost => default;
}

/// <summary>What one op call computes and moves: floating-point operations and bytes read and written.</summary>
internal readonly record struct OpCost(double Flops, double Bytes);
