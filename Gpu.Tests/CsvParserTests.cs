using System.Globalization;
using System.Text;
using Gpu.Training;

namespace Gpu.Tests;

/// <summary>
/// The parallel CSV reader: every layout a user's file may have (quoted fields, CRLF, BOM, with or
/// without a last line end, blank lines, very long lines) gives the values float.Parse gives, files
/// big enough to be cut into several segments report the right line of a bad cell, and the
/// parallel reader equals the sequential quote-aware one on the same data.
/// </summary>
public sealed class CsvParserTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("gpu-csvparser-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    private string Write(string name, string text, bool bom = false)
    {
        string path = Path.Combine(folder, name);
        File.WriteAllText(path, text, new UTF8Encoding(bom));
        return path;
    }

    [Theory]
    [InlineData("a,b,y\n1,2,3\n4,5,6\n", "plain")]
    [InlineData("a,b,y\r\n1,2,3\r\n4,5,6\r\n", "CRLF")]
    [InlineData("a,b,y\n1,2,3\n4,5,6", "no last line end")]
    [InlineData("a,b,y\n1,2,3\n4,5,6\n\n\n  \n", "blank lines at the end")]
    [InlineData("a,b,y\n1,2,3\n\n4,5,6\n", "a blank line inside")]
    [InlineData("\"a\",\"b\",\"y\"\n\"1\",2,\"3\"\n4,\"5\",6\n", "quoted fields")]
    [InlineData(" a , b ,y\n 1 , 2,3 \n4,5 ,\t6\n", "blanks around cells")]
    public void EveryLayoutGivesTheSameRows(string text, string layout)
    {
        var data = DataLoader.Load(Write("t.csv", text));
        Assert.True(data.Count == 2, layout);
        Assert.Equal(["a", "b"], data.FeatureNames);
        Assert.Equal([1f, 2f, 4f, 5f], data.Features);
        Assert.Equal([3f, 6f], data.Targets);
    }

    [Fact]
    public void AByteOrderMarkIsSkipped()
    {
        var data = DataLoader.Load(Write("bom.csv", "a,y\n1,2\n", bom: true));
        Assert.Equal(["a"], data.FeatureNames);
        Assert.Equal([1f], data.Features);
    }

    [Fact]
    public void NumbersEqualFloatParseInEveryForm()
    {
        string[] cells =
        [
            "0", "-0", "+1.5", "1.", ".5", "-.25", "1e3", "1E-3", "2.5e+10", "-7.0000001", "123456.7", "1234567.8", "0.1",
            "3.4028235e38", "1.17549435e-38", "1e-45", "16777217", "0.000001234567", "99999999999999999999", "-1.53052", "0.00000",
            "1234567", "12345678", "0.30000000000000004", "7e-10", "7e-11", "1.2345678901234567890123",
        ];
        var text = new StringBuilder("x,y\n");
        foreach (var cell in cells)
            text.Append(cell).Append(",0\n");
        var data = DataLoader.Load(Write("numbers.csv", text.ToString()));
        for (int i = 0; i < cells.Length; i++)
        {
            float expected = float.Parse(cells[i], NumberStyles.Float, CultureInfo.InvariantCulture);
            Assert.True(BitConverter.SingleToInt32Bits(expected) == BitConverter.SingleToInt32Bits(data.Features[i]),
                $"'{cells[i]}' read as {data.Features[i]:R}, float.Parse gives {expected:R}");
        }
    }

    [Fact]
    public void VeryLongLinesParse()
    {
        // 5,000 columns: lines of about 60 KB, longer than some readers' buffers.
        var header = string.Join(",", Enumerable.Range(0, 5000).Select(i => $"c{i}"));
        var row = string.Join(",", Enumerable.Range(0, 5000).Select(i => (i * 1.25).ToString(CultureInfo.InvariantCulture)));
        var data = DataLoader.Load(Write("long.csv", $"{header}\n{row}\n{row}\n"));
        Assert.Equal(2, data.Count);
        Assert.Equal(4999, data.FeatureCount);
        Assert.Equal(4998 * 1.25f, data.Features[4998]);
    }

    [Fact]
    public void ALargeFileIsReadInSegmentsInRowOrderAndBadCellsKeepTheirLine()
    {
        // ~20 MB: cut into several segments read in parallel.
        string path = Path.Combine(folder, "large.csv");
        const int rows = 400_000;
        using (var writer = new StreamWriter(path, false, new UTF8Encoding(false)))
        {
            writer.Write("a,b,c,y\n");
            for (int r = 0; r < rows; r++)
                writer.Write(string.Create(CultureInfo.InvariantCulture, $"{r},{r * 0.5:F1},{-r},{r % 7}\n"));
        }

        var data = DataLoader.Load(path);
        Assert.Equal(rows, data.Count);
        for (int r = 0; r < rows; r += 9973)
        {
            Assert.Equal(r, data.Features[r * 3]);
            Assert.Equal(-r, data.Features[r * 3 + 2]);
            Assert.Equal(r % 7, data.Targets[r]);
        }

        // The same data with quotes in the header goes through the sequential reader: same numbers.
        string quoted = Path.Combine(folder, "quoted.csv");
        var lines = File.ReadAllLines(path);
        lines[0] = "\"a\",\"b\",\"c\",\"y\"";
        File.WriteAllLines(quoted, lines);
        var sequential = DataLoader.Load(quoted);
        Assert.Equal(data.Features, sequential.Features);
        Assert.Equal(data.Targets, sequential.Targets);

        // A bad cell far into the file: its line and column, as the file's own numbering has them.
        lines[0] = "a,b,c,y";
        lines[350_001] = "350000,oops,1,2";
        File.WriteAllLines(path, lines);
        var error = Assert.Throws<DataFormatException>(() => DataLoader.Load(path));
        Assert.Equal(350_002, error.Line);
        Assert.Equal(2, error.Column);
        Assert.Contains("'oops' in column 'b' is not a number", error.Message);
    }
}
