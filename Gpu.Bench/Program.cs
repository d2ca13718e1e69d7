using BenchmarkDotNet.Running;
using Gpu.Bench;
using Gpu.Bench.Quick;
using Gpu.Runtime;

// `quick [--device D | --device cpu-kernels] [--large] [--report PATH]`: the under-a-minute table.
// Anything else goes to BenchmarkDotNet: `--preset short|full`, plus its own flags (e.g. --filter *MatMul*).
if (args.Length > 0 && args[0] == "quick")
{
    string? deviceName = Value(args, "--device");
    string? report = Value(args, "--report");
    using var device = BenchDevices.Open(deviceName ?? Environment.GetEnvironmentVariable(Device.EnvironmentVariable) ?? "auto");
    device.CompileKernels();
    var quick = new QuickBenchmark(device, Console.Out);
    quick.Run(large: args.Contains("--large"));
    if (report is not null)
    {
        quick.WriteJson(report);
        Console.WriteLine($"Wrote {report}");
    }

    return 0;
}

// `observe [--rounds N]`: what the op profiler and TensorBoard logging cost a training run.
if (args.Length > 0 && args[0] == "observe")
    return Gpu.Bench.Quick.ObservabilityCost.Run(Console.Out, Value(args, "--rounds") is { } r ? int.Parse(r, System.Globalization.CultureInfo.InvariantCulture) : 9);

// `ptx --out DIR`: every kernel's PTX, for scripts/ptxas-check.sh.
if (args.Length > 0 && args[0] == "ptx")
{
    string folder = Value(args, "--out") ?? "ptx";
    var files = PtxCompiler.WriteAll(folder);
    Console.Error.WriteLine($"wrote {files.Count} kernels' PTX to {folder}");
    return 0;
}

// `write-csv PATH [--rows N] [--features F] [--seed S]`: the seeded CSV of the data benchmarks.
if (args.Length > 1 && args[0] == "write-csv")
{
    int Int(string flag, int fallback) => Value(args, flag) is { } v ? int.Parse(v, System.Globalization.CultureInfo.InvariantCulture) : fallback;
    return Gpu.Bench.Data.CsvWriter.Run(args[1], Int("--rows", 2_000_000), Int("--features", 20), Int("--seed", 0));
}

// `to-parquet CSV PARQUET [--row-group N]`: the same data as Parquet; `load PATH [--repeat N]`: the loader's speed.
if (args.Length > 2 && args[0] == "to-parquet")
    return Gpu.Bench.Data.ParquetConverter.Run(args[1], args[2], Value(args, "--row-group") is { } g ? int.Parse(g, System.Globalization.CultureInfo.InvariantCulture) : 1_000_000);
if (args.Length > 1 && args[0] == "load")
    return Gpu.Bench.Data.LoadBenchmark.Run(args[1], Value(args, "--repeat") is { } n ? int.Parse(n, System.Globalization.CultureInfo.InvariantCulture) : 5);

// `openblas [--threads N] [SIZE | MxNxK ...]`: our GEMM against OpenBLAS's, call batch by call batch in one process.
if (args.Length > 0 && args[0] == "openblas")
{
    int threads = Value(args, "--threads") is { } t ? int.Parse(t, System.Globalization.CultureInfo.InvariantCulture) : Environment.ProcessorCount;
    return Gpu.Bench.Baselines.OpenBlasPairs.Run(Without(args[1..], "--threads"), threads);
}

// `distributed`: all-reduce times and a compute-heavy model; run it under mpirun -np N, and alone for the baseline.
if (args.Length > 0 && args[0] == "distributed")
    return Gpu.Bench.Distributed.DistributedBenchmark.Run(Console.Out);

string preset = Value(args, "--preset") ?? "short";
var rest = Without(args, "--preset");
BenchmarkSwitcher.FromAssembly(typeof(BenchConfig).Assembly).Run(rest, BenchConfig.Create(preset));
return 0;

static string? Value(string[] args, string flag)
{
    int i = Array.IndexOf(args, flag);
    return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
}

static string[] Without(string[] args, string flag)
{
    int i = Array.IndexOf(args, flag);
    return i < 0 ? args : [.. args[..i], .. args[Math.Min(i + 2, args.Length)..]];
}
