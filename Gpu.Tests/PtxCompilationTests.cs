using System.Reflection;
using Gpu.Kernels;
using ILGPU;
using ILGPU.Backends.EntryPoints;
using ILGPU.Backends.PTX;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;

namespace Gpu.Tests;

/// <summary>
/// Proves every kernel compiles for CUDA (asked for sm_90, Hopper) without a GPU, using ILGPU's PTX backend
/// directly. Kernels are discovered by their [Kernel] attribute, so a new kernel is covered as soon
/// as it is written; generic kernels are closed over every term struct that satisfies them.
/// </summary>
public sealed class PtxCompilationTests
{
    public static TheoryData<string> Kernels()
    {
        var data = new TheoryData<string>();
        foreach (var kernel in DiscoverKernels())
            data.Add(Describe(kernel));
        return data;
    }

    [Fact]
    public void EveryKernelIsDiscovered()
    {
        var names = DiscoverKernels().Select(Describe).ToList();
        // A floor, not a list: fails if discovery itself breaks (an attribute renamed, say).
        Assert.True(names.Count >= 20, $"only {names.Count} kernels discovered: {string.Join(", ", names)}");
        Assert.Contains(names, n => n.StartsWith("MatMulKernels.Tiled", StringComparison.Ordinal));
        Assert.Contains(names, n => n.StartsWith("ReductionKernels.PartialSums<CrossEntropyTerm>", StringComparison.Ordinal));
    }

    [Theory]
    [MemberData(nameof(Kernels))]
    public void CompilesToPtxForHopper(string kernelName)
    {
        var kernel = DiscoverKernels().Single(k => Describe(k) == kernelName);
        using var context = Context.Create(builder => builder.Cuda().EnableAlgorithms());
        var architecture = CudaArchitecture.SM_90;
        using var backend = new PTXBackend(context, new CudaCapabilityContext(architecture), architecture, CudaInstructionSet.ISA_80, null);
        var grouping = kernel.GetCustomAttribute<KernelAttribute>()!.Grouping;
        var entry = grouping == KernelGrouping.Explicit
            ? EntryPointDescription.FromExplicitlyGroupedKernel(kernel)
            : EntryPointDescription.FromImplicitlyGroupedKernel(kernel);
        var compiled = (PTXCompiledKernel)backend.Compile(entry, KernelSpecialization.Empty);
        string ptx = compiled.PTXAssembly;
        // ILGPU 1.5.3 caps the emitted target at sm_80 even when sm_90 is asked for; the driver
        // JIT-compiles that PTX for Hopper at load time. Accept any target in [sm_80, sm_90].
        var target = System.Text.RegularExpressions.Regex.Match(ptx, @"\.target sm_(\d+)");
        Assert.True(target.Success, ptx[..Math.Min(400, ptx.Length)]);
        Assert.InRange(int.Parse(target.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture), 80, 90);
        Assert.Contains(".entry", ptx);
    }

    /// <summary>All [Kernel] methods, generic ones closed over each matching struct in Gpu.Kernels.</summary>
    public static IEnumerable<MethodInfo> DiscoverKernels()
    {
        var assembly = typeof(KernelAttribute).Assembly;
        var structs = assembly.GetTypes().Where(t => t.IsValueType && !t.IsGenericTypeDefinition && t.IsPublic).ToList();
        foreach (var type in assembly.GetTypes())
        {
            foreach (var method in type.GetMethods(BindingFlags.Public | BindingFlags.Static | BindingFlags.DeclaredOnly))
            {
                if (method.GetCustomAttribute<KernelAttribute>() is null)
                    continue;
                if (!method.IsGenericMethodDefinition)
                {
                    yield return method;
                    continue;
                }

                var parameter = method.GetGenericArguments().Single();
                var constraints = parameter.GetGenericParameterConstraints();
                foreach (var candidate in structs.Where(s => constraints.All(c => c.IsAssignableFrom(s))))
                    yield return method.MakeGenericMethod(candidate);
            }
        }
    }

    private static string Describe(MethodInfo kernel) =>
        kernel.IsGenericMethod
            ? $"{kernel.DeclaringType!.Name}.{kernel.Name}<{string.Join(",", kernel.GetGenericArguments().Select(t => t.Name))}>"
            : $"{kernel.DeclaringType!.Name}.{kernel.Name}";
}
