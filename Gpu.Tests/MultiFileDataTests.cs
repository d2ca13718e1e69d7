using System.Globalization;
using System.Text;
using Gpu.Training;
using ParquetSharp;

namespace Gpu.Tests;

/// <summary>
/// Several files as one data set (<c>--data "part-*.csv"</c>, a folder): the rows of every part, in
/// sorted order, equal the rows of the concatenated file, whatever each part's layout (the parallel
/// and the quote-aware reader, columns in another order, a header-only part, Parquet next to CSV);
/// parts that disagree on their columns, and patterns that match nothing, are named in the error.
/// </summary>
public sealed class MultiFileDataTests : IDisposable
{
    private const string Header = "a,b,c,y";

    private readonly string folder = Directory.CreateTempSubdirectory("gpu-parts-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    private string PathOf(string name) => Path.Combine(folder, name);

    // Rows of four columns with up to 5 decimals, seeded.
    private static string[][] Rows(int count, int seed)
    {
        var random = new Random(seed);
        return [.. Enumerable.Range(0, count).Select(_ => Enumerable.Range(0, 4)
            .Select(_ => (random.NextDouble() * 200 - 100).ToString("F" + random.Next(0, 6), CultureInfo.InvariantCulture)).ToArray())];
    }

    private static string Csv(string header, IEnumerable<string[]> rows, string newline = "\n", bool lastNewline = true)
    {
        var text = new StringBuilder(header).Append(newline);
        foreach (var row in rows)
            text.Append(string.Join(",", row)).Append(newline);
        return lastNewline ? text.ToString() : text.ToString()[..^newline.Length];
    }

    [Fact]
    public void PartsInSortedOrderEqualTheConcatenatedFile()
    {
        // Part 0 is over 4 MB, so it is parsed in several segments; part 1 has quotes (the sequential
        // reader), CRLF and its columns in another order; part 2 has a header only; part 3 no last line end.
        var rows = Rows(210_000, seed: 1);
        var parts = new[] { rows[..200_000], rows[200_000..205_000], [], rows[205_000..] };
        File.WriteAllText(PathOf("whole.csv"), Csv(Header, rows));
        Directory.CreateDirectory(PathOf("parts"));
        File.WriteAllText(PathOf("parts/part-00003.csv"), Csv(Header, parts[3], lastNewline: false));
        File.WriteAllText(PathOf("parts/part-00000.csv"), Csv(Header, parts[0]));
        File.WriteAllText(PathOf("parts/part-00001.csv"), Csv("\"y\",c,b,a", parts[1].Select(r => new[] { $"\"{r[3]}\"", r[2], r[1], r[0] }), "\r\n"));
        File.WriteAllText(PathOf("parts/part-00002.csv"), Csv(Header, parts[2]));
        File.WriteAllText(PathOf("parts/notes.txt"), "not data");
        Assert.True(new FileInfo(PathOf("parts/part-00000.csv")).Length > 4 << 20);

        var whole = DataLoader.Load(PathOf("whole.csv"), ["b"]);
        foreach (var data in new[] { PathOf("parts/part-*.csv"), PathOf("parts") })
        {
            var loaded = DataLoader.Load(data, ["b"]);
            Assert.Equal(whole.Count, loaded.Count);
            Assert.Equal(whole.FeatureNames, loaded.FeatureNames);
            Assert.Equal(whole.Features, loaded.Features);
            Assert.Equal(whole.Targets, loaded.Targets);
        }

        var features = DataLoader.LoadFeatures(PathOf("parts/part-0000?.csv"), ["c", "a"], ["b", "y"], out int count);
        Assert.Equal(whole.Count, count);
        Assert.Equal(DataLoader.LoadFeatures(PathOf("whole.csv"), ["c", "a"], ["b", "y"], out _), features);
    }

    [Fact]
    public void CsvAndParquetPartsMix()
    {
        var rows = Rows(500, seed: 2);
        File.WriteAllText(PathOf("whole.csv"), Csv(Header, rows));
        File.WriteAllText(PathOf("part-0.csv"), Csv(Header, rows[..200]));
        using (var writer = new ParquetFileWriter(PathOf("part-1.parquet"), [.. Header.Split(',').Select(n => new Column<double>(n))]))
        {
            using var group = writer.AppendRowGroup();
            for (int c = 0; c < 4; c++)
            {
                using var column = group.NextColumn().LogicalWriter<double>();
                column.WriteBatch([.. rows[200..].Select(r => double.Parse(r[c], CultureInfo.InvariantCulture))]);
            }

            writer.Close();
        }

        var whole = DataLoader.Load(PathOf("whole.csv"));
        var mixed = DataLoader.Load(PathOf("part-*"));
        Assert.Equal(whole.Features, mixed.Features);
        Assert.Equal(whole.Targets, mixed.Targets);
    }

    [Fact]
    public void ErrorsNameThePartAndItsOwnLine()
    {
        File.WriteAllText(PathOf("p1.csv"), "a,y\n1,2\n3,4\n");
        File.WriteAllText(PathOf("p2.csv"), "a,y\n5,6\n7,oops\n");
        var error = Assert.Throws<DataFormatException>(() => DataLoader.Load(PathOf("p*.csv")));
        Assert.Equal($"{PathOf("p2.csv")}:3:2: 'oops' in column 'y' is not a number.", error.Message);

        File.WriteAllText(PathOf("p2.csv"), "a,z\n5,6\n");
        var columns = Assert.Throws<DataFormatException>(() => DataLoader.Load(PathOf("p*.csv")));
        Assert.Contains($"{PathOf("p2.csv")}:1: the columns differ from {PathOf("p1.csv")}'s; missing: y; unexpected: z", columns.Message);

        File.WriteAllText(PathOf("p2.csv"), "a,y\n");
        File.WriteAllText(PathOf("p1.csv"), "a,y\n");
        Assert.Contains("none of the 2 files has data rows", Assert.Throws<DataFormatException>(() => DataLoader.Load(PathOf("p*.csv"))).Message);
    }

    [Fact]
    public void PatternsAndFoldersThatNameNoDataAreErrors()
    {
        Assert.Contains("no files match", Assert.Throws<FileNotFoundException>(() => DataFiles.Resolve(PathOf("part-*.csv"))).Message);
        Assert.Contains("holds no .csv or .parquet files", Assert.Throws<FileNotFoundException>(() => DataFiles.Resolve(folder)).Message);
        Assert.Contains("wildcards are allowed in the file name only", Assert.Throws<ArgumentException>(() => DataFiles.Resolve(PathOf("*/x.csv"))).Message);
        Assert.Throws<DirectoryNotFoundException>(() => DataFiles.Resolve(PathOf("missing/x*.csv")));
    }

    [Fact]
    public void PartsAreTakenInOrdinalOrderOfTheirNames()
    {
        foreach (var name in new[] { "part-10.csv", "part-9.csv", "part-1.csv", "Part-2.csv" })
            File.WriteAllText(PathOf(name), "x\n1\n");
        Assert.Equal(["part-1.csv", "part-10.csv", "part-9.csv"], DataFiles.Resolve(PathOf("part-*.csv")).Select(Path.GetFileName));
        Assert.Equal(["Part-2.csv", "part-1.csv", "part-10.csv", "part-9.csv"], DataFiles.Resolve(folder).Select(Path.GetFileName));
    }
}
