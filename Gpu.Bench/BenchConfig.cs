using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Diagnosers;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using Perfolizer.Horology;

namespace Gpu.Bench;

/// <summary>
/// One BenchmarkDotNet configuration with two presets: "short" (in-process, 3 warm-ups and 5
/// iterations, small sizes on the CPU accelerator) and "full" (BenchmarkDotNet's default job,
/// every size). Memory diagnoser on; a throughput column (GFLOP/s or GB/s) and a baseline ratio
/// per category.
/// </summary>
public static class BenchConfig
{
    /// <summary>Environment variable carrying the preset to the benchmark processes (sizes depend on it).</summary>
    public const string PresetVariable = "GPU_BENCH_PRESET";

    public static bool IsFull => Environment.GetEnvironmentVariable(PresetVariable) == "full";

    public static IConfig Create(string preset)
    {
        if (preset is not ("short" or "full"))
            throw new ArgumentException($"Unknown preset '{preset}': use short or full.");
        Environment.SetEnvironmentVariable(PresetVariable, preset);
        var job = preset == "short"
            ? Job.ShortRun.WithToolchain(InProcessEmitToolchain.Instance).WithWarmupCount(3).WithIterationCount(5).WithLaunchCount(1)
            : Job.Default;
        return ManualConfig.CreateEmpty()
            .AddJob(job.WithEnvironmentVariable(PresetVariable, preset))
            .AddDiagnoser(MemoryDiagnoser.Default)
            .AddColumnProvider(DefaultColumnProviders.Instance)
            .AddColumn(new ThroughputColumn(), CategoriesColumn.Default)
            .AddLogger(BenchmarkDotNet.Loggers.ConsoleLogger.Default)
            .AddExporter(BenchmarkDotNet.Exporters.MarkdownExporter.GitHub)
            .WithSummaryStyle(SummaryStyle.Default.WithTimeUnit(TimeUnit.Microsecond))
            .AddLogicalGroupRules(BenchmarkLogicalGroupRule.ByCategory, BenchmarkLogicalGroupRule.ByParams)
            .WithOptions(ConfigOptions.JoinSummary);
    }
}
