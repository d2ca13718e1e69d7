namespace Gpu.Kernels;

/// <summary>How a kernel is launched: ILGPU picks the groups (implicit) or the launcher does (explicit).</summary>
public enum KernelGrouping
{
    /// <summary>First parameter is an <c>Index1D</c>; launched with <c>LoadAutoGroupedStreamKernel</c>.</summary>
    Implicit,

    /// <summary>Uses <c>Grid</c>/<c>Group</c> indices, shared memory and barriers; launched with a <c>KernelConfig</c>.</summary>
    Explicit,
}

/// <summary>
/// Marks a static method as a kernel entry point. The PTX compilation test discovers kernels
/// through this attribute, so a new kernel is checked for CUDA as soon as it is written.
/// Generic kernels are checked once for every struct in this assembly that satisfies their constraints.
/// </summary>
[AttributeUsage(AttributeTargets.Method, Inherited = false)]
public sealed class KernelAttribute(KernelGrouping grouping = KernelGrouping.Implicit) : Attribute
{
    public KernelGrouping Grouping { get; } = grouping;
}
