using Gpu.Training;

namespace Gpu.Cli;

/// <summary>
/// Paths as the operating system sees them, to tell whether two flags name the same file: relative
/// parts are taken from the working folder, and symbolic links and ".." are followed component by
/// component in order (so <c>link/../x</c> goes where the OS would go, not where the text suggests).
/// </summary>
internal static class Paths
{
    /// <summary>The physical path <paramref name="path"/> names; parts that do not exist yet are kept as written.</summary>
    public static string Resolve(string path)
    {
        string absolute = Path.IsPathRooted(path) ? path : Path.Combine(Environment.CurrentDirectory, path);
        string root = Path.GetPathRoot(absolute)!;
        string current = root;
        var separators = new[] { Path.DirectorySeparatorChar, Path.AltDirectorySeparatorChar };
        int hops = 0;
        foreach (string part in absolute[root.Length..].Split(separators, StringSplitOptions.RemoveEmptyEntries))
        {
            if (part == ".")
                continue;
            if (part == "..")
            {
                current = Path.GetDirectoryName(current) ?? root;
                continue;
            }

            current = Path.Combine(current, part);
            FileSystemInfo info = Directory.Exists(current) ? new DirectoryInfo(current) : new FileInfo(current);
            if (info.LinkTarget is not null && hops++ < 64)
            {
                var target = info.ResolveLinkTarget(returnFinalTarget: true);
                if (target is not null)
                    current = Resolve(target.FullName);
            }
        }

        return current;
    }

    // The files an input names: a data set's folder or pattern stands for its files (an input that
    // names none is reported by its loader, not here).
    private static IEnumerable<string> Files(string input)
    {
        if (input.IndexOfAny(['*', '?']) < 0 && !Directory.Exists(input))
            return [input];
        try
        {
            return DataFiles.Resolve(input);
        }
        catch (Exception e) when (e is IOException or ArgumentException)
        {
            return [input];
        }
    }

    /// <summary>
    /// Throws a usage error when an output names an input or another output. <paramref name="allowed"/>
    /// lists (output, input) flag pairs that may share a path (a checkpoint continued in place).
    /// </summary>
    public static void CheckDistinct(IEnumerable<(string Flag, string? Path)> inputs, IEnumerable<(string Flag, string? Path)> outputs, params (string Output, string Input)[] allowed)
    {
        var ins = inputs.Where(i => i.Path is not null)
            .SelectMany(i => Files(i.Path!).Select(file => (i.Flag, Path: file, Resolved: Resolve(file)))).ToList();
        var outs = outputs.Where(o => o.Path is not null).Select(o => (o.Flag, o.Path!, Resolved: Resolve(o.Path!))).ToList();
        var comparison = OperatingSystem.IsWindows() || OperatingSystem.IsMacOS() ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal;
        foreach (var (flag, path, resolved) in outs)
        {
            foreach (var (inputFlag, inputPath, inputResolved) in ins)
            {
                if (string.Equals(resolved, inputResolved, comparison) && !allowed.Contains((flag, inputFlag)))
                    throw new UsageException($"{flag} {path} would overwrite the input file of {inputFlag} ({inputPath}).");
            }
        }

        for (int i = 0; i < outs.Count; i++)
        {
            for (int j = i + 1; j < outs.Count; j++)
            {
                if (string.Equals(outs[i].Resolved, outs[j].Resolved, comparison))
                    throw new UsageException($"{outs[i].Flag} and {outs[j].Flag} name the same file ({outs[j].Item2}); each output needs its own path.");
            }
        }
    }
}
