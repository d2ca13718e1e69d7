namespace Gpu.Training;

/// <summary>
/// The files a <c>--data</c> argument names: one file; a folder (its <c>.csv</c> and <c>.parquet</c>
/// files); or a pattern with <c>*</c> or <c>?</c> in the file name (<c>data/part-*.csv</c>). Several
/// files are taken in ordinal order of their names (as <c>ls</c> in the C locale and Python's
/// <c>sorted(glob(...))</c> list them), so zero-padded part numbers keep their order.
/// </summary>
public static class DataFiles
{
    private static readonly string[] DataExtensions = [".csv", ".parquet"];

    public static IReadOnlyList<string> Resolve(string data) => Resolve(data, DataExtensions);

    /// <summary>The files <paramref name="data"/> names, a folder's being those with one of <paramref name="folderExtensions"/> (e.g. ".bin" for token files).</summary>
    public static IReadOnlyList<string> Resolve(string data, IReadOnlyList<string> folderExtensions)
    {
        ArgumentException.ThrowIfNullOrEmpty(data);
        if (Directory.Exists(data))
        {
            var inFolder = Sorted(Directory.EnumerateFiles(data)
                .Where(f => folderExtensions.Contains(Path.GetExtension(f), StringComparer.OrdinalIgnoreCase)));
            return inFolder.Count > 0 ? inFolder : throw new FileNotFoundException($"{data}: the folder holds no {string.Join(" or ", folderExtensions)} files.", data);
        }

        if (data.IndexOfAny(['*', '?']) < 0)
            return [data];
        string name = Path.GetFileName(data);
        string folder = Path.GetDirectoryName(data) is { Length: > 0 } d ? d : ".";
        if (folder.IndexOfAny(['*', '?']) >= 0 || name.Length == 0)
            throw new ArgumentException($"{data}: wildcards are allowed in the file name only, not in folder names.");
        if (!Directory.Exists(folder))
            throw new DirectoryNotFoundException($"{data}: the folder {folder} does not exist.");
        var matches = Sorted(Directory.EnumerateFiles(folder, name, new EnumerationOptions { MatchType = MatchType.Simple, MatchCasing = MatchCasing.CaseSensitive }));
        return matches.Count > 0 ? matches : throw new FileNotFoundException($"{data}: no files match.", data);
    }

    private static List<string> Sorted(IEnumerable<string> files) => [.. files.Order(StringComparer.Ordinal)];
}
