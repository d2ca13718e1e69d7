using BenchmarkDotNet.Attributes;
using Gpu.Runtime;
using Gpu.Training;

namespace Gpu.Bench.Suites;

/// <summary>
/// One full training step (ZeroGrad, forward, MSE, backward, fused Adam) of the reference example
/// (10-20-1, batch 100) and of a larger MLP (1024-1024-1, batch 1024; full preset or a GPU), per
/// accelerator, in GFLOP/s of the step's matrix work.
/// </summary>
[BenchmarkCategory("TrainingStep")]
public class TrainingStepBenchmarks : IHasWork, IDisposable
{
    private Device? device;
    private Sequential? model;
    private MSELoss? loss;
    private Adam? optimizer;
    private Tensor? x, y;

    public static IEnumerable<string> Models() =>
        BenchConfig.IsFull || BenchDevices.Available().Contains("cuda") ? ["10-20-1 b100", "1024-1024-1 b1024"] : ["10-20-1 b100"];

    [ParamsSource(nameof(Models))]
    public string Model { get; set; } = "10-20-1 b100";

    [ParamsSource(nameof(Devices))]
    public string DeviceName { get; set; } = "cpu";

    public static IEnumerable<string> Devices() => BenchDevices.Available();

    private (int Inputs, int Hidden, int Batch) Shape => Model.StartsWith("1024", StringComparison.Ordinal) ? (1024, 1024, 1024) : (10, 20, 100);

    public (double Amount, string Unit) Work(string method)
    {
        var (inputs, hidden, batch) = Shape;
        using var model = Sequential.Mlp(inputs, [hidden], 1);
        return ((double)model.Flops(training: true) * batch, "GFLOP/s");
    }

    [GlobalSetup]
    public void Setup()
    {
        var (inputs, hidden, batch) = Shape;
        device = BenchDevices.Open(DeviceName);
        device.CompileKernels();
        model = Sequential.Mlp(inputs, [hidden], 1).To(device, 0);
        loss = new MSELoss();
        optimizer = new Adam(model.Parameters());
        var data = Dataset.Synthetic(batch, inputs, 1, 0);
        x = device.FromArray(data.Features, batch, inputs);
        y = device.FromArray(data.Targets, batch, 1);
        Step();
    }

    [Benchmark]
    public void Step()
    {
        optimizer!.ZeroGrad();
        loss!.Forward(model!.Forward(x!), y!);
        model.Backward(loss.Backward());
        optimizer.Step();
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
}
