using System.Diagnostics;
using System.Text.RegularExpressions;
using Gpu.Tests.Docs;

namespace Gpu.Tests;

/// <summary>
/// The libraries as NuGet packages: packed into a folder, referenced by a new console project (from
/// that folder only: a version no other source has), built, and run on the guide's reference example,
/// whose losses must be ours to the last digit.
/// </summary>
[Collection(EnvironmentCollection.Name)]
public sealed partial class PackageTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("gpu-package-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    [SkippableFact]
    public void ANewProjectReferencingThePackagesTrainsTheReferenceExampleAsWeDo()
    {
        Skip.If(Run("dotnet", ["--list-sdks"], folder).Out.Trim().Length == 0, "no .NET SDK here (the GPU bundle has only the runtime): nothing can pack or build");
        string configuration = AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Debug{Path.DirectorySeparatorChar}", StringComparison.Ordinal) ? "Debug" : "Release";
        string version = $"0.0.0-test.{DateTime.UtcNow:yyyyMMddHHmmss}.{Environment.ProcessId}";
        string feed = Directory.CreateDirectory(Path.Combine(folder, "feed")).FullName;
        foreach (string project in new[] { "Gpu.Kernels", "Gpu.Runtime", "Gpu.Training" })
        {
            var pack = Run("dotnet", ["pack", Path.Combine(Repository.Root, project, $"{project}.csproj"), "-c", configuration, "--no-build", "-o", feed,
                $"-p:Version={version}", "-p:IncludeSymbols=false"], folder);
            Assert.True(pack.Code == 0, $"dotnet pack {project}: {pack.Out}{pack.Err}");
        }

        Assert.Equal(3, Directory.GetFiles(feed, "*.nupkg").Length);
        string app = Directory.CreateDirectory(Path.Combine(folder, "app")).FullName;
        File.WriteAllText(Path.Combine(app, "app.csproj"), $"""
            <Project Sdk="Microsoft.NET.Sdk">
              <PropertyGroup>
                <OutputType>Exe</OutputType>
                <TargetFramework>net10.0</TargetFramework>
                <ImplicitUsings>enable</ImplicitUsings>
                <Nullable>enable</Nullable>
                <RestoreAdditionalProjectSources>{feed}</RestoreAdditionalProjectSources>
              </PropertyGroup>
              <ItemGroup>
                <PackageReference Include="Gpu.Training" Version="{version}" />
              </ItemGroup>
            </Project>
            """);
        // The guide's reference example, as the page shows it.
        string guide = File.ReadAllText(Path.Combine(Repository.Root, "docs", "training.md"));
        string section = guide[guide.IndexOf("## The reference example in C#", StringComparison.Ordinal)..];
        File.WriteAllText(Path.Combine(app, "Program.cs"), CSharpBlock().Match(section).Groups[1].Value);
        // Outside the repository, so that its Directory.Build.props and Directory.Packages.props do not apply.
        Assert.False(app.StartsWith(Repository.Root, StringComparison.Ordinal));

        try
        {
            var run = Run("dotnet", ["run", "-c", "Release"], app);
            Assert.True(run.Code == 0, $"dotnet run: {run.Out}{run.Err}");
            var theirs = run.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Where(l => l.StartsWith("Epoch ", StringComparison.Ordinal)).ToList();
            var ours = DocumentationExamples.ReferenceExample();
            Assert.Equal(10, theirs.Count);
            Assert.Equal(ours.Where(l => l.StartsWith("Epoch ", StringComparison.Ordinal)), theirs);
            Assert.True(File.Exists(Path.Combine(app, "model.safetensors")));
            Assert.Contains(Directory.GetFiles(Path.Combine(app, "obj"), "project.assets.json"), assets => File.ReadAllText(assets).Contains($"Gpu.Runtime/{version}", StringComparison.Ordinal));
        }
        finally
        {
            // The test's own versions leave the machine's package cache as they found it.
            string cache = Environment.GetEnvironmentVariable("NUGET_PACKAGES") ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
            foreach (string id in new[] { "gpu.kernels", "gpu.runtime", "gpu.training" })
            {
                string cached = Path.Combine(cache, id, version);
                if (Directory.Exists(cached))
                    Directory.Delete(cached, recursive: true);
            }
        }
    }

    private static (int Code, string Out, string Err) Run(string file, string[] args, string workingDirectory)
    {
        var info = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = workingDirectory };
        foreach (var a in args)
            info.ArgumentList.Add(a);
        info.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        info.Environment["DOTNET_NOLOGO"] = "1";
        using var process = Process.Start(info)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(300_000))
        {
            process.Kill(entireProcessTree: true);
            return (-1, output.Result, $"{file} {string.Join(' ', args)} did not finish in 5 minutes. {error.Result}");
        }

        process.WaitForExit();
        return (process.ExitCode, output.Result, error.Result);
    }

    [GeneratedRegex("```csharp\\n(.*?)```", RegexOptions.Singleline)]
    private static partial Regex CSharpBlock();
}
