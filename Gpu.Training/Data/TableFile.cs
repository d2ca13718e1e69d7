namespace Gpu.Training;

/// <summary>
/// One data file of named numeric columns, opened in two steps so that many files fill one set of
/// arrays without a copy: opening reads the column names and counts the rows; <see cref="ReadInto"/>
/// then writes each row where the caller says. CSV (<see cref="CsvTable"/>) and Parquet
/// (<see cref="ParquetTable"/>, by the <c>.parquet</c> extension) are read this way.
/// </summary>
internal abstract class TableFile : IDisposable
{
    /// <summary>Where a column's values go: into the features (array 0), the targets (1), or nowhere.</summary>
    public readonly record struct Destination(int Array, int Index)
    {
        public static Destination Skip => new(-1, 0);
    }

    public static TableFile Open(string path) =>
        IsParquet(path) ? ParquetTable.Open(path) : CsvTable.Open(path);

    public static bool IsParquet(string path) => System.IO.Path.GetExtension(path).Equals(".parquet", StringComparison.OrdinalIgnoreCase);

    public abstract string Path { get; }

    public abstract string[] Names { get; }

    /// <summary>Data rows in the file.</summary>
    public abstract int Rows { get; }

    /// <summary>The file's size, for progress.</summary>
    public abstract long Bytes { get; }

    /// <summary>
    /// Writes column c of every row r to <c>outputs[destinations[c].Array][(firstRow + r) * widths[array] + destinations[c].Index]</c>
    /// (one destination per name in <see cref="Names"/>). Values must be finite; the first one that
    /// is not is reported with its place in the file. <paramref name="progress"/> hears bytes and rows as parts finish.
    /// </summary>
    public abstract void ReadInto(Destination[] destinations, int[] widths, float[][] outputs, int firstRow, Action<long, int>? progress);

    public virtual void Dispose()
    {
    }
}

/// <summary>A CSV file (<see cref="CsvParser"/>): the header and the parallel line count on open.</summary>
internal sealed class CsvTable : TableFile
{
    private readonly CsvParser.Layout layout;

    private CsvTable(CsvParser.Layout layout) => this.layout = layout;

    public static new CsvTable Open(string path) => new(CsvParser.Count(CsvParser.ReadHeader(path)));

    public override string Path => layout.Header.Path;

    public override string[] Names => layout.Header.Names;

    public override int Rows => layout.Rows;

    public override long Bytes => new FileInfo(Path).Length;

    public override void ReadInto(Destination[] destinations, int[] widths, float[][] outputs, int firstRow, Action<long, int>? progress) =>
        CsvParser.Fill(layout, destinations, widths, outputs, firstRow, progress);
}
