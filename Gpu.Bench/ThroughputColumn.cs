using System.Globalization;
using System.Reflection;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;

namespace Gpu.Bench;

/// <summary>A benchmark class that knows how much work one invocation does (FLOPs or bytes).</summary>
public interface IHasWork
{
    /// <summary>Work of one invocation of <paramref name="method"/> and its unit: "GFLOP/s" (amount in FLOPs) or "GB/s" (bytes).</summary>
    (double Amount, string Unit) Work(string method);
}

/// <summary>Throughput from the median time: FLOPs or bytes per invocation over seconds.</summary>
public sealed class ThroughputColumn : IColumn
{
    public string Id => nameof(ThroughputColumn);

    public string ColumnName => "Throughput";

    public bool AlwaysShow => true;

    public ColumnCategory Category => ColumnCategory.Custom;

    public int PriorityInCategory => 0;

    public bool IsNumeric => true;

    public UnitType UnitType => UnitType.Dimensionless;

    public string Legend => "Work per invocation / median time (GFLOP/s for products and training steps, GB/s for memory-bound kernels)";

    public bool IsAvailable(Summary summary) => true;

    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
    {
        var statistics = summary[benchmarkCase]?.ResultStatistics;
        if (statistics is null || Activator.CreateInstance(benchmarkCase.Descriptor.Type) is not IHasWork instance)
            return "-";
        foreach (var parameter in benchmarkCase.Parameters.Items)
        {
            var type = benchmarkCase.Descriptor.Type;
            var property = type.GetProperty(parameter.Name, BindingFlags.Public | BindingFlags.Instance);
            if (property is not null)
                property.SetValue(instance, parameter.Value);
            else
                type.GetField(parameter.Name, BindingFlags.Public | BindingFlags.Instance)?.SetValue(instance, parameter.Value);
        }

        var (amount, unit) = instance.Work(benchmarkCase.Descriptor.WorkloadMethod.Name);
        double seconds = statistics.Median * 1e-9;
        return (amount / seconds / 1e9).ToString("F2", CultureInfo.InvariantCulture) + " " + unit;
    }
}
