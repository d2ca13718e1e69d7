using System.Globalization;
using System.Numerics;
using ParquetSharp;

namespace Gpu.Training;

/// <summary>
/// A Parquet file, read with ParquetSharp (Apache Arrow's C++ reader). Every column must be a flat
/// float, double or integer column (signed or unsigned, 8 to 64 bits); values become floats. A
/// nullable column may be read as long as it holds no null. Column chunks (row group x column) are
/// decoded in parallel, each worker with its own reader, into a reused buffer that is then scattered
/// into the row-major arrays: beyond those arrays a load allocates a few chunk buffers, whatever the
/// file's size (Parquet.Net, measured too, allocated about three buffers per chunk; docs/data.md).
/// </summary>
internal sealed class ParquetTable : TableFile
{
    private static readonly Type[] Supported =
        [typeof(float), typeof(double), typeof(sbyte), typeof(byte), typeof(short), typeof(ushort), typeof(int), typeof(uint), typeof(long), typeof(ulong)];

    private readonly Type[] types; // each column's element type (float, int, ...), nullable or not
    private readonly long[] groupRows;

    private ParquetTable(string path, string[] names, Type[] types, long[] groupRows)
    {
        Path = path;
        Names = names;
        this.types = types;
        this.groupRows = groupRows;
        Rows = checked((int)groupRows.Sum());
        Bytes = new FileInfo(path).Length;
    }

    public override string Path { get; }

    public override string[] Names { get; }

    public override int Rows { get; }

    public override long Bytes { get; }

    public static new ParquetTable Open(string path)
    {
        InputFile.Require(path);
        using var reader = CreateReader(path);
        try
        {
            var metadata = reader.FileMetaData;
            var schema = metadata.Schema;
            if (schema.NumColumns == 0)
                throw new DataFormatException(path, null, null, "the file has no columns.");
            var names = new string[schema.NumColumns];
            var types = new Type[schema.NumColumns];
            for (int c = 0; c < names.Length; c++)
            {
                var column = schema.Column(c);
                string name = string.Join(".", column.Path.ToDotVector());
                if (column.MaxRepetitionLevel > 0 || column.Path.ToDotVector().Length > 1)
                    throw new DataFormatException(path, null, null, $"column '{name}' is nested or repeated; only flat numeric columns can be read.");
                var element = column.GetSystemTypes(LogicalTypeFactory.Default, null).elementType;
                var value = Nullable.GetUnderlyingType(element) ?? element;
                if (!Supported.Contains(value))
                    throw new DataFormatException(path, null, null, $"column '{name}' holds {Describe(column)} values; only float, double and integer columns can be read.");
                names[c] = name;
                types[c] = element;
            }

            var groupRows = new long[metadata.NumRowGroups];
            for (int g = 0; g < groupRows.Length; g++)
            {
                using var group = reader.RowGroup(g);
                groupRows[g] = group.MetaData.NumRows;
            }

            if (groupRows.Sum() > int.MaxValue)
                throw new DataFormatException(path, null, null, $"the file has {groupRows.Sum()} rows; at most {int.MaxValue} can be loaded.");
            return new ParquetTable(path, names, types, groupRows);
        }
        catch (ParquetException e)
        {
            throw Unreadable(path, e);
        }
    }

    public override void ReadInto(Destination[] destinations, int[] widths, float[][] outputs, int firstRow, Action<long, int>? progress)
    {
        var columns = Enumerable.Range(0, Names.Length).Where(c => destinations[c].Array >= 0).ToArray();
        var groupStart = new long[groupRows.Length];
        for (int g = 1; g < groupRows.Length; g++)
            groupStart[g] = groupStart[g - 1] + groupRows[g - 1];

        // One work item per column chunk; a reader serves one thread at a time, so each worker opens its own.
        int items = groupRows.Length * columns.Length;
        var errors = new Exception?[items];
        var options = new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount };
        Parallel.For(0, items, options, () => new Worker(Path), (int item, ParallelLoopState _, Worker worker) =>
        {
            int g = item / columns.Length, k = item % columns.Length, c = columns[k];
            int rows = (int)groupRows[g];
            var values = worker.Floats(rows);
            try
            {
                using var group = worker.Reader.RowGroup(g);
                using var column = group.Column(c);
                errors[item] = ReadColumn(column, types[c], Names[c], values, groupStart[g], worker);
            }
            catch (ParquetException e)
            {
                errors[item] = Unreadable(Path, e);
            }

            if (errors[item] is null)
            {
                var d = destinations[c];
                float[] output = outputs[d.Array];
                long width = widths[d.Array];
                long at = (firstRow + groupStart[g]) * width + d.Index;
                for (int r = 0; r < values.Length; r++, at += width)
                    output[at] = values[r];
            }

            // This chunk's share of the group's rows and of the file's bytes.
            int share = (int)(rows * (long)(k + 1) / columns.Length - rows * (long)k / columns.Length);
            progress?.Invoke((long)((double)Bytes * rows / Math.Max(1, Rows) / columns.Length), share);
            return worker;
        }, worker => worker.Dispose());
        if (errors.FirstOrDefault(e => e is not null) is { } error)
            throw error;
    }

    // One worker's reader (opened on first use) and buffers, reused from chunk to chunk.
    private sealed class Worker(string path) : IDisposable
    {
        private ParquetFileReader? reader;
        private float[] floats = [];
        private Array raw = Array.Empty<float>();

        public ParquetFileReader Reader => reader ??= CreateReader(path);

        public Span<float> Floats(int rows)
        {
            if (floats.Length < rows)
                floats = new float[rows];
            return floats.AsSpan(0, rows);
        }

        public Span<T> Raw<T>(int rows)
        {
            if (raw is not T[] buffer || buffer.Length < rows)
                raw = buffer = new T[rows];
            return buffer.AsSpan(0, rows);
        }

        public void Dispose() => reader?.Dispose();
    }

    private static ParquetFileReader CreateReader(string path)
    {
        try
        {
            return new ParquetFileReader(path);
        }
        catch (ParquetException e)
        {
            throw Unreadable(path, e);
        }
        catch (Exception e) when (e is DllNotFoundException or TypeInitializationException or BadImageFormatException)
        {
            // ParquetSharp's native library ships for Linux, Windows and macOS on x64 and arm64 only.
            throw new DllNotFoundException($"{path}: Parquet input needs ParquetSharp's native library, which cannot be loaded on {System.Runtime.InteropServices.RuntimeInformation.RuntimeIdentifier} ({(e.InnerException ?? e).Message.Split('\n')[0].Trim()}).", e);
        }
    }

    private static DataFormatException Unreadable(string path, ParquetException e) =>
        new(path, null, null, $"not a readable Parquet file ({e.Message.Split('\n')[0].Trim().TrimEnd('.')}).");

    private static string Describe(ColumnDescriptor column) =>
        column.LogicalType.Type == LogicalTypeEnum.None ? column.PhysicalType.ToString() : $"{column.PhysicalType} ({column.LogicalType})";

    private DataFormatException? ReadColumn(ColumnReader column, Type type, string name, Span<float> values, long firstRow, Worker worker) =>
        (Nullable.GetUnderlyingType(type) ?? type) switch
        {
            var t when t == typeof(float) => ReadColumn<float>(column, type != t, name, values, firstRow, worker),
            var t when t == typeof(double) => ReadColumn<double>(column, type != t, name, values, firstRow, worker),
            var t when t == typeof(sbyte) => ReadColumn<sbyte>(column, type != t, name, values, firstRow, worker),
            var t when t == typeof(byte) => ReadColumn<byte>(column, type != t, name, values, firstRow, worker),
            var t when t == typeof(short) => ReadColumn<short>(column, type != t, name, values, firstRow, worker),
            var t when t == typeof(ushort) => ReadColumn<ushort>(column, type != t, name, values, firstRow, worker),
            var t when t == typeof(int) => ReadColumn<int>(column, type != t, name, values, firstRow, worker),
            var t when t == typeof(uint) => ReadColumn<uint>(column, type != t, name, values, firstRow, worker),
            var t when t == typeof(long) => ReadColumn<long>(column, type != t, name, values, firstRow, worker),
            _ => ReadColumn<ulong>(column, type != typeof(ulong), name, values, firstRow, worker),
        };

    // One column chunk as floats; a null or a value that is not a finite float is an error naming its row (1-based, in the file).
    private DataFormatException? ReadColumn<T>(ColumnReader column, bool nullable, string name, Span<float> values, long firstRow, Worker worker)
        where T : struct, INumberBase<T>
    {
        int rows = values.Length;
        if (nullable)
        {
            var raw = worker.Raw<T?>(rows);
            using var reader = column.LogicalReader<T?>();
            for (int read = 0; read < rows;)
                read += Advance(reader.ReadBatch(raw[read..]), name);
            for (int r = 0; r < rows; r++)
            {
                if (raw[r] is not { } value)
                    return Bad(name, firstRow + r, "is null; a nullable column is read only when it holds no nulls");
                values[r] = float.CreateTruncating(value);
            }
        }
        else
        {
            var raw = worker.Raw<T>(rows);
            using var reader = column.LogicalReader<T>();
            for (int read = 0; read < rows;)
                read += Advance(reader.ReadBatch(raw[read..]), name);
            for (int r = 0; r < rows; r++)
                values[r] = float.CreateTruncating(raw[r]);
        }

        for (int r = 0; r < rows; r++)
        {
            if (!float.IsFinite(values[r]))
                return Bad(name, firstRow + r, "is not a finite float (NaN, an infinity, or beyond +-3.4e38)");
        }

        return null;
    }

    // A batch that reads nothing before the row group's end would loop forever: the file is inconsistent.
    private int Advance(int read, string name) =>
        read > 0 ? read : throw new DataFormatException(Path, null, null, $"column '{name}' holds fewer values than its row group's row count.");

    private DataFormatException Bad(string name, long row, string problem) =>
        new(Path, null, null, string.Create(CultureInfo.InvariantCulture, $"row {row + 1}, column '{name}': the value {problem}."));
}
