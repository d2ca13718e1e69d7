using System.Linq.Expressions;
using System.Reflection;
using Gpu.Kernels;
using ILGPU;
using ILGPU.Runtime;

namespace Gpu.Runtime.Backends.Kernels;

/// <summary>
/// Every kernel of Gpu.Kernels, found by its [Kernel] attribute: no list is written by hand, so a new
/// kernel is compiled up front (<see cref="KernelCache.CompileAll"/>) and checked for CUDA
/// (<see cref="PtxCompiler"/>) as soon as its method exists. A generic kernel is closed over every
/// public struct of Gpu.Kernels that satisfies its constraint (each reduction term, activation,
/// loss and optimizer rule).
/// </summary>
internal static class KernelCatalog
{
    /// <summary>All [Kernel] methods, generic ones closed over each matching struct.</summary>
    public static IReadOnlyList<MethodInfo> All { get; } = Discover();

    /// <summary>How the kernel is launched.</summary>
    public static KernelGrouping Grouping(MethodInfo kernel) => Attribute(kernel).Grouping;

    /// <summary>False when the kernel needs larger groups than an accelerator launches.</summary>
    public static bool Fits(MethodInfo kernel, int maxGroupSize) => Attribute(kernel).GroupSize <= maxGroupSize;

    /// <summary>
    /// The launcher delegate type ILGPU loads the kernel as: <c>Action&lt;AcceleratorStream, Index1D, ...&gt;</c>
    /// for an implicitly grouped kernel (its own parameters, index first), <c>Action&lt;AcceleratorStream,
    /// KernelConfig, ...&gt;</c> for an explicitly grouped one. <see cref="KernelCache"/>'s launch methods
    /// spell the same types, so both find the same compiled kernel.
    /// </summary>
    public static Type LauncherType(MethodInfo kernel)
    {
        var parameters = kernel.GetParameters().Select(p => p.ParameterType);
        Type[] types = Grouping(kernel) == KernelGrouping.Implicit
            ? [typeof(AcceleratorStream), .. parameters]
            : [typeof(AcceleratorStream), typeof(KernelConfig), .. parameters];
        return Expression.GetActionType(types);
    }

    private static KernelAttribute Attribute(MethodInfo kernel) =>
        (kernel.IsGenericMethod ? kernel.GetGenericMethodDefinition() : kernel).GetCustomAttribute<KernelAttribute>()
        ?? throw new ArgumentException($"{kernel.DeclaringType?.Name}.{kernel.Name} is not a [Kernel] method.", nameof(kernel));

    private static List<MethodInfo> Discover()
    {
        var assembly = typeof(KernelAttribute).Assembly;
        var structs = assembly.GetTypes().Where(t => t.IsValueType && !t.IsGenericTypeDefinition && t.IsPublic).ToList();
        var kernels = new List<MethodInfo>();
        foreach (var type in assembly.GetTypes())
        {
            foreach (var method in type.GetMethods(BindingFlags.Public | BindingFlags.Static | BindingFlags.DeclaredOnly))
            {
                if (method.GetCustomAttribute<KernelAttribute>() is null)
                    continue;
                if (!method.IsGenericMethodDefinition)
                {
                    kernels.Add(method);
                    continue;
                }

                var parameter = method.GetGenericArguments().Single();
                var constraints = parameter.GetGenericParameterConstraints();
                kernels.AddRange(structs.Where(s => constraints.All(c => c.IsAssignableFrom(s))).Select(s => method.MakeGenericMethod(s)));
            }
        }

        return kernels;
    }
}
