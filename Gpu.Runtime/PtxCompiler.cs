using System.Reflection;
using Gpu.Kernels;
using ILGPU;
using ILGPU.Backends.EntryPoints;
using ILGPU.Backends.PTX;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;
using Gpu.Runtime.Backends.Kernels;

namespace Gpu.Runtime;

/// <summary>
/// Compiles every kernel of Gpu.Kernels to PTX without a GPU, through ILGPU's PTX backend: how CI
/// proves the CUDA code compiles (and, with NVIDIA's ptxas, assembles; scripts/ptxas-check.sh).
/// Kernels come from <see cref="KernelCatalog"/>, so a new kernel is covered as soon as it is written.
/// </summary>
public static class PtxCompiler
{
    /// <summary>All [Kernel] methods, generic ones closed over each matching struct.</summary>
    public static IEnumerable<MethodInfo> Kernels() => KernelCatalog.All;

    /// <summary>A kernel's name as tables show it, e.g. <c>ReductionKernels.PartialSums&lt;CrossEntropyTerm&gt;</c>.</summary>
    public static string Describe(MethodInfo kernel) =>
        kernel.IsGenericMethod
            ? $"{kernel.DeclaringType!.Name}.{kernel.Name}<{string.Join(",", kernel.GetGenericArguments().Select(t => t.Name))}>"
            : $"{kernel.DeclaringType!.Name}.{kernel.Name}";

    /// <summary>The PTX text of one kernel for an architecture (ILGPU 1.5.3 emits at most sm_80, which drivers JIT for newer GPUs).</summary>
    public static string Compile(MethodInfo kernel, CudaArchitecture architecture, CudaInstructionSet instructionSet)
    {
        using var context = Context.Create(builder => builder.Cuda().EnableAlgorithms());
        using var backend = new PTXBackend(context, new CudaCapabilityContext(architecture), architecture, instructionSet, null);
        var entry = KernelCatalog.Grouping(kernel) == KernelGrouping.Explicit
            ? EntryPointDescription.FromExplicitlyGroupedKernel(kernel)
            : EntryPointDescription.FromImplicitlyGroupedKernel(kernel);
        return ((PTXCompiledKernel)backend.Compile(entry, KernelSpecialization.Empty)).PTXAssembly;
    }

    /// <summary>Writes every kernel's PTX (sm_90 asked, ISA 8.0) into <paramref name="folder"/> as NAME.ptx; returns the files.</summary>
    public static IReadOnlyList<string> WriteAll(string folder)
    {
        Directory.CreateDirectory(folder);
        var files = new List<string>();
        foreach (var kernel in Kernels())
        {
            string name = Describe(kernel).Replace('<', '_').Replace('>', '_').Replace(',', '_');
            string path = Path.Combine(folder, $"{name}.ptx");
            File.WriteAllText(path, Compile(kernel, CudaArchitecture.SM_90, CudaInstructionSet.ISA_80));
            files.Add(path);
        }

        return files;
    }
}
