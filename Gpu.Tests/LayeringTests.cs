using System.Reflection;
using System.Xml.Linq;
using Gpu.Tests.Docs;

namespace Gpu.Tests;

/// <summary>The layering of README.md ("Layout and layering"), read from the project files and the compiled assemblies.</summary>
public sealed class LayeringTests
{
    // Project references exactly as the layering table allows.
    private static readonly Dictionary<string, string[]> AllowedProjects = new()
    {
        ["Gpu.Kernels"] = [],
        ["Gpu.Runtime"] = ["Gpu.Kernels"],
        ["Gpu.Training"] = ["Gpu.Runtime"],
        ["Gpu.Cli"] = ["Gpu.Training"],
    };

    // Assemblies a project's compiled code must never touch (directly or by using their types).
    private static readonly Dictionary<string, string[]> ForbiddenAssemblies = new()
    {
        ["Gpu.Kernels"] = ["Gpu.Runtime", "Gpu.Training", "gpu"],
        ["Gpu.Runtime"] = ["Gpu.Training", "gpu"],
        ["Gpu.Training"] = ["Gpu.Kernels", "ILGPU", "ILGPU.Algorithms", "gpu"],
        ["gpu"] = ["Gpu.Kernels", "ILGPU", "ILGPU.Algorithms"],
    };

    public static TheoryData<string> Projects => new(AllowedProjects.Keys);

    public static TheoryData<string> Assemblies => new(ForbiddenAssemblies.Keys);

    [Theory]
    [MemberData(nameof(Projects))]
    public void ProjectsReferenceOnlyTheLayerBelow(string project)
    {
        string path = Path.Combine(DocumentationTests.RepositoryRoot(), project, $"{project}.csproj");
        var references = XDocument.Load(path).Descendants("ProjectReference")
            .Select(e => Path.GetFileNameWithoutExtension(e.Attribute("Include")!.Value.Replace('\\', '/')))
            .ToList();
        Assert.Equal(AllowedProjects[project].Order(), references.Order());
    }

    [Theory]
    [MemberData(nameof(Assemblies))]
    public void CompiledCodeSkipsNoLayer(string assemblyName)
    {
        var referenced = Assembly.Load(assemblyName).GetReferencedAssemblies().Select(a => a.Name!).ToList();
        var violations = referenced.Intersect(ForbiddenAssemblies[assemblyName]).ToList();
        Assert.True(violations.Count == 0, $"{assemblyName} uses {string.Join(", ", violations)}");
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
