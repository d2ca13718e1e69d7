using BenchmarkDotNet.Attributes;
using Gpu.Bench.Baselines;
using Gpu.Runtime;

namespace Gpu.Bench.Suites;

/// <summary>
/// Memory-bound kernels in GB/s: ReLU (8 bytes per element), MSE reduced on the device (8), and
/// Adam (28 bytes per parameter: reads p, g, m, v, writes p, m, v) fused in one launch against the
/// same update as four unfused ILGPU kernel launches and against a C# loop. "Ours" is the device's
/// own path: host SIMD code on "cpu", ILGPU kernels on "cpu-kernels" and "cuda". On an H200 the bandwidth limit is
/// about 4.8 TB/s (vendor) / 4.3 TB/s measured.
/// </summary>
public class ElementwiseBenchmarks : IHasWork, IDisposable
{
    private float[] x = [], y = [], z = [], m = [], v = [];
    private Device? device;
    private Tensor? tx, ty, tz, tm, tv, loss;
    private UnfusedAdam? unfused;
    private int step;

    public static IEnumerable<int> Sizes() => BenchConfig.IsFull ? [1 << 16, 1 << 20, 1 << 24] : [1 << 16, 1 << 20];

    [ParamsSource(nameof(Sizes))]
    public int N { get; set; } = 1 << 20;

    [ParamsSource(nameof(Devices))]
    public string DeviceName { get; set; } = "cpu";

    public static IEnumerable<string> Devices() => BenchDevices.Available();

    public (double Amount, string Unit) Work(string method) => (method.StartsWith("Adam", StringComparison.Ordinal) ? 28.0 * N : 8.0 * N, "GB/s");

    [GlobalSetup]
    public void Setup()
    {
        var random = new Random(2);
        x = [.. Enumerable.Range(0, N).Select(_ => (float)random.NextDouble() - 0.5f)];
        y = [.. Enumerable.Range(0, N).Select(_ => (float)random.NextDouble() - 0.5f)];
        z = new float[N];
        m = new float[N];
        v = new float[N];
        device = BenchDevices.Open(DeviceName);
        tx = device.FromArray(x, N);
        ty = device.FromArray(y, N);
        tz = device.Zeros(N);
        tm = device.Zeros(N);
        tv = device.Zeros(N);
        loss = device.Zeros();
        unfused = new UnfusedAdam(device, N);
        device.CompileKernels();
    }

    [Benchmark(Baseline = true), BenchmarkCategory("ReLU")]
    public void ReluCSharp() => HostReference.Relu(x, z);

    [Benchmark, BenchmarkCategory("ReLU")]
    public void ReluOurs()
    {
        Ops.Relu(tx!, tz!);
        device!.Synchronize();
    }

    [Benchmark(Baseline = true), BenchmarkCategory("MSE")]
    public float MseCSharp() => HostReference.Mse(x, y);

    [Benchmark, BenchmarkCategory("MSE")]
    public void MseOurs()
    {
        Ops.MseLoss(tx!, ty!, loss!);
        device!.Synchronize();
    }

    [Benchmark(Baseline = true), BenchmarkCategory("Adam")]
    public void AdamCSharp() => HostReference.Adam(z, y, m, v, 1e-3f, 0.9f, 0.999f, 1e-8f, ++step);

    [Benchmark, BenchmarkCategory("Adam")]
    public void AdamUnfusedKernels()
    {
        unfused!.Step(tz!, ty!, tm!, tv!, ++step);
        device!.Synchronize();
    }

    [Benchmark, BenchmarkCategory("Adam")]
    public void AdamFusedOurs()
    {
        Ops.AdamStep(tz!, ty!, tm!, tv!, null, ++step, new AdamSettings(1e-3, 0.9, 0.999, 1e-8, 0, false, false));
        device!.Synchronize();
    }

    [GlobalCleanup]
    public void Dispose()
    {
        unfused?.Dispose();
        foreach (var t in new[] { loss, tv, tm, tz, ty, tx })
            t?.Dispose();
        device?.Dispose();
        GC.SuppressFinalize(this);
    }
}
