namespace Gpu.Training;

/// <summary>How far a load has come: bytes and rows read of the totals (reported as parts of files finish).</summary>
public readonly record struct LoadProgress(long Bytes, long TotalBytes, long Rows, long TotalRows);

/// <summary>
/// Loads numeric data from CSV (<see cref="CsvParser"/>: parallel, about 300-400 MB/s on two cores)
/// and Parquet (<see cref="ParquetTable"/>) files: one file, a folder, or a pattern
/// (<see cref="DataFiles"/>). Several files form one data set in sorted order and must share their
/// columns (in any order). Every file is opened and its rows counted first, so the arrays are
/// allocated once at their final size and filled in place: no per-row objects, no second copy.
/// Every value must be a finite number; the first bad one is reported by file and place.
/// </summary>
public static class DataLoader
{
    /// <summary>
    /// Loads features and targets. <paramref name="targetColumns"/> names the target columns; by
    /// default the last column is the target and the others are features.
    /// </summary>
    public static Dataset Load(string data, IReadOnlyList<string>? targetColumns = null, IProgress<LoadProgress>? progress = null)
    {
        using var tables = Open(data);
        var first = tables.Files[0];
        var names = first.Names;
        var targets = targetColumns is { Count: > 0 } ? targetColumns : [names[^1]];
        foreach (var (name, i) in targets.Select((n, i) => (n, i)))
        {
            if (!names.Contains(name))
                throw new DataFormatException(first.Path, 1, null, $"target column '{name}' is not in the header (columns: {string.Join(", ", names)}).");
            if (targets.Take(i).Contains(name))
                throw new DataFormatException(first.Path, 1, null, $"target column '{name}' is named twice.");
        }

        var features = names.Where(n => !targets.Contains(n)).ToList();
        if (features.Count == 0)
            throw new DataFormatException(first.Path, 1, null, "no feature columns are left once the targets are taken.");
        var outputs = tables.Read(file => file.Names.Select(n => targets.Contains(n)
            ? new TableFile.Destination(1, IndexOf(targets, n))
            : new TableFile.Destination(0, features.IndexOf(n))).ToArray(), [features.Count, targets.Count], progress);
        return new Dataset(outputs[0], outputs[1], tables.Rows, features, [.. targets]);
    }

    /// <summary>
    /// Loads the feature columns a trained model expects, by name and in the model's order. Columns
    /// named in <paramref name="ignoredColumns"/> (the training targets) may be present and are
    /// skipped; any other extra column, or a missing one, is an error.
    /// </summary>
    public static float[] LoadFeatures(string data, IReadOnlyList<string> featureNames, IReadOnlyList<string> ignoredColumns, out int rowCount, IProgress<LoadProgress>? progress = null)
    {
        using var tables = Open(data);
        var first = tables.Files[0];
        var names = first.Names;
        var missing = featureNames.Where(n => !names.Contains(n)).ToList();
        var extra = names.Where(h => !featureNames.Contains(h) && !ignoredColumns.Contains(h)).ToList();
        if (missing.Count > 0 || extra.Count > 0)
        {
            throw new DataFormatException(first.Path, 1, null,
                "the columns do not match the model's features"
                + (missing.Count > 0 ? $"; missing: {string.Join(", ", missing)}" : "")
                + (extra.Count > 0 ? $"; unexpected: {string.Join(", ", extra)}" : "")
                + $" (expected: {string.Join(", ", featureNames)}).");
        }

        var outputs = tables.Read(file => file.Names.Select(n => featureNames.Contains(n)
            ? new TableFile.Destination(0, IndexOf(featureNames, n))
            : TableFile.Destination.Skip).ToArray(), [featureNames.Count], progress);
        rowCount = tables.Rows;
        return outputs[0];
    }

    private static int IndexOf(IReadOnlyList<string> names, string name) => names.ToList().IndexOf(name);

    private static TableSet Open(string data)
    {
        var paths = DataFiles.Resolve(data);
        var files = new List<TableFile>();
        try
        {
            foreach (var path in paths)
            {
                var file = TableFile.Open(path);
                files.Add(file);
                if (files.Count > 1)
                    CheckSameColumns(files[0], file);
            }

            long rows = files.Sum(f => (long)f.Rows);
            if (rows == 0)
                throw new DataFormatException(files.Count == 1 ? files[0].Path : data, null, null,
                    files.Count == 1 ? "the file has a header but no data rows." : $"none of the {files.Count} files has data rows.");
            if (rows > int.MaxValue)
                throw new DataFormatException(data, null, null, $"the files hold {rows} rows together; at most {int.MaxValue} can be loaded.");
            return new TableSet(files, (int)rows);
        }
        catch
        {
            files.ForEach(f => f.Dispose());
            throw;
        }
    }

    private static void CheckSameColumns(TableFile first, TableFile other)
    {
        var missing = first.Names.Except(other.Names).ToList();
        var extra = other.Names.Except(first.Names).ToList();
        if (missing.Count > 0 || extra.Count > 0)
        {
            throw new DataFormatException(other.Path, 1, null, $"the columns differ from {first.Path}'s"
                + (missing.Count > 0 ? $"; missing: {string.Join(", ", missing)}" : "")
                + (extra.Count > 0 ? $"; unexpected: {string.Join(", ", extra)}" : "")
                + "; every file of a data set must have the same columns.");
        }
    }

    /// <summary>The opened files of one data set, read one after another into shared arrays.</summary>
    private sealed class TableSet(List<TableFile> files, int rows) : IDisposable
    {
        public List<TableFile> Files => files;

        public int Rows => rows;

        public float[][] Read(Func<TableFile, TableFile.Destination[]> destinationsOf, int[] widths, IProgress<LoadProgress>? progress)
        {
            var outputs = widths.Select(w => new float[checked((long)rows * w)]).ToArray();
            long totalBytes = files.Sum(f => f.Bytes), bytes = 0, rowsRead = 0;
            Action<long, int>? report = progress is null ? null : (b, r) =>
                progress.Report(new LoadProgress(Interlocked.Add(ref bytes, b), totalBytes, Interlocked.Add(ref rowsRead, r), rows));
            int firstRow = 0;
            foreach (var file in files)
            {
                file.ReadInto(destinationsOf(file), widths, outputs, firstRow, report);
                firstRow += file.Rows;
            }

            return outputs;
        }

        public void Dispose() => files.ForEach(f => f.Dispose());
    }
}
