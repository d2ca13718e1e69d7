using Gpu.Training;
using ParquetSharp;

namespace Gpu.Bench.Data;

/// <summary>
/// `to-parquet CSV PARQUET [--row-group N]`: the same data as a Parquet file of float columns
/// (Snappy, row groups of N rows, 1,000,000 by default), for the Parquet load benchmark.
/// </summary>
internal static class ParquetConverter
{
    public static int Run(string csv, string parquet, int rowGroup)
    {
        var data = DataLoader.Load(csv);
        var names = data.FeatureNames.Concat(data.TargetNames).ToArray();
        using (var writer = new ParquetFileWriter(parquet, [.. names.Select(n => new Column<float>(n))], Compression.Snappy))
        {
            var column = new float[rowGroup];
            for (int start = 0; start < data.Count; start += rowGroup)
            {
                int rows = Math.Min(rowGroup, data.Count - start);
                using var group = writer.AppendRowGroup();
                for (int c = 0; c < names.Length; c++)
                {
                    bool feature = c < data.FeatureCount;
                    float[] source = feature ? data.Features : data.Targets;
                    int width = feature ? data.FeatureCount : data.TargetCount, index = feature ? c : c - data.FeatureCount;
                    for (int r = 0; r < rows; r++)
                        column[r] = source[(long)(start + r) * width + index];
                    using var columnWriter = group.NextColumn().LogicalWriter<float>();
                    columnWriter.WriteBatch(column.AsSpan(0, rows));
                }
            }

            writer.Close();
        }

        Console.Error.WriteLine($"wrote {parquet}: {data.Count} rows x {names.Length} float columns, {new FileInfo(parquet).Length / 1e6:F0} MB");
        return 0;
    }
}
