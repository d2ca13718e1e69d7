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

    /// <summary>
    /// The group size an explicitly grouped kernel is written for (its shared tiles assume it), or 0
    /// when any size works: accelerators that cannot launch groups this large never compile it.
    /// </summary>
    public int GroupSize { get; init; }
}
