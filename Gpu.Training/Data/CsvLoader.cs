using System.Globalization;
using Sylvan.Data.Csv;

namespace Gpu.Training;

/// <summary>
/// Reads numeric CSV files with a header line (parsing by Sylvan.Data.Csv). Every cell must be a
/// finite number in invariant culture (<c>1.5</c>, <c>-2e-3</c>); anything else fails with the file,
/// line and column of the first bad cell.
/// </summary>
public static class CsvLoader
{
    // How Python, R and spreadsheets write non-finite values that .NET does not parse.
    private static readonly HashSet<string> NonFiniteSpellings = ["inf", "+inf", "-inf", "nan", "-nan", "+infinity", "#num!"];

    /// <summary>
    /// Loads features and targets. <paramref name="targetColumns"/> names the target columns; by
    /// default the last column is the target and the others are features.
    /// </summary>
    public static Dataset Load(string path, IReadOnlyList<string>? targetColumns = null)
    {
        var (header, rows) = ReadTable(path);
        var targets = targetColumns is { Count: > 0 } ? targetColumns : [header[^1]];
        var targetIndex = new List<int>();
        foreach (var name in targets)
        {
            int index = Array.IndexOf(header, name);
            if (index < 0)
                throw new DataFormatException(path, 1, null, $"target column '{name}' is not in the header (columns: {string.Join(", ", header)}).");
            if (targetIndex.Contains(index))
                throw new DataFormatException(path, 1, null, $"target column '{name}' is named twice.");
            targetIndex.Add(index);
        }

        var featureIndex = Enumerable.Range(0, header.Length).Where(i => !targetIndex.Contains(i)).ToList();
        if (featureIndex.Count == 0)
            throw new DataFormatException(path, 1, null, "no feature columns are left once the targets are taken.");
        return Build(rows, header, featureIndex, targetIndex);
    }

    /// <summary>
    /// Loads the feature columns a trained model expects, by name and in the model's order. Columns
    /// named in <paramref name="ignoredColumns"/> (the training targets) may be present and are
    /// skipped; any other extra column, or a missing one, is an error.
    /// </summary>
    public static float[] LoadFeatures(string path, IReadOnlyList<string> featureNames, IReadOnlyList<string> ignoredColumns, out int rowCount)
    {
        var (header, rows) = ReadTable(path);
        var missing = featureNames.Where(n => !header.Contains(n)).ToList();
        var extra = header.Where(h => !featureNames.Contains(h) && !ignoredColumns.Contains(h)).ToList();
        if (missing.Count > 0 || extra.Count > 0)
        {
            throw new DataFormatException(path, 1, null,
                "the columns do not match the model's features"
                + (missing.Count > 0 ? $"; missing: {string.Join(", ", missing)}" : "")
                + (extra.Count > 0 ? $"; unexpected: {string.Join(", ", extra)}" : "")
                + $" (expected: {string.Join(", ", featureNames)}).");
        }

        var featureIndex = featureNames.Select(n => Array.IndexOf(header, n)).ToList();
        var data = Build(rows, header, featureIndex, []);
        rowCount = data.Count;
        return data.Features;
    }

    private static Dataset Build(List<float[]> rows, string[] header, List<int> featureIndex, List<int> targetIndex)
    {
        var x = new float[rows.Count * featureIndex.Count];
        var y = new float[rows.Count * targetIndex.Count];
        for (int r = 0; r < rows.Count; r++)
        {
            for (int j = 0; j < featureIndex.Count; j++)
                x[r * featureIndex.Count + j] = rows[r][featureIndex[j]];
            for (int j = 0; j < targetIndex.Count; j++)
                y[r * targetIndex.Count + j] = rows[r][targetIndex[j]];
        }

        return new Dataset(x, y, rows.Count, [.. featureIndex.Select(i => header[i])], [.. targetIndex.Select(i => header[i])]);
    }

    private static (string[] Header, List<float[]> Rows) ReadTable(string path)
    {
        InputFile.Require(path);
        if (new FileInfo(path).Length == 0)
            throw new DataFormatException(path, null, null, "the file is empty; expected a header line and rows of numbers.");

        // Lines of any length that fit in memory: the reader grows its buffer as a long line needs.
        var options = new CsvDataReaderOptions { HasHeaders = true, Delimiter = ',', MaxBufferSize = 1 << 30 };
        using var csv = CsvDataReader.Create(path, options);
        var header = Enumerable.Range(0, csv.FieldCount).Select(i => csv.GetName(i).Trim()).ToArray();
        if (header.Length == 0 || header.All(h => h.Length == 0))
            throw new DataFormatException(path, 1, null, "the header line is empty.");
        for (int i = 0; i < header.Length; i++)
        {
            if (header[i].Length == 0)
                throw new DataFormatException(path, 1, i + 1, "the header has an empty column name.");
            if (Array.IndexOf(header, header[i]) != i)
                throw new DataFormatException(path, 1, i + 1, $"column '{header[i]}' appears twice in the header.");
        }

        var rows = new List<float[]>();
        int line = 1;
        while (csv.Read())
        {
            line++;
            if (csv.RowFieldCount == 1 && csv.GetFieldSpan(0).Trim().IsEmpty)
                continue; // blank line
            if (csv.RowFieldCount != header.Length)
                throw new DataFormatException(path, line, null, $"expected {header.Length} values (as in the header), found {csv.RowFieldCount}.");
            var values = new float[header.Length];
            for (int i = 0; i < header.Length; i++)
            {
                var cell = csv.GetFieldSpan(i).Trim();
                bool parsed = float.TryParse(cell, NumberStyles.Float, CultureInfo.InvariantCulture, out float value);
                if (!parsed && NonFiniteSpellings.Contains(cell.ToString().ToLowerInvariant()))
                    throw new DataFormatException(path, line, i + 1, $"'{cell.ToString()}' in column '{header[i]}' is not a finite number (NaN and infinities are not allowed).");
                if (!parsed)
                    throw new DataFormatException(path, line, i + 1, $"'{cell.ToString()}' in column '{header[i]}' is not a number.");
                if (!float.IsFinite(value))
                    throw new DataFormatException(path, line, i + 1, $"'{cell.ToString()}' in column '{header[i]}' is not a finite number (NaN and infinities are not allowed).");
                values[i] = value;
            }

            rows.Add(values);
        }

        if (rows.Count == 0)
            throw new DataFormatException(path, null, null, "the file has a header but no data rows.");
        return (header, rows);
    }
}
