using System.Globalization;
using System.Text;

namespace Gpu.Bench.Data;

/// <summary>
/// `write-csv PATH [--rows N] [--features F] [--seed S]`: a seeded regression CSV for the data
/// benchmarks (docs/benchmarks.md): F standard-normal features with 5 decimals and a target that is
/// a noisy linear function of them. 2,000,000 x 20 (the default) is about 357 MB.
/// </summary>
internal static class CsvWriter
{
    public static int Run(string path, int rows, int features, int seed)
    {
        var random = new Random(seed);
        var weights = Enumerable.Range(0, features).Select(_ => random.NextDouble() * 2 - 1).ToArray();
        using var file = new StreamWriter(path, false, new UTF8Encoding(false), 1 << 20);
        file.Write(string.Join(",", Enumerable.Range(0, features).Select(i => $"x{i}")));
        file.Write(",y\n");
        var values = new double[features];
        var line = new StringBuilder();
        for (int r = 0; r < rows; r++)
        {
            line.Clear();
            double y = 0;
            for (int j = 0; j < features; j++)
            {
                values[j] = Normal(random);
                y += weights[j] * values[j];
                line.Append(values[j].ToString("F5", CultureInfo.InvariantCulture)).Append(',');
            }

            y += 0.1 * Normal(random);
            line.Append(y.ToString("F5", CultureInfo.InvariantCulture)).Append('\n');
            file.Write(line);
        }

        Console.Error.WriteLine($"wrote {path}: {rows} rows x {features + 1} columns, {new FileInfo(path).Length / 1e6:F0} MB");
        return 0;
    }

    private static double Normal(Random random) => Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
}
