using System.Reflection;

namespace Gpu.Tests;

/// <summary>The layering of DESIGN.md section 2, read from the compiled assemblies' references.</summary>
public sealed class LayeringTests
{
    private static readonly Dictionary<string, string[]> Allowed = new()
    {
        ["Gpu.Kernels"] = [],
        ["Gpu.Runtime"] = ["Gpu.Kernels"],
        ["Gpu.Training"] = ["Gpu.Runtime"],
        ["gpu"] = ["Gpu.Training"], // Gpu.Cli's assembly
    };

    public static TheoryData<string> Projects => new(Allowed.Keys);

    [Theory]
    [MemberData(nameof(Projects))]
    public void ProjectsReferenceOnlyTheLayerBelow(string assemblyName)
    {
        var assembly = Assembly.Load(assemblyName);
        var ours = assembly.GetReferencedAssemblies()
            .Select(a => a.Name!)
            .Where(n => n.StartsWith("Gpu.", StringComparison.Ordinal) || n == "gpu")
            .ToList();
        var forbidden = ours.Except(Allowed[assemblyName]).ToList();
        Assert.True(forbidden.Count == 0, $"{assemblyName} references {string.Join(", ", forbidden)}; allowed: {string.Join(", ", Allowed[assemblyName])}");
    }

    [Fact]
    public void KernelsAndTrainingDoNotLeakTheWrongDependencies()
    {
        var kernels = Assembly.Load("Gpu.Kernels").GetReferencedAssemblies().Select(a => a.Name).ToList();
        Assert.DoesNotContain("Gpu.Runtime", kernels);
        // Gpu.Training may use ILGPU only through Gpu.Runtime: it must not reference ILGPU itself.
        var training = Assembly.Load("Gpu.Training").GetReferencedAssemblies().Select(a => a.Name).ToList();
        Assert.DoesNotContain("ILGPU", training);
        Assert.DoesNotContain("ILGPU.Algorithms", training);
    }

    [Fact]
    public void TrainingPublicApiExposesNoIlgpuTypes()
    {
        var offenders = new List<string>();
        foreach (var type in Assembly.Load("Gpu.Training").GetExportedTypes())
        {
            foreach (var member in type.GetMembers(BindingFlags.Public | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly))
            {
                var types = member switch
                {
                    MethodInfo m => m.GetParameters().Select(p => p.ParameterType).Append(m.ReturnType),
                    PropertyInfo p => [p.PropertyType],
                    FieldInfo f => [f.FieldType],
                    ConstructorInfo c => c.GetParameters().Select(p => p.ParameterType),
                    _ => [],
                };
                foreach (var t in types)
                {
                    if (t.Namespace?.StartsWith("ILGPU", StringComparison.Ordinal) == true)
                        offenders.Add($"{type.Name}.{member.Name}: {t.Name}");
                }
            }
        }

        Assert.True(offenders.Count == 0, string.Join("; ", offenders));
    }
}
