using BenchmarkDotNet.Attributes;
using Gpu.Runtime;
using Gpu.Training;

namespace Gpu.Bench.Suites;

/// <summary>
/// Conv2d forward and backward (input gradient included) on a batch of 64 images, 3x3 kernel,
/// padding 1: 3x32x32 -> 32 channels and 32x16x16 -> 64, and one training step of the digits CNN
/// (batch 32), per accelerator, in GFLOP/s. PyTorch's numbers for the same workloads come from
/// Gpu.Bench/pytorch_bench.py (docs/benchmarks.md).
/// </summary>
[BenchmarkCategory("Convolution")]
public class ConvolutionBenchmarks : IHasWork, IDisposable
{
    private const string DigitsCnn = "conv(16,3,padding=1),relu,maxpool(2),conv(32,3,padding=1),relu,maxpool(2),flatten,linear(64),relu,dropout(0.2),linear(10)";

    private Device? device;
    private Sequential? model;
    private CrossEntropyLoss? loss;
    private Adam? optimizer;
    private Tensor? x, y;

    [Params("3x32x32->32", "32x16x16->64", "digits cnn step")]
    public string Workload { get; set; } = "3x32x32->32";

    [ParamsSource(nameof(Devices))]
    public string DeviceName { get; set; } = "cpu";

    public static IEnumerable<string> Devices() => BenchDevices.Available();

    private bool IsStep => Workload.StartsWith("digits", StringComparison.Ordinal);

    private int Batch => IsStep ? 32 : 64;

    public (double Amount, string Unit) Work(string method)
    {
        using var m = Build();
        return ((double)m.Flops(training: true) * Batch, "GFLOP/s");
    }

    [GlobalSetup]
    public void Setup()
    {
        device = BenchDevices.Open(DeviceName);
        device.CompileKernels();
        model = Build().To(device, 0);
        var random = new Random(1);
        var sample = model.InputShape.ToArray();
        x = device.FromArray(Values(random, Batch * model.InputFeatures), [Batch, .. sample]);
        if (IsStep)
        {
            loss = new CrossEntropyLoss();
            optimizer = new Adam(model.Parameters());
            y = device.FromArray(Enumerable.Range(0, Batch).Select(i => (float)(i % 10)).ToArray(), Batch, 1);
        }
        else
        {
            y = device.FromArray(Values(random, Batch * model.OutputFeaturesCount), [Batch, .. model.OutputShape.ToArray()]);
        }

        Run();
    }

    [Benchmark]
    public void Run()
    {
        if (IsStep)
        {
            optimizer!.ZeroGrad();
            loss!.Forward(model!.Forward(x!), y!);
            model.Backward(loss.Backward());
            optimizer.Step();
        }
        else
        {
            model!.Parameters().ZeroGrad();
            model.Forward(x!);
            model.Backward(y!);
        }

        device!.Synchronize();
    }

    [GlobalCleanup]
    public void Dispose()
    {
        y?.Dispose();
        x?.Dispose();
        optimizer?.Dispose();
        loss?.Dispose();
        model?.Dispose();
        device?.Dispose();
        GC.SuppressFinalize(this);
    }

    private Sequential Build() => Workload switch
    {
        "3x32x32->32" => new Sequential(new TensorShape(3, 32, 32), new Conv2d(3, 32, 3, padding: 1)) { InputRequiresGrad = true },
        "32x16x16->64" => new Sequential(new TensorShape(32, 16, 16), new Conv2d(32, 64, 3, padding: 1)) { InputRequiresGrad = true },
        _ => Architecture.Parse(DigitsCnn, new TensorShape(1, 8, 8)),
    };

    private static float[] Values(Random random, int count) => [.. Enumerable.Range(0, count).Select(_ => (float)(random.NextDouble() * 2 - 1))];
}
