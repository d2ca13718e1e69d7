namespace Gpu.Tests;

/// <summary>
/// Where the repository's files are (docs/, data/), found from the test assembly's folder. Not from
/// [CallerFilePath]: CI builds (CI=true) set ContinuousIntegrationBuild, which maps source paths to
/// "/_/" in the compiled assembly.
/// </summary>
internal static class Repository
{
    public static string Root { get; } = Find();

    private static string Find()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Gpu.sln")))
                return dir.FullName;
        }

        throw new DirectoryNotFoundException($"Gpu.sln not found above the test assembly ({AppContext.BaseDirectory}).");
    }
}
