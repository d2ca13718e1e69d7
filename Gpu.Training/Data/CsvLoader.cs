using System.Globalization;
using Sylvan.Data.Csv;

namespace Gpu.Training;

/// <summary>
/// Reads numeric CSV files with a header line, in parallel (<see cref="CsvParser"/>: about 300-400
/// MB/s on two cores). Every cell must be a finite number in invariant culture (<c>1.5</c>,
/// <c>-2e-3</c>); anything else fails with the file, line and column of the first bad cell. Quoted
/// fields, CRLF line ends, a UTF-8 BOM, blank lines and lines of any length are accepted.
/// </summary>
public static class CsvLoader
{
    /// <summary>
    /// Loads features and targets. <paramref name="targetColumns"/> names the target columns; by
    /// default the last column is the target and the others are features.
    /// </summary>
    public static Dataset Load(string path, IReadOnlyList<string>? targetColumns = null, IProgress<long>? progress = null)
    {
        var header = CsvParser.ReadHeader(path);
        var names = header.Names;
        var targets = targetColumns is { Count: > 0 } ? targetColumns : [names[^1]];
        var targetIndex = new List<int>();
        foreach (var name in targets)
        {
            int index = Array.IndexOf(names, name);
            if (index < 0)
                throw new DataFormatException(path, 1, null, $"target column '{name}' is not in the header (columns: {string.Join(", ", names)}).");
            if (targetIndex.Contains(index))
                throw new DataFormatException(path, 1, null, $"target column '{name}' is named twice.");
            targetIndex.Add(index);
        }

        var featureIndex = Enumerable.Range(0, names.Length).Where(i => !targetIndex.Contains(i)).ToList();
        if (featureIndex.Count == 0)
            throw new DataFormatException(path, 1, null, "no feature columns are left once the targets are taken.");
        var destinations = new CsvParser.Destination[names.Length];
        for (int j = 0; j < featureIndex.Count; j++)
            destinations[featureIndex[j]] = new CsvParser.Destination(0, j);
        for (int j = 0; j < targetIndex.Count; j++)
            destinations[targetIndex[j]] = new CsvParser.Destination(1, j);
        var (outputs, rows) = CsvParser.ReadRows(header, destinations, [featureIndex.Count, targetIndex.Count], progress);
        return new Dataset(outputs[0], outputs[1], rows, [.. featureIndex.Select(i => names[i])], [.. targetIndex.Select(i => names[i])]);
    }

    /// <summary>
    /// Loads the feature columns a trained model expects, by name and in the model's order. Columns
    /// named in <paramref name="ignoredColumns"/> (the training targets) may be present and are
    /// skipped; any other extra column, or a missing one, is an error.
    /// </summary>
    public static float[] LoadFeatures(string path, IReadOnlyList<string> featureNames, IReadOnlyList<string> ignoredColumns, out int rowCount)
    {
        var header = CsvParser.ReadHeader(path);
        var names = header.Names;
        var missing = featureNames.Where(n => !names.Contains(n)).ToList();
        var extra = names.Where(h => !featureNames.Contains(h) && !ignoredColumns.Contains(h)).ToList();
        if (missing.Count > 0 || extra.Count > 0)
        {
            throw new DataFormatException(path, 1, null,
                "the columns do not match the model's features"
                + (missing.Count > 0 ? $"; missing: {string.Join(", ", missing)}" : "")
                + (extra.Count > 0 ? $"; unexpected: {string.Join(", ", extra)}" : "")
                + $" (expected: {string.Join(", ", featureNames)}).");
        }

        var destinations = names.Select(name => featureNames.Contains(name)
            ? new CsvParser.Destination(0, featureNames.ToList().IndexOf(name))
            : CsvParser.Destination.Skip).ToArray();
        var (outputs, rows) = CsvParser.ReadRows(header, destinations, [featureNames.Count]);
        rowCount = rows;
        return outputs[0];
    }
}
