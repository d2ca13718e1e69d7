using System.Globalization;
using System.Text;
using Gpu.Training;
using ParquetSharp;

namespace Gpu.Tests;

/// <summary>
/// Parquet input: files written by ParquetSharp's writer with several row groups and every
/// supported column type load to the same numbers as the same data written as CSV; columns of other
/// types, nulls, non-finite values and files that are not Parquet give one clear error each.
/// </summary>
public sealed class ParquetTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("gpu-parquet-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    private string PathOf(string name) => Path.Combine(folder, name);

    [Fact]
    public void EverySupportedTypeInSeveralRowGroupsEqualsTheSameDataInCsv()
    {
        const int rows = 23;
        var random = new Random(5);
        var columns = new (string Name, Array Values)[]
        {
            ("f32", Enumerable.Range(0, rows).Select(_ => (float)(random.NextDouble() * 20 - 10)).ToArray()),
            ("f64", Enumerable.Range(0, rows).Select(_ => random.NextDouble() * 2e6 - 1e6).ToArray()),
            ("i8", Enumerable.Range(0, rows).Select(_ => (sbyte)random.Next(sbyte.MinValue, sbyte.MaxValue + 1)).ToArray()),
            ("u8", Enumerable.Range(0, rows).Select(_ => (byte)random.Next(0, 256)).ToArray()),
            ("i16", Enumerable.Range(0, rows).Select(_ => (short)random.Next(short.MinValue, short.MaxValue + 1)).ToArray()),
            ("u16", Enumerable.Range(0, rows).Select(_ => (ushort)random.Next(0, ushort.MaxValue + 1)).ToArray()),
            ("i32", Enumerable.Range(0, rows).Select(_ => random.Next(int.MinValue, int.MaxValue)).ToArray()),
            ("u32", Enumerable.Range(0, rows).Select(_ => (uint)random.NextInt64(0, uint.MaxValue)).ToArray()),
            ("i64", Enumerable.Range(0, rows).Select(_ => random.NextInt64(long.MinValue, long.MaxValue)).ToArray()),
            ("u64", Enumerable.Range(0, rows).Select(_ => (ulong)random.NextInt64(0, long.MaxValue) * 2).ToArray()),
            ("f32null", Enumerable.Range(0, rows).Select(_ => (float?)random.Next(-1000, 1000) / 8).ToArray()),
        };
        string parquet = PathOf("types.parquet");
        using (var writer = new ParquetFileWriter(parquet, [.. columns.Select(c => new Column(c.Values.GetType().GetElementType()!, c.Name))]))
        {
            int start = 0;
            foreach (int groupRows in new[] { 10, 1, 12 })
            {
                using var group = writer.AppendRowGroup();
                foreach (var (_, values) in columns)
                    WriteBatch(group.NextColumn(), values, start, groupRows);
                start += groupRows;
            }

            writer.Close();
        }

        // The same values as CSV text, each in its shortest round-trip form.
        var csv = new StringBuilder(string.Join(",", columns.Select(c => c.Name))).Append('\n');
        for (int r = 0; r < rows; r++)
            csv.AppendJoin(",", columns.Select(c => string.Format(CultureInfo.InvariantCulture, "{0:R}", c.Values.GetValue(r)))).Append('\n');
        File.WriteAllText(PathOf("types.csv"), csv.ToString());

        var expected = DataLoader.Load(PathOf("types.csv"), ["i16", "f32null"]);
        var actual = DataLoader.Load(parquet, ["i16", "f32null"]);
        Assert.Equal(expected.FeatureNames, actual.FeatureNames);
        Assert.Equal(expected.TargetNames, actual.TargetNames);
        Assert.Equal(rows, actual.Count);
        Assert.Equal(expected.Features, actual.Features);
        Assert.Equal(expected.Targets, actual.Targets);
        var reversed = expected.FeatureNames.Reverse().ToList(); // features by name, in another order
        Assert.Equal(DataLoader.LoadFeatures(PathOf("types.csv"), reversed, ["i16", "f32null"], out _),
            DataLoader.LoadFeatures(parquet, reversed, ["i16", "f32null"], out int count));
        Assert.Equal(rows, count);
    }

    // Writes rows [start, start + count) of one column with the writer of the array's exact element
    // type (a pattern like `case sbyte[]` would also match a byte[]: the runtime casts between them).
    private static void WriteBatch(ColumnWriter writer, Array values, int start, int count)
    {
        using (writer)
        {
            typeof(ParquetTests).GetMethod(nameof(Write), System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Static)!
                .MakeGenericMethod(values.GetType().GetElementType()!).Invoke(null, [writer, values, start, count]);
        }
    }

    private static void Write<T>(ColumnWriter writer, T[] values, int start, int count)
    {
        using var logical = writer.LogicalWriter<T>();
        logical.WriteBatch(values.AsSpan(start, count));
    }

    private string WriteColumns(string name, params (string Name, Array Values)[] columns)
    {
        string path = PathOf(name);
        using var writer = new ParquetFileWriter(path, [.. columns.Select(c => new Column(c.Values.GetType().GetElementType()!, c.Name))]);
        using (var group = writer.AppendRowGroup())
        {
            foreach (var (_, values) in columns)
                WriteBatch(group.NextColumn(), values, 0, values.Length);
        }

        writer.Close();
        return path;
    }

    [Fact]
    public void ColumnsOfOtherTypesAreNamedInTheError()
    {
        var x = new[] { 1f, 2f };
        string text = WriteColumns("text.parquet", ("x", x), ("name", new[] { "a", "b" }));
        Assert.Equal($"{text}: column 'name' holds ByteArray (String) values; only float, double and integer columns can be read.",
            Assert.Throws<DataFormatException>(() => DataLoader.Load(text)).Message);
        string time = WriteColumns("time.parquet", ("x", x), ("when", new[] { DateTime.UnixEpoch, DateTime.UnixEpoch }));
        Assert.Contains("column 'when' holds Int64 (Timestamp", Assert.Throws<DataFormatException>(() => DataLoader.Load(time)).Message);
        string list = WriteColumns("list.parquet", ("x", x), ("v", new[] { new[] { 1f }, new[] { 2f, 3f } }));
        Assert.Contains("is nested or repeated; only flat numeric columns can be read", Assert.Throws<DataFormatException>(() => DataLoader.Load(list)).Message);
    }

    [Fact]
    public void NullsAndNonFiniteValuesAreNamedByRowAndColumn()
    {
        string nulls = WriteColumns("nulls.parquet", ("x", new float?[] { 1, 2, null, 4 }), ("y", new float[] { 1, 2, 3, 4 }));
        Assert.Equal($"{nulls}: row 3, column 'x': the value is null; a nullable column is read only when it holds no nulls.",
            Assert.Throws<DataFormatException>(() => DataLoader.Load(nulls)).Message);
        string nan = WriteColumns("nan.parquet", ("x", new float[] { 1, 2 }), ("y", new double[] { 1, double.NaN }));
        Assert.Contains("row 2, column 'y': the value is not a finite float", Assert.Throws<DataFormatException>(() => DataLoader.Load(nan)).Message);
        string huge = WriteColumns("huge.parquet", ("x", new double[] { 1e300, 2 }), ("y", new float[] { 1, 2 }));
        Assert.Contains("row 1, column 'x': the value is not a finite float", Assert.Throws<DataFormatException>(() => DataLoader.Load(huge)).Message);
    }

    [Fact]
    public void FilesThatAreNotParquetAreRejectedWithoutACrash()
    {
        string csv = PathOf("fake.parquet");
        File.WriteAllText(csv, "a,y\n1,2\n");
        Assert.Contains("not a readable Parquet file", Assert.Throws<DataFormatException>(() => DataLoader.Load(csv)).Message);

        // A real file cut short, and one with its middle overwritten: errors, never a crash.
        string good = WriteColumns("good.parquet", ("x", Enumerable.Range(0, 1000).Select(i => (float)i).ToArray()), ("y", Enumerable.Range(0, 1000).Select(i => (double)i).ToArray()));
        var bytes = File.ReadAllBytes(good);
        string cut = PathOf("cut.parquet");
        File.WriteAllBytes(cut, bytes[..(bytes.Length / 2)]);
        Assert.Contains("not a readable Parquet file", Assert.Throws<DataFormatException>(() => DataLoader.Load(cut)).Message);
        string scrambled = PathOf("scrambled.parquet");
        var copy = bytes.ToArray();
        new Random(1).NextBytes(copy.AsSpan(8, copy.Length / 2));
        File.WriteAllBytes(scrambled, copy);
        Assert.Throws<DataFormatException>(() => DataLoader.Load(scrambled));
        Assert.Throws<FileNotFoundException>(() => DataLoader.Load(PathOf("missing.parquet")));
    }
}
