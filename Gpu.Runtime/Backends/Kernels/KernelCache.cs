using System.Reflection;
using ILGPU;
using ILGPU.Runtime;

namespace Gpu.Runtime.Backends.Kernels;

/// <summary>
/// The kernels of Gpu.Kernels compiled for one accelerator, each at most once: loaded on first launch
/// (or all at once by <see cref="CompileAll"/>) and kept, so no launch on the hot path compiles. A
/// launcher names the kernel method itself, <c>kernels.Launch(ElementwiseKernels.Fill, stream, threads,
/// y.Flat, value, n, threads)</c>: the launch delegate's type follows from the method's parameters
/// (views as <c>ArrayView&lt;float&gt;</c>, see <see cref="Tensor.Flat"/>), and there is no list of
/// kernels to keep in step with Gpu.Kernels (<see cref="KernelCatalog"/>). Not thread-safe, like
/// the device that owns it. Launches are counted by the device (<see cref="Device.Dispatch"/>), not here.
/// </summary>
internal sealed class KernelCache(Accelerator accelerator)
{
    private readonly Dictionary<RuntimeMethodHandle, Delegate> loaded = [];

    /// <summary>Kernels compiled so far on this accelerator (each at most once).</summary>
    public int Compiled => loaded.Count;

    /// <summary>Compiles every kernel of the catalog this accelerator can launch, so that a first training step does not pay for compilation.</summary>
    public void CompileAll()
    {
        foreach (var kernel in KernelCatalog.All)
        {
            if (KernelCatalog.Fits(kernel, accelerator.MaxNumThreadsPerGroup) && !loaded.ContainsKey(kernel.MethodHandle))
                loaded.Add(kernel.MethodHandle, Load(kernel, KernelCatalog.LauncherType(kernel)));
        }
    }

    // Implicitly grouped kernels (first parameter Index1D): `extent` logical threads, grouped by ILGPU.
    public void Launch<T1, T2>(Action<Index1D, T1, T2> kernel, AcceleratorStream stream, Index1D extent, T1 a1, T2 a2)
        where T1 : struct where T2 : struct =>
        Launcher<Action<AcceleratorStream, Index1D, T1, T2>>(kernel)(stream, extent, a1, a2);

    public void Launch<T1, T2, T3>(Action<Index1D, T1, T2, T3> kernel, AcceleratorStream stream, Index1D extent, T1 a1, T2 a2, T3 a3)
        where T1 : struct where T2 : struct where T3 : struct =>
        Launcher<Action<AcceleratorStream, Index1D, T1, T2, T3>>(kernel)(stream, extent, a1, a2, a3);

    public void Launch<T1, T2, T3, T4>(Action<Index1D, T1, T2, T3, T4> kernel, AcceleratorStream stream, Index1D extent, T1 a1, T2 a2, T3 a3, T4 a4)
        where T1 : struct where T2 : struct where T3 : struct where T4 : struct =>
        Launcher<Action<AcceleratorStream, Index1D, T1, T2, T3, T4>>(kernel)(stream, extent, a1, a2, a3, a4);

    public void Launch<T1, T2, T3, T4, T5>(Action<Index1D, T1, T2, T3, T4, T5> kernel, AcceleratorStream stream, Index1D extent, T1 a1, T2 a2, T3 a3, T4 a4, T5 a5)
        where T1 : struct where T2 : struct where T3 : struct where T4 : struct where T5 : struct =>
        Launcher<Action<AcceleratorStream, Index1D, T1, T2, T3, T4, T5>>(kernel)(stream, extent, a1, a2, a3, a4, a5);

    public void Launch<T1, T2, T3, T4, T5, T6>(Action<Index1D, T1, T2, T3, T4, T5, T6> kernel, AcceleratorStream stream, Index1D extent, T1 a1, T2 a2, T3 a3, T4 a4, T5 a5, T6 a6)
        where T1 : struct where T2 : struct where T3 : struct where T4 : struct where T5 : struct where T6 : struct =>
        Launcher<Action<AcceleratorStream, Index1D, T1, T2, T3, T4, T5, T6>>(kernel)(stream, extent, a1, a2, a3, a4, a5, a6);

    public void Launch<T1, T2, T3, T4, T5, T6, T7>(Action<Index1D, T1, T2, T3, T4, T5, T6, T7> kernel, AcceleratorStream stream, Index1D extent, T1 a1, T2 a2, T3 a3, T4 a4, T5 a5, T6 a6, T7 a7)
        where T1 : struct where T2 : struct where T3 : struct where T4 : struct where T5 : struct where T6 : struct where T7 : struct =>
        Launcher<Action<AcceleratorStream, Index1D, T1, T2, T3, T4, T5, T6, T7>>(kernel)(stream, extent, a1, a2, a3, a4, a5, a6, a7);

    public void Launch<T1, T2, T3, T4, T5, T6, T7, T8>(Action<Index1D, T1, T2, T3, T4, T5, T6, T7, T8> kernel, AcceleratorStream stream, Index1D extent, T1 a1, T2 a2, T3 a3, T4 a4, T5 a5, T6 a6, T7 a7, T8 a8)
        where T1 : struct where T2 : struct where T3 : struct where T4 : struct where T5 : struct where T6 : struct where T7 : struct where T8 : struct =>
        Launcher<Action<AcceleratorStream, Index1D, T1, T2, T3, T4, T5, T6, T7, T8>>(kernel)(stream, extent, a1, a2, a3, a4, a5, a6, a7, a8);

    public void Launch<T1, T2, T3, T4, T5, T6, T7, T8, T9>(Action<Index1D, T1, T2, T3, T4, T5, T6, T7, T8, T9> kernel, AcceleratorStream stream, Index1D extent, T1 a1, T2 a2, T3 a3, T4 a4, T5 a5, T6 a6, T7 a7, T8 a8, T9 a9)
        where T1 : struct where T2 : struct where T3 : struct where T4 : struct where T5 : struct where T6 : struct where T7 : struct where T8 : struct where T9 : struct =>
        Launcher<Action<AcceleratorStream, Index1D, T1, T2, T3, T4, T5, T6, T7, T8, T9>>(kernel)(stream, extent, a1, a2, a3, a4, a5, a6, a7, a8, a9);

    public void Launch<T1, T2, T3, T4, T5, T6, T7, T8, T9, T10>(Action<Index1D, T1, T2, T3, T4, T5, T6, T7, T8, T9, T10> kernel, AcceleratorStream stream, Index1D extent, T1 a1, T2 a2, T3 a3, T4 a4, T5 a5, T6 a6, T7 a7, T8 a8, T9 a9, T10 a10)
        where T1 : struct where T2 : struct where T3 : struct where T4 : struct where T5 : struct where T6 : struct where T7 : struct where T8 : struct where T9 : struct where T10 : struct =>
        Launcher<Action<AcceleratorStream, Index1D, T1, T2, T3, T4, T5, T6, T7, T8, T9, T10>>(kernel)(stream, extent, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10);

    public void Launch<T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11>(Action<Index1D, T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11> kernel, AcceleratorStream stream, Index1D extent, T1 a1, T2 a2, T3 a3, T4 a4, T5 a5, T6 a6, T7 a7, T8 a8, T9 a9, T10 a10, T11 a11)
        where T1 : struct where T2 : struct where T3 : struct where T4 : struct where T5 : struct where T6 : struct where T7 : struct where T8 : struct where T9 : struct where T10 : struct where T11 : struct =>
        Launcher<Action<AcceleratorStream, Index1D, T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11>>(kernel)(stream, extent, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11);

    public void Launch<T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11, T12>(Action<Index1D, T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11, T12> kernel, AcceleratorStream stream, Index1D extent, T1 a1, T2 a2, T3 a3, T4 a4, T5 a5, T6 a6, T7 a7, T8 a8, T9 a9, T10 a10, T11 a11, T12 a12)
        where T1 : struct where T2 : struct where T3 : struct where T4 : struct where T5 : struct where T6 : struct where T7 : struct where T8 : struct where T9 : struct where T10 : struct where T11 : struct where T12 : struct =>
        Launcher<Action<AcceleratorStream, Index1D, T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11, T12>>(kernel)(stream, extent, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12);

    // Explicitly grouped kernels (Grid/Group indices, shared memory): launched with a KernelConfig.
    public void LaunchGrouped<T1, T2, T3, T4>(Action<T1, T2, T3, T4> kernel, AcceleratorStream stream, KernelConfig config, T1 a1, T2 a2, T3 a3, T4 a4)
        where T1 : struct where T2 : struct where T3 : struct where T4 : struct =>
        Launcher<Action<AcceleratorStream, KernelConfig, T1, T2, T3, T4>>(kernel)(stream, config, a1, a2, a3, a4);

    public void LaunchGrouped<T1, T2, T3, T4, T5>(Action<T1, T2, T3, T4, T5> kernel, AcceleratorStream stream, KernelConfig config, T1 a1, T2 a2, T3 a3, T4 a4, T5 a5)
        where T1 : struct where T2 : struct where T3 : struct where T4 : struct where T5 : struct =>
        Launcher<Action<AcceleratorStream, KernelConfig, T1, T2, T3, T4, T5>>(kernel)(stream, config, a1, a2, a3, a4, a5);

    public void LaunchGrouped<T1, T2, T3, T4, T5, T6>(Action<T1, T2, T3, T4, T5, T6> kernel, AcceleratorStream stream, KernelConfig config, T1 a1, T2 a2, T3 a3, T4 a4, T5 a5, T6 a6)
        where T1 : struct where T2 : struct where T3 : struct where T4 : struct where T5 : struct where T6 : struct =>
        Launcher<Action<AcceleratorStream, KernelConfig, T1, T2, T3, T4, T5, T6>>(kernel)(stream, config, a1, a2, a3, a4, a5, a6);

    private TLauncher Launcher<TLauncher>(Delegate kernel)
        where TLauncher : Delegate
    {
        var method = kernel.Method;
        if (!loaded.TryGetValue(method.MethodHandle, out var launcher))
        {
            launcher = Load(method, typeof(TLauncher));
            loaded.Add(method.MethodHandle, launcher);
        }

        return (TLauncher)launcher;
    }

    // ILGPU's typed loaders, called for a launcher type known only at run time (CompileAll).
    private Delegate Load(MethodInfo kernel, Type launcherType)
    {
        string loader = KernelCatalog.Grouping(kernel) == Gpu.Kernels.KernelGrouping.Implicit
            ? nameof(Accelerator.LoadAutoGroupedKernel)
            : nameof(Accelerator.LoadKernel);
        var load = typeof(Accelerator).GetMethods(BindingFlags.Public | BindingFlags.Instance)
            .Single(m => m.Name == loader && m.IsGenericMethodDefinition && m.GetParameters() is [{ ParameterType: var p }] && p == typeof(MethodInfo));
        try
        {
            return (Delegate)load.MakeGenericMethod(launcherType).Invoke(accelerator, [kernel])!;
        }
        catch (TargetInvocationException e) when (e.InnerException is not null)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(e.InnerException);
            throw;
        }
    }
}
